"""Activate, roll back and shadow over a real server of each test's own: the
switch changes decisions (and their recorded version), is audited, and a
rollback returns to the version active before."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from holdfast.client import NotFound, OperationsClient, Rejected
from holdfast.v1 import inventory_pb2
from holdfast.v1 import operations_pb2 as pb
from rules_support import RulesServer, operator, rule_set

Stock = Callable[[OperationsClient, str, str, int], inventory_pb2.StockResponse]


def test_activation_switches_decisions_and_is_audited(fresh: RulesServer, stock: Stock) -> None:
    with operator(fresh) as ops:
        stock(ops, "MUG", "W1", 10)
        before = ops.reserve([("MUG", "W1", 3)], channel="marketplace")
        assert before.decision.rule_version == "builtin-1"
        ops.deploy_rule_set(rule_set("caps-1", cap=4), comment="marketplace cap")

        activated = ops.activate_rule_set("caps-1", reason="sale starts")
        assert activated.state == pb.ACTIVE
        assert activated.HasField("activated_at")

        held = ops.reserve([("MUG", "W1", 1)], channel="marketplace")
        assert held.decision.rule_version == "caps-1"
        with pytest.raises(Rejected) as capped:
            ops.reserve([("MUG", "W1", 1)], channel="marketplace")
        assert capped.value.reason == "CHANNEL_CAP_REACHED"
        assert capped.value.facts["cap"] == "4"
        # Another channel is not capped.
        assert ops.reserve([("MUG", "W1", 1)], channel="web").decision.rule_version == "caps-1"

        listed = ops.list_rule_sets()
        assert listed.active_version == "caps-1"
        assert [(v.version, v.state) for v in listed.versions] == [
            ("caps-1", pb.ACTIVE),
            ("builtin-1", pb.DEPLOYED),  # never stored, always there to go back to
        ]
        # Activating the active version again changes nothing.
        assert ops.activate_rule_set("caps-1", reason="again").activated_at == (
            activated.activated_at
        )

        with pytest.raises(NotFound) as missing:
            ops.activate_rule_set("never-deployed", reason="typo")
        assert missing.value.reason == "RULE_SET_NOT_FOUND"
        logged = ops.list_operator_actions(page_size=4).actions
    assert [(a.actor, a.action, a.target, a.reason, a.outcome) for a in logged] == [
        ("ops-ana", "rules.activate", "never-deployed", "typo", "RULE_SET_NOT_FOUND"),
        ("ops-ana", "rules.activate", "caps-1", "again", "OK"),
        ("ops-ana", "rules.activate", "caps-1", "sale starts", "OK"),
        ("ops-ana", "rules.deploy", "caps-1", "marketplace cap", "OK"),
    ]


def test_rollback_returns_to_the_version_active_before(fresh: RulesServer, stock: Stock) -> None:
    with operator(fresh) as ops:
        stock(ops, "MUG", "W1", 10)
        ops.deploy_rule_set(rule_set("loose", cap=100), comment="loose")
        ops.deploy_rule_set(rule_set("tight", cap=1), comment="tight")
        ops.activate_rule_set("loose", reason="first")
        # Before the first activation the built-in set decided: a rollback returns to it.
        builtin = ops.rollback_rule_set(reason="back to the defaults")
        assert (builtin.version, builtin.state) == ("builtin-1", pb.ACTIVE)
        held = ops.reserve([("MUG", "W1", 1)], channel="web")
        assert held.decision.rule_version == "builtin-1"
        # A rollback undoes a rollback, also to and from the built-in set.
        assert ops.rollback_rule_set(reason="undo").version == "loose"

        ops.activate_rule_set("tight", reason="too many marketplace holds")
        ops.reserve([("MUG", "W1", 1)], channel="marketplace")
        with pytest.raises(Rejected):
            ops.reserve([("MUG", "W1", 1)], channel="marketplace")

        back = ops.rollback_rule_set(reason="tight cap hurts sales")
        assert (back.version, back.state) == ("loose", pb.ACTIVE)
        held = ops.reserve([("MUG", "W1", 1)], channel="marketplace")
        assert held.decision.rule_version == "loose"
        # The version active before "loose" is now "tight": a rollback undoes a rollback.
        assert ops.rollback_rule_set(reason="undo").version == "tight"
        logged = ops.list_operator_actions(page_size=2).actions
    assert [(a.action, a.target, a.outcome) for a in logged] == [
        ("rules.rollback", "loose -> tight", "OK"),
        ("rules.rollback", "tight -> loose", "OK"),
    ]


def test_a_shadow_decides_beside_with_no_effect(fresh: RulesServer, stock: Stock) -> None:
    with operator(fresh) as ops:
        stock(ops, "MUG", "W1", 10)
        ops.deploy_rule_set(rule_set("candidate", cap=1), comment="try a cap")
        started = ops.start_shadow("candidate", reason="see what the cap would refuse")
        assert (started.candidate_version, started.active_version) == ("candidate", "builtin-1")
        assert started.decisions_compared == 0
        assert ops.list_rule_sets().shadow_version == "candidate"
        assert ops.get_rule_set("candidate").state == pb.SHADOW

        for _ in range(3):  # all held: the candidate has no effect
            held = ops.reserve([("MUG", "W1", 1)], channel="marketplace")
            assert held.decision.rule_version == "builtin-1"
        report = ops.get_shadow_report()
        assert report.decisions_compared == 3
        counts = {d.kind: d.count for d in report.divergences}
        assert counts["outcome"] == 2  # the 2nd and 3rd exceed the cap of 1
        assert [
            (s.kind, s.action, s.active_reason, s.candidate_reason) for s in report.samples
        ] == [("outcome", "reserve", "RESERVED", "CHANNEL_CAP_REACHED")] * 2

        final = ops.stop_shadow(reason="seen enough")
        assert final.candidate_version == "candidate"
        assert final.decisions_compared == 3
        assert ops.list_rule_sets().shadow_version == ""
        logged = ops.list_operator_actions(page_size=2).actions
    assert [(a.action, a.target, a.outcome) for a in logged] == [
        ("rules.shadow_stop", "candidate", "OK"),
        ("rules.shadow_start", "candidate", "OK"),
    ]
