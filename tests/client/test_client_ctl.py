"""``holdfast ctl`` end to end: real subprocesses against the real server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from client_harness import ServerProcess, free_port, run_ctl
from holdfast import ctl


def test_stock_reserve_show_release(server: ServerProcess, tenant: str) -> None:
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    counted = run_ctl(
        server.target, "stock", "set", sku, "W1", "12", "--sequence", "1", tenant=tenant
    )
    assert counted.returncode == 0, counted.stderr
    assert "STOCK_SET" in counted.stdout
    assert sku in counted.stdout

    held = run_ctl(
        server.target,
        "--actor",
        "alice",
        "reserve",
        f"{sku}::3",
        "--order-ref",
        "order-9",
        "--key",
        "cli-key-1",
        "--json",
        tenant=tenant,
    )
    assert held.returncode == 0, held.stderr
    answer = json.loads(held.stdout)
    reservation_id = answer["reservation"]["reservationId"]
    assert answer["decision"]["reason"] == "RESERVED"
    assert answer["reservation"]["lines"][0]["location"] == "W1"

    shown = run_ctl(server.target, "show", reservation_id, tenant=tenant)
    assert shown.returncode == 0, shown.stderr
    for expected in ("RESERVED", "order-9", "history", "hold_placed", "alice", "cli-key-1"):
        assert expected in shown.stdout, (expected, shown.stdout)

    listed = run_ctl(server.target, "stock", "show", "--sku", sku, tenant=tenant)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(sku))
    assert row.split()[2:8] == ["12", "3", "0", "0", "0", "9"]  # on hand .. available

    released = run_ctl(
        server.target,
        "--actor",
        "bob",
        "release",
        reservation_id,
        "--note",
        "changed mind",
        tenant=tenant,
    )
    assert released.returncode == 0, released.stderr
    assert "RELEASED" in released.stdout

    history = run_ctl(server.target, "show", reservation_id, "--json", tenant=tenant)
    shown = json.loads(history.stdout)
    entries = shown["history"]
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("reserve", "alice"),
        ("release", "bob"),
    ]
    assert entries[1]["fromState"] == "LINE_STATE_RESERVED"
    assert entries[1]["toState"] == "LINE_STATE_RELEASED"
    # Beside the reservation, its journaled events as `history --json` prints them.
    listed = json.loads(
        run_ctl(server.target, "history", reservation_id, "--json", tenant=tenant).stdout
    )
    assert shown["events"] == listed["events"]
    assert [e["actor"] for e in shown["events"]] == ["alice", "bob"]


def test_show_has_the_history_rows_of_history(server: ServerProcess, tenant: str) -> None:
    """`show` prints the same history table as `history`, NOTE included: an
    operator's override reason shows in both."""
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    run_ctl(server.target, "stock", "set", sku, "W1", "4", "--sequence", "1", tenant=tenant)
    held = run_ctl(
        server.target, "--actor", "alice", "reserve", f"{sku}:W1:1", "--json", tenant=tenant
    )
    reservation_id = json.loads(held.stdout)["reservation"]["reservationId"]
    overridden = run_ctl(
        server.target,
        "--actor",
        "ops-dana",
        "override",
        "release",
        reservation_id,
        "--reason",
        "customer called",
        tenant=tenant,
    )
    assert overridden.returncode == 0, overridden.stderr

    shown = run_ctl(server.target, "show", reservation_id, tenant=tenant)
    assert shown.returncode == 0, shown.stderr
    history = run_ctl(server.target, "history", reservation_id, tenant=tenant)
    assert history.returncode == 0, history.stderr
    table = shown.stdout.split("\nhistory\n", 1)[1]
    assert table == history.stdout
    header, *rows = table.splitlines()
    assert header.split()[-2:] == ["RULE", "NOTE"]
    assert len(rows) == 2
    assert rows[-1].split()[2:4] == ["lines_moved", "ops-dana"]
    assert rows[-1].endswith("customer called")


