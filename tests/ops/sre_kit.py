"""The SRE kit's files (deploy/, the metrics doc) and the helpers that read
them: promtool, the metric names a PromQL expression reads, the queries of the
Grafana dashboard."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCRAPE_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES = DEPLOY / "prometheus" / "holdfast-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "holdfast-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "holdfast-dashboard.json"
RUNBOOK = DEPLOY / "RUNBOOK.md"
METRICS_DOC = ROOT / "docs" / "metrics.md"

# A documented metric row: | `holdfast_name` | type | labels | ...
DOC_ROW = re.compile(r"^\|\s*`(holdfast_[a-z0-9_]+)`\s*\|\s*([a-z]+)[^|]*\|([^|]*)\|", re.MULTILINE)
# Series a histogram exposes besides its name.
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
# PromQL words that look like identifiers but are not metric names.
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "inf", "nan",
}  # fmt: skip


def tool(name: str) -> str:
    """A binary of Debian's prometheus package (``make test`` installs it)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed; it comes with Debian's prometheus package: "
            "sudo apt-get install -y prometheus (then stop the prometheus server it may start)"
        )
    return path


def run_promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """promtool ARGS, which must succeed; its output."""
    done = subprocess.run(
        [tool("promtool"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def documented() -> dict[str, tuple[str, set[str]]]:
    """Each metric docs/metrics.md lists: its type and its label names."""
    rows = DOC_ROW.findall(METRICS_DOC.read_text())
    assert rows, f"no metric rows found in {METRICS_DOC}"
    found = {}
    for name, kind, labels in rows:
        names = {label.strip() for label in labels.split(",")} - {"", "—", "-"}
        found[name] = (kind, names)
    return found


def documented_series() -> set[str]:
    """Every series name docs/metrics.md says holdfast exports."""
    names = set()
    for name, (kind, _) in documented().items():
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


def family_of(series: str) -> str:
    """The metric a series belongs to: holdfast_x_total, _bucket, _sum, _count, _created -> x."""
    return re.sub(r"_(total|bucket|sum|count|created)$", "", series)
