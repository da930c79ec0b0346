"""The deployed rule set still decides after a failed commit.

A failed commit drops the engine (it holds decisions that will never be
durable) and rebuilds one from the journal; the journal names the active
version only, so the ledger installs that version's body from the rule
store into the rebuilt engine. Here the active version caps the marketplace
channel at two units and a candidate without the cap is shadowed: the
journal is made to fail (the test holds SQLite's write lock past
--journal-timeout-seconds) during the second marketplace hold, then let
recover. Afterwards the cap still refuses the third unit (CHANNEL_CAP_REACHED,
under the deployed version: the lost hold was never durable, so the second
unit is held again first), and the shadow compares every decision after the
rebuild as before it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest
from holdfast.client import OperationsClient, Rejected
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc
from polling import until
from rules_support import RulesServer, rule_set, unique

TENANT = (("x-holdfast-tenant", "rebuild"),)


def marketplace(key: str) -> pb.ReserveRequest:
    return pb.ReserveRequest(
        idempotency_key=key,
        order_ref=key,
        channel="marketplace",
        lines=[pb.LineRequest(sku="MUG", location="W1", quantity=1)],
    )


def recovered(server: RulesServer) -> bool | None:
    """Whether the journal's writer said it recovered (None: not yet)."""
    said = (record.get("msg", "") for record in server.log_records())
    return any(message.startswith("journal recovered") for message in said) or None


def test_the_active_version_and_the_shadow_survive_a_rebuild(tmp_path: Path) -> None:
    server = RulesServer(
        tmp_path, "--journal-timeout-seconds", "0.3", "--journal-probe-seconds", "0.1"
    ).start()
    capped, loose = unique("capped"), unique("loose")
    try:
        with (
            OperationsClient(server.target, tenant="rebuild", actor="ops-ana") as ops,
            grpc.insecure_channel(server.target) as channel,
        ):
            inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
            ops.set_stock("MUG", "W1", 100, source_sequence=1)
            ops.deploy_rule_set(rule_set(capped, cap=2), comment="marketplace cap")
            ops.deploy_rule_set(rule_set(loose, cap=100), comment="a looser cap")
            ops.activate_rule_set(capped, reason="cap the marketplace")
            ops.start_shadow(loose, reason="what would the looser cap allow?")

            first = inventory.Reserve(marketplace(unique("first")), metadata=TENANT)
            assert first.decision.rule_version == capped
            assert ops.get_shadow_report().decisions_compared == 1

            # The second unit's commit waits for the lock past the timeout: the
            # call is refused and its hold is lost with the engine.
            lost = unique("lost")
            lock = sqlite3.connect(server.database, timeout=30, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            try:
                with pytest.raises(grpc.RpcError) as failed:
                    inventory.Reserve(marketplace(lost), metadata=TENANT, timeout=30)
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE, failed.value
            until(lambda: recovered(server), "the journal to recover")

            # The engine is rebuilt from what is durable, under the deployed version.
            again = inventory.Reserve(marketplace(lost), metadata=TENANT)
            assert not again.decision.replayed  # never durable: decided anew
            assert again.decision.rule_version == capped
            with pytest.raises(Rejected) as refused:
                ops.reserve([("MUG", "W1", 1)], channel="marketplace")
            assert refused.value.reason == "CHANNEL_CAP_REACHED"
            assert refused.value.facts["cap"] == "2"
            assert ops.reserve([("MUG", "W1", 1)], channel="web").decision.rule_version == capped

            # The shadow went on: the refused call was decided (and compared)
            # before its commit failed; the three decisions after the rebuild
            # are compared, and the cap's refusal is the one divergence.
            report = ops.get_shadow_report()
            assert (report.candidate_version, report.active_version) == (loose, capped)
            assert report.decisions_compared == 1 + 1 + 3
            assert {d.kind: d.count for d in report.divergences}["outcome"] == 1
            assert [(s.kind, s.active_reason, s.candidate_reason) for s in report.samples] == [
                ("outcome", "CHANNEL_CAP_REACHED", "RESERVED")
            ]
    finally:
        code = server.stop()
    assert code == 0, f"server did not drain cleanly ({code}):\n{server.log_text()}"