def test_adjust_allocate_and_renew(server: ServerProcess, tenant: str) -> None:
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    assert (
        run_ctl(
            server.target,
            "stock",
            "set",
            sku,
            "W1",
            "5",
            "--sequence",
            "3",
            "--as-of",
            "2030-01-02T03:04:05Z",
            tenant=tenant,
        ).returncode
        == 0
    )
    adjusted = run_ctl(
        server.target,
        "stock",
        "adjust",
        sku,
        "W1",
        "2",
        "--reason",
        "receipt",
        "--json",
        tenant=tenant,
    )
    assert adjusted.returncode == 0, adjusted.stderr
    assert json.loads(adjusted.stdout)["position"]["onHand"] == "7"
    held = run_ctl(server.target, "reserve", f"{sku}:W1:4", "--json", tenant=tenant)
    reservation_id = json.loads(held.stdout)["reservation"]["reservationId"]
    renewed = run_ctl(
        server.target, "renew", reservation_id, "--hold-seconds", "600", tenant=tenant
    )
    assert renewed.returncode == 0, renewed.stderr
    assert "HOLD_RENEWED" in renewed.stdout
    allocated = run_ctl(server.target, "allocate", reservation_id, f"{sku}:W1:3", tenant=tenant)
    assert allocated.returncode == 0, allocated.stderr
    assert "ALLOCATED" in allocated.stdout


def test_a_refusal_exits_1_with_one_clear_line(server: ServerProcess, tenant: str) -> None:
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    run_ctl(server.target, "stock", "set", sku, "W1", "2", "--sequence", "1", tenant=tenant)
    refused = run_ctl(server.target, "reserve", f"{sku}:W1:5", tenant=tenant)
    assert refused.returncode == 1
    assert refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "INSUFFICIENT_STOCK" in lines[0]
    assert "available=2" in lines[0]
    assert "requested=5" in lines[0]

    as_json = run_ctl(server.target, "--json", "reserve", f"{sku}:W1:5", tenant=tenant)
    assert as_json.returncode == 1
    error = json.loads(as_json.stderr)
    assert error["reason"] == "INSUFFICIENT_STOCK"
    assert error["facts"]["available"] == "2"

    missing = run_ctl(server.target, "show", str(uuid.uuid4()), tenant=tenant)
    assert missing.returncode == 1
    assert "RESERVATION_NOT_FOUND" in missing.stderr


def test_show_on_a_server_in_memory_says_why_it_has_no_history(tmp_path: Path) -> None:
    """Without a journal there are no events to show: the reservation is
    shown, and the history's absence is explained, not an error."""
    memory = ServerProcess(tmp_path / "memory.log", None, "--in-memory")
    memory.start()
    try:
        memory.wait_serving()
        sku = f"SKU-{uuid.uuid4().hex[:8]}"
        run_ctl(memory.target, "stock", "set", sku, "W1", "2", "--sequence", "1")
        held = run_ctl(memory.target, "reserve", f"{sku}:W1:1", "--json")
        reservation_id = json.loads(held.stdout)["reservation"]["reservationId"]
        shown = run_ctl(memory.target, "show", reservation_id)
    finally:
        assert memory.stop() == 0, memory.log_text()
    assert shown.returncode == 0, shown.stderr
    assert reservation_id in shown.stdout
    assert "history not shown: " in shown.stdout
    assert "runs in memory" in shown.stdout


def test_invalid_arguments_exit_2(server: ServerProcess, tenant: str) -> None:
    usage = run_ctl(server.target, "reserve", "not-a-line", tenant=tenant)
    assert usage.returncode == 2
    assert "SKU:LOCATION:QTY" in usage.stderr
    server_side = run_ctl(server.target, "reserve", "SKU-X:W1:0", tenant=tenant)
    assert server_side.returncode == 2
    assert "lines[0].quantity" in server_side.stderr


def test_an_unreachable_server_exits_3() -> None:
    nobody = f"127.0.0.1:{free_port()}"
    started = run_ctl(nobody, "--timeout", "1", "stock", "show")
    assert started.returncode == 3
    assert "cannot reach holdfast" in started.stderr
    assert nobody in started.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["stock"],
        ["stock", "set"],
        ["stock", "adjust"],
        ["stock", "show"],
        ["reserve"],
        ["allocate"],
        ["release"],
        ["renew"],
        ["show"],
    ],
)
def test_every_command_explains_itself(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert ctl.main([*command, "--help"]) == 0
    assert "usage: holdfast ctl" in capsys.readouterr().out
