"""Rule sets and their history are durable in the journal's database: after
SIGKILL the versions, the active one (deciding again) and the history a
rollback reads are all back; a journal naming a version the store lacks
stops start-up."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from holdfast.client import OperationsClient, Rejected
from holdfast.store import schema
from holdfast.v1 import inventory_pb2
from holdfast.v1 import operations_pb2 as pb
from rules_support import RulesServer, operator, rule_set
from serverproc import serve_command

Stock = Callable[[OperationsClient, str, str, int], inventory_pb2.StockResponse]


def test_the_active_version_decides_after_sigkill(tmp_path: Path, stock: Stock) -> None:
    server = RulesServer(tmp_path).start()
    try:
        with operator(server) as ops:
            stock(ops, "MUG", "W1", 10)
            ops.deploy_rule_set(rule_set("loose", cap=100), comment="loose")
            ops.deploy_rule_set(rule_set("tight", cap=2), comment="tight")
            ops.activate_rule_set("loose", reason="first")
            ops.activate_rule_set("tight", reason="second")
            ops.reserve([("MUG", "W1", 2)], channel="marketplace")
        server.kill()
        server.start()
        with operator(server) as ops:
            listed = ops.list_rule_sets()
            assert listed.active_version == "tight"
            assert [(v.version, v.state) for v in listed.versions] == [
                ("tight", pb.ACTIVE),
                ("loose", pb.DEPLOYED),
                ("builtin-1", pb.DEPLOYED),
            ]
            assert ops.get_rule_set("tight").text == rule_set("tight", cap=2)
            with pytest.raises(Rejected) as capped:
                ops.reserve([("MUG", "W1", 1)], channel="marketplace")
            assert capped.value.reason == "CHANNEL_CAP_REACHED"
            # The history survived too: the version active before "tight".
            assert ops.rollback_rule_set(reason="after restart").version == "loose"
            held = ops.reserve([("MUG", "W1", 1)], channel="marketplace")
            assert held.decision.rule_version == "loose"
        server.kill()
        server.start()
        with operator(server) as ops:
            assert ops.list_rule_sets().active_version == "loose"
            assert ops.reserve([("MUG", "W1", 1)], channel="marketplace").decision.rule_version == (
                "loose"
            )
    finally:
        server.stop()


def test_a_journal_naming_a_version_the_store_lacks_stops_start_up(tmp_path: Path) -> None:
    server = RulesServer(tmp_path).start()
    with operator(server) as ops:
        ops.deploy_rule_set(rule_set("gone", cap=1), comment="about to be lost")
        ops.activate_rule_set("gone", reason="active")
    assert server.stop() == 0
    with contextlib.closing(sqlite3.connect(server.database, isolation_level=None)) as conn:
        conn.execute("DELETE FROM rule_sets")
    server.launch(server_command(server))
    assert server.wait() == 1
    logged = server.log_since_start()
    assert "'gone' is active" in logged
    assert "rule store has no such version" in logged


def server_command(server: RulesServer) -> list[str]:
    return serve_command("--listen", server.target, "--database", str(server.database))


def test_a_version_2_database_gains_the_rule_store(tmp_path: Path, stock: Stock) -> None:
    server = RulesServer(tmp_path).start()
    with operator(server) as ops:
        stock(ops, "MUG", "W1", 4)
    assert server.stop() == 0
    with contextlib.closing(sqlite3.connect(server.database, isolation_level=None)) as conn:
        conn.execute("DROP TABLE rule_sets")
        conn.execute("DROP TABLE rule_activations")
        conn.execute("PRAGMA user_version = 2")
    server.start()
    try:
        with operator(server) as ops:
            assert ops.get_availability(["MUG"]).positions[0].on_hand == 4
            ops.deploy_rule_set(rule_set("after-migration"), comment="works")
        with contextlib.closing(sqlite3.connect(server.database)) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
    finally:
        assert server.stop() == 0


def test_in_memory_rule_sets_work_for_the_process(tmp_path: Path, stock: Stock) -> None:
    server = RulesServer(tmp_path, "--in-memory").start()
    try:
        with operator(server) as ops:
            stock(ops, "MUG", "W1", 4)
            ops.deploy_rule_set(rule_set("mem", cap=1), comment="memory")
            ops.activate_rule_set("mem", reason="try")
            ops.reserve([("MUG", "W1", 1)], channel="marketplace")
            with pytest.raises(Rejected):
                ops.reserve([("MUG", "W1", 1)], channel="marketplace")
    finally:
        assert server.stop() == 0
