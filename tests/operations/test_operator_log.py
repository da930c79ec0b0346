"""ListOperatorActions: newest first, bounded pages, durable across restarts."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from holdfast.client import InvalidArgument, OperationsClient
from holdfast.store import schema
from operations_support import OpsServer


@pytest.mark.parametrize("page_size", [-1, 1001])
def test_a_page_size_out_of_range_is_refused(ops: OperationsClient, page_size: int) -> None:
    with pytest.raises(InvalidArgument) as refused:
        ops.list_operator_actions(page_size=page_size)
    assert refused.value.facts["field"] == "page_size"


def test_pages_are_newest_first_and_default_to_100(ops: OperationsClient) -> None:
    for n in range(3):
        ops.set_circuit_breaker("events", "disable", reason=f"step {n}")
    ops.set_circuit_breaker("events", "reset", reason="done")
    assert [a.reason for a in ops.list_operator_actions(page_size=4).actions] == [
        "done",
        "step 2",
        "step 1",
        "step 0",
    ]
    every = ops.list_operator_actions().actions
    assert 4 <= len(every) <= 100
    stamps = [a.at.ToMilliseconds() for a in every]
    assert stamps == sorted(stamps, reverse=True)


def test_the_log_survives_a_restart(tmp_path: Path) -> None:
    server = OpsServer(tmp_path).start()
    try:
        with OperationsClient(server.target, actor="ops-bob") as ops:
            ops.set_circuit_breaker("feasibility", "force_open", reason="before restart")
        assert server.stop() == 0
        server.start()
        with OperationsClient(server.target, actor="ops-bob") as ops:
            logged = ops.list_operator_actions().actions
            # The breaker itself starts CLOSED again; its record stays.
            states = {b.name: b.state for b in ops.list_circuit_breakers().breakers}
        assert [(a.actor, a.action, a.target, a.reason, a.outcome) for a in logged] == [
            ("ops-bob", "breaker.force_open", "feasibility", "before restart", "OK")
        ]
        assert states["feasibility"] == 1  # CLOSED
    finally:
        server.stop()


def test_in_memory_the_log_is_kept_for_the_process(tmp_path: Path) -> None:
    server = OpsServer(tmp_path, "--in-memory").start()
    try:
        with OperationsClient(server.target, actor="ops-bob") as ops:
            ops.set_circuit_breaker("events", "disable", reason="memory")
            assert [a.reason for a in ops.list_operator_actions().actions] == ["memory"]
    finally:
        assert server.stop() == 0


def test_a_version_1_database_gains_the_log_at_start(tmp_path: Path) -> None:
    server = OpsServer(tmp_path).start()
    with OperationsClient(server.target, actor="ops-bob") as ops:
        ops.set_stock("SKU-1", "W1", 4, source_sequence=1)
    assert server.stop() == 0
    # The database as the previous holdfast left it: no operator log.
    with contextlib.closing(sqlite3.connect(server.database, isolation_level=None)) as conn:
        conn.execute("DROP TABLE operator_actions")
        conn.execute("PRAGMA user_version = 1")
    server.start()
    try:
        with OperationsClient(server.target, actor="ops-bob") as ops:
            assert ops.get_availability(["SKU-1"]).positions[0].on_hand == 4
            ops.set_circuit_breaker("events", "disable", reason="after migration")
            assert [a.reason for a in ops.list_operator_actions().actions] == ["after migration"]
        with contextlib.closing(sqlite3.connect(server.database)) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
    finally:
        assert server.stop() == 0
