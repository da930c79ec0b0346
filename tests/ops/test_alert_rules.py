"""The SRE kit in deploy/: the scrape config and the alert rules load, the
rules pass their promtool unit tests, every alert is complete and has its
runbook section, and the rules and the dashboard use only metrics holdfast
exports (docs/metrics.md is the list; tests/ops/test_live_scrape.py checks
the dashboard against a live scrape too)."""

from __future__ import annotations

import json
import re

import pytest
from sre_kit import (
    DASHBOARD,
    RULE_TESTS,
    RULES,
    RUNBOOK,
    SCRAPE_CONFIG,
    dashboard_exprs,
    documented,
    documented_series,
    metric_names,
    run_promtool,
)

# The alerts the issue asks for, by what they watch.
REQUIRED_ALERTS = {
    "HoldfastCircuitBreakerOpen",
    "HoldfastRpcErrorRatioHigh",
    "HoldfastRpcLatencyP99High",
    "HoldfastCommitQueueNearLimit",
    "HoldfastOverloaded",
    "HoldfastOvercommittedTooLong",
    "HoldfastHoldExpiryBacklog",
    "HoldfastAuditDifferences",
}


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


def test_rules_pass_promtool_check() -> None:
    run_promtool("check", "rules", str(RULES))


def test_scrape_config_passes_promtool_check() -> None:
    # Also loads the rule files it names (relative to the config).
    done = run_promtool("check", "config", str(SCRAPE_CONFIG))
    assert "holdfast-alerts.yml" in done.stdout, done.stdout


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
        assert url == f"deploy/RUNBOOK.md#{name.lower()}", f"{name}: runbook_url {url}"
        assert name.lower() in anchors, f"deploy/RUNBOOK.md has no section {name}"


def test_the_issues_alerts_are_there_and_each_is_unit_tested_both_ways() -> None:
    """Each alert has a promtool test case where it fires and one where it does not."""
    names = {rule["alert"] for rule in alert_rules()}
    assert names >= REQUIRED_ALERTS, f"missing alerts: {sorted(REQUIRED_ALERTS - names)}"
    cases = re.findall(r"alertname:\s*(\S+)\s*\n\s*exp_alerts:\s*(\[\])?", RULE_TESTS.read_text())
    fires = {name for name, empty in cases if not empty}
    quiet = {name for name, empty in cases if empty}
    assert names <= fires, f"never fired in a unit test: {sorted(names - fires)}"
    assert names <= quiet, f"never shown quiet in a unit test: {sorted(names - quiet)}"


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
    assert set(documented()) <= shown, f"not on the dashboard: {sorted(set(documented()) - shown)}"


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
