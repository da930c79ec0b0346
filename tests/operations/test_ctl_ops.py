"""`holdfast ctl` operator commands end to end: real subprocesses against the
real server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from holdfast.client import Client, OperationsClient
from holdfast.v1 import inventory_pb2 as pb
from operations_support import OpsServer, run_ctl, unique

Stock = Callable[[str, str, int], pb.StockResponse]


def test_breakers_list_force_disable_reset(server: OpsServer, ops: OperationsClient) -> None:
    listed = run_ctl(server.target, "breakers", "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == [
        "journal",
        "events",
        "feasibility",
    ]
    for command, state in (("force", "FORCED_OPEN"), ("disable", "DISABLED"), ("reset", "CLOSED")):
        done = run_ctl(server.target, "breakers", command, "events", "--reason", f"ctl {command}")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[1].split()[:2] == ["events", state]
    logged = ops.list_operator_actions(page_size=1).actions[0]
    assert (logged.actor, logged.action, logged.reason) == (
        "ops-alice",
        "breaker.reset",
        "ctl reset",
    )

    as_json = run_ctl(server.target, "breakers", "list", "--json")
    assert {b["name"] for b in json.loads(as_json.stdout)["breakers"]} == {
        "journal",
        "events",
        "feasibility",
    }


def test_refusals_exit_2_and_name_the_field(server: OpsServer) -> None:
    unknown = run_ctl(server.target, "breakers", "force", "redis", "--reason", "r")
    assert unknown.returncode == 2
    assert "name" in unknown.stderr
    assert "feasibility" in unknown.stderr
    anonymous = run_ctl(
        server.target, "breakers", "force", "events", "--reason", "r", actor="anonymous"
    )
    assert anonymous.returncode == 2
    assert "actor" in anonymous.stderr
    no_reason = run_ctl(server.target, "breakers", "force", "events")
    assert no_reason.returncode == 2  # argparse: --reason is required
    listed = run_ctl(server.target, "operator-log", "--limit", "1001")
    assert listed.returncode == 2
    assert "page_size" in listed.stderr


def test_audit_exits_0_when_consistent(server: OpsServer) -> None:
    done = run_ctl(server.target, "audit")
    assert done.returncode == 0, done.stderr
    assert "0 difference(s)" in done.stdout


def test_override_release_and_adjust_then_the_log(
    server: OpsServer, shop: Client, stock: Stock, tenant: str
) -> None:
    sku = unique("SKU")
    stock(sku, "W1", 10)
    reservation_id = shop.reserve([(sku, "W1", 2)]).reservation.reservation_id

    released = run_ctl(
        server.target,
        "override",
        "release",
        reservation_id,
        "--tenant",
        tenant,
        "--reason",
        "customer called",
    )
    assert released.returncode == 0, released.stderr
    assert "RELEASED" in released.stdout
    history = shop.get_reservation(reservation_id).history
    assert (history[-1].action, history[-1].actor) == ("release", "ops-alice")

    no_tenant = run_ctl(server.target, "override", "release", reservation_id, "--reason", "r")
    assert no_tenant.returncode == 2
    assert "--tenant" in no_tenant.stderr

    adjusted = run_ctl(
        server.target, "override", "adjust", sku, "W1", "-4", "--reason", "broken", "--json"
    )
    assert adjusted.returncode == 0, adjusted.stderr
    assert json.loads(adjusted.stdout)["position"]["onHand"] == "6"

    log = run_ctl(server.target, "operator-log", "--limit", "2")
    assert log.returncode == 0, log.stderr
    rows = log.stdout.splitlines()[1:]
    assert [row.split()[2] for row in rows] == ["override.adjust", "override.release"]
    assert "broken" in rows[0]
    assert "STOCK_ADJUSTED" in rows[0]
    assert reservation_id in rows[1]
    assert "customer called" in rows[1]


def _counts(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_reconcile_shows_differences_and_applies_them_only_when_asked(
    server: OpsServer, shop: Client, stock: Stock, tmp_path: Path
) -> None:
    a, b, c = unique("A"), unique("B"), unique("C")
    stock(a, "W1", 10)
    stock(b, "W1", 5)
    stock(c, "W1", 7)
    counts = _counts(
        tmp_path / "counts.csv",
        f"sku,location,on_hand\n{a},W1,12\n{b},W1,5\n\n{c},W1,3\n",
    )

    shown = run_ctl(server.target, "reconcile", counts)
    assert shown.returncode == 1, shown.stderr  # differences left for a person
    assert "3 count(s), 2 difference(s), none applied" in shown.stdout
    rows = {line.split()[1]: line.split() for line in shown.stdout.splitlines() if "W1" in line}
    assert rows[a][:6] == ["2", a, "W1", "10", "12", "2"]
    assert rows[c][:6] == ["5", c, "W1", "7", "3", "-4"]
    assert b not in rows
    on_hand = {p.sku: p.on_hand for p in shop.get_availability([a, b, c]).positions}
    assert on_hand == {a: 10, b: 5, c: 7}  # nothing applied

    no_reason = run_ctl(server.target, "reconcile", counts, "--apply")
    assert no_reason.returncode == 2
    assert "--reason" in no_reason.stderr

    applied = run_ctl(
        server.target, "reconcile", counts, "--apply", "--reason", "cycle count 14", "--json"
    )
    assert applied.returncode == 0, applied.stderr
    answer = json.loads(applied.stdout)
    assert [(d["sku"], d["delta"], d["applied"]) for d in answer["differences"]] == [
        (a, 2, "STOCK_ADJUSTED"),
        (c, -4, "STOCK_ADJUSTED"),
    ]
    on_hand = {p.sku: p.on_hand for p in shop.get_availability([a, b, c]).positions}
    assert on_hand == {a: 12, b: 5, c: 3}

    again = run_ctl(server.target, "reconcile", counts)
    assert again.returncode == 0, again.stderr
    assert "0 difference(s)" in again.stdout

    with OperationsClient(server.target) as reader:
        logged = reader.list_operator_actions(page_size=2).actions
    assert [(x.action, x.target, x.reason) for x in logged] == [
        ("override.adjust", f"{c}@W1", "cycle count 14"),
        ("override.adjust", f"{a}@W1", "cycle count 14"),
    ]


def test_reconcile_names_every_bad_line(server: OpsServer, tmp_path: Path) -> None:
    counts = _counts(
        tmp_path / "bad.csv",
        "sku,location,on_hand\nA,W1,3\n,W1,2\nB,W1,-1\nC,W1,x\nA,W1,4\nD,W1\n",
    )
    refused = run_ctl(server.target, "reconcile", counts, "--apply", "--reason", "r")
    assert refused.returncode == 2
    for expected in (
        "line 3: sku is empty",
        "line 4: on_hand '-1'",
        "line 5: on_hand 'x'",
        "line 6: A@W1 is already counted on line 2",
        "line 7: 2 columns",
    ):
        assert expected in refused.stderr, (expected, refused.stderr)

    header = _counts(tmp_path / "header.csv", "sku,qty\nA,1\n")
    refused = run_ctl(server.target, "reconcile", header)
    assert refused.returncode == 2
    assert "line 1" in refused.stderr
    assert "location, on_hand" in refused.stderr

    missing = run_ctl(server.target, "reconcile", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2
    assert "nope.csv" in missing.stderr
