"""`holdfast ctl rules` end to end: real ctl subprocesses against a real server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from holdfast.client import OperationsClient
from holdfast.v1 import inventory_pb2
from rules_support import RulesServer, operator, rule_set, run_ctl

Stock = Callable[[OperationsClient, str, str, int], inventory_pb2.StockResponse]


def test_validate_names_each_error_by_file_and_line(fresh: RulesServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('version = "v"\nauthor = ""\n[holds]\nmax_seconds = -1\n')
    checked = run_ctl(fresh.target, "rules", "validate", str(bad))
    assert checked.returncode == 1
    assert checked.stdout.splitlines() == [
        f"{bad}:2: author: must not be empty",
        f"{bad}:4: holds.max_seconds: must be between 1 and 2592000",
    ]
    good = tmp_path / "good.toml"
    good.write_text(rule_set("good"))
    checked = run_ctl(fresh.target, "rules", "validate", str(good))
    assert checked.returncode == 0, checked.stderr
    assert f"{good}: valid, version good" in checked.stdout
    missing = run_ctl(fresh.target, "rules", "validate", str(tmp_path / "none.toml"))
    assert missing.returncode == 2
    assert "none.toml" in missing.stderr


def test_deploy_list_show_diff_shadow_activate_rollback(
    fresh: RulesServer, tmp_path: Path, stock: Stock
) -> None:
    for version, cap in (("one", 100), ("two", 1)):
        path = tmp_path / f"{version}.toml"
        path.write_text(rule_set(version, cap=cap))
        deployed = run_ctl(fresh.target, "rules", "deploy", str(path), "--comment", f"c-{version}")
        assert deployed.returncode == 0, deployed.stderr
        assert "state        DEPLOYED" in deployed.stdout
    no_comment = run_ctl(fresh.target, "rules", "deploy", str(tmp_path / "one.toml"))
    assert no_comment.returncode == 2

    listed = run_ctl(fresh.target, "rules", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split()[:2] for line in listed.stdout.splitlines()[1:]]
    assert rows == [["two", "DEPLOYED"], ["one", "DEPLOYED"], ["builtin-1", "ACTIVE"]]
    as_json = json.loads(run_ctl(fresh.target, "rules", "list", "--json").stdout)
    assert as_json["activeVersion"] == "builtin-1"

    shown = run_ctl(fresh.target, "rules", "show", "two")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.endswith(rule_set("two", cap=1))
    unknown = run_ctl(fresh.target, "rules", "show", "three")
    assert unknown.returncode == 1
    assert "RULE_SET_NOT_FOUND" in unknown.stderr

    diff = run_ctl(fresh.target, "rules", "diff", "one", "two")
    assert diff.returncode == 0, diff.stderr
    assert "-max_units = 100\n+max_units = 1" in diff.stdout

    started = run_ctl(fresh.target, "rules", "shadow", "start", "two", "--reason", "try")
    assert started.returncode == 0, started.stderr
    assert "candidate  two" in started.stdout
    with operator(fresh) as ops:
        stock(ops, "MUG", "W1", 10)
        ops.reserve([("MUG", "W1", 2)], channel="marketplace")
    report = run_ctl(fresh.target, "rules", "shadow", "report")
    assert report.returncode == 0, report.stderr
    assert "compared   2" in report.stdout  # the count and the reserve
    assert "CHANNEL_CAP_REACHED" in report.stdout
    stopped = run_ctl(fresh.target, "rules", "shadow", "stop", "--reason", "done")
    assert stopped.returncode == 0, stopped.stderr

    activated = run_ctl(fresh.target, "rules", "activate", "one", "--reason", "go")
    assert activated.returncode == 0, activated.stderr
    assert "state        ACTIVE" in activated.stdout
    run_ctl(fresh.target, "rules", "activate", "two", "--reason", "tighter")
    rolled = run_ctl(fresh.target, "rules", "rollback", "--reason", "too tight")
    assert rolled.returncode == 0, rolled.stderr
    assert "version      one" in rolled.stdout
    log = run_ctl(fresh.target, "operator-log", "--limit", "7")
    actions = [line.split()[2] for line in log.stdout.splitlines()[1:]]
    assert actions == [
        "rules.rollback",
        "rules.activate",
        "rules.activate",
        "rules.shadow_stop",
        "rules.shadow_start",
        "rules.deploy",
        "rules.deploy",
    ]
