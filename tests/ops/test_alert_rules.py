"""The SRE kit in deploy/: the alert rules load and pass their promtool unit
tests, and the rules and the dashboard use only metrics holdfast exports
(docs/metrics.md is the list)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "holdfast-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "holdfast-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "holdfast-dashboard.json"
METRICS_DOC = ROOT / "docs" / "metrics.md"
RUNBOOK = ROOT / "docs" / "runbook.md"

# A documented metric row: | `holdfast_name` | type | ...
DOC_ROW = re.compile(r"^\|\s*`(holdfast_[a-z0-9_]+)`\s*\|\s*([a-z]+)", re.MULTILINE)
# Series a histogram exposes besides its name.
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
# PromQL words that look like identifiers but are not metric names.
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "inf", "nan",
}  # fmt: skip


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed; it comes with Debian's prometheus package: "
            "sudo apt-get install -y prometheus (then stop the prometheus server it may start)"
        )
    return path


def run_promtool(*args: str) -> None:
    done = subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def documented_series() -> set[str]:
    """Every series name docs/metrics.md says holdfast exports."""
    rows = DOC_ROW.findall(METRICS_DOC.read_text())
    assert rows, f"no metric rows found in {METRICS_DOC}"
    names = set()
    for name, kind in rows:
        names.add(name)
        if kind == "histogram":
            names.update(name + suffix for suffix in HISTOGRAM_SERIES)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or Grafana query) reads.

    Not a parser: strings, label matchers, range selectors, grouping clauses,
    Grafana variables and function names are removed; what is left of the
    identifiers is metrics."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    # Grafana's label_values(metric, label): the label is not a metric.
    text = re.sub(r"label_values\(([^,()]*),\s*\w+\s*\)", r"label_values(\1)", text)
    names = set()
    for found in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = found.group(0)
        if text[found.end() :].lstrip().startswith("("):
            continue  # a function
        if word.lower() in PROMQL_WORDS or re.fullmatch(r"\d+\w*", word):
            continue
        names.add(word)
    return names


def alert_rules() -> list[dict[str, str]]:
    """Each alert's fields, read from the rules file's own layout (no YAML
    library in the environment; promtool has already validated the file):
    ``- alert: NAME`` starts a rule, a field is ``key: value`` or ``key: |``
    / ``key: >-`` followed by more indented lines."""
    rules: list[dict[str, str]] = []
    lines = RULES.read_text().splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        started = re.match(r"^\s*- alert:\s*(\S+)", line)
        if started:
            rules.append({"alert": started.group(1)})
            continue
        field = re.match(r"^(\s*)([a-z_]+):\s*(.*)$", line)
        if not rules or not field or line.lstrip().startswith("#"):
            continue
        indent, key, value = len(field.group(1)), field.group(2), field.group(3)
        if value in ("|", ">-", ">", "|-"):
            block = []
            while index < len(lines) and (
                not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > indent
            ):
                block.append(lines[index].strip())
                index += 1
            value = " ".join(part for part in block if part)
        rules[-1][key] = value.strip().strip('"')
    return rules


def dashboard_exprs(node: Any) -> list[str]:
    """Every query in the dashboard: panel targets and templating queries."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(dashboard_exprs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(dashboard_exprs(item))
    return found


def test_rules_pass_promtool_check() -> None:
    run_promtool("check", "rules", str(RULES))


def test_rules_pass_their_unit_tests() -> None:
    run_promtool("test", "rules", str(RULE_TESTS))


def test_rules_use_only_documented_metrics() -> None:
    known = documented_series()
    rules = alert_rules()
    assert rules
    for rule in rules:
        used = metric_names(rule["expr"])
        assert used, f"{rule['alert']}: no metric found in {rule['expr']!r}"
        assert used <= known, f"{rule['alert']} uses undocumented {sorted(used - known)}"


def test_every_alert_is_complete_and_has_a_runbook_section() -> None:
    anchors = {
        re.sub(r"[^a-z0-9_-]", "", heading.strip().lower().replace(" ", "-"))
        for heading in re.findall(r"^##\s+(.+)$", RUNBOOK.read_text(), re.MULTILINE)
    }
    for rule in alert_rules():
        name = rule["alert"]
        assert rule.get("for"), f"{name} has no for:"
        assert rule.get("severity"), f"{name} has no severity"
        assert rule.get("summary"), f"{name} has no summary"
        assert rule.get("description"), f"{name} has no description"
        url = rule.get("runbook_url")
        assert url == f"docs/runbook.md#{name.lower()}", f"{name}: runbook_url {url}"
        assert name.lower() in anchors, f"docs/runbook.md has no section {name}"


def test_dashboard_parses_and_uses_only_documented_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = dashboard_exprs(dashboard)
    assert len(exprs) > 10, "the dashboard has no queries"
    known = documented_series()
    used: set[str] = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names <= known, f"dashboard query uses undocumented {sorted(names - known)}: {expr}"
        used |= names
    # Every documented metric is on the dashboard (histograms through a series).
    shown = {re.sub(r"_(bucket|sum|count)$", "", name) for name in used} | used
    documented = {name for name, _ in DOC_ROW.findall(METRICS_DOC.read_text())}
    assert documented <= shown, f"not on the dashboard: {sorted(documented - shown)}"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (method) (rate(holdfast_rpc_requests_total{code=~"A|B"}[5m])) > 0.1',
            {"holdfast_rpc_requests_total"},
        ),
        (
            'histogram_quantile(0.9, sum by (le) (rate(x_bucket{i=~"$i"}[$__rate_interval])))',
            {"x_bucket"},
        ),
        ("label_values(holdfast_build_info, instance)", {"holdfast_build_info"}),
        ("up == 0 and on (job) absent(holdfast_build_info)", {"up", "holdfast_build_info"}),
    ],
)
def test_metric_names_are_found(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
