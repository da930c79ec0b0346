"""The contract of rule sets on every backend: validate, deploy (immutable),
activate, roll back, shadow, and what a channel cap and safety stock decide.

A rule set is global to a server, and the contract servers are shared by the
whole session: each test's rule sets match only its own SKUs (a glob on a
fresh prefix) and its own channel, have versions of their own, and the
``rules`` fixture puts back whatever was active before (and stops any shadow)
when the test ends, passed or failed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from contract_support import Backend, Position, Stock, position
from holdfast.client import NotFound, OperationsClient, Rejected
from holdfast.v1 import operations_pb2 as pb
from holdfast.v1 import reasons_pb2 as reasons

BUILTIN = "builtin-1"


@dataclass
class Rules:
    """What one test's rule sets match: its SKUs, its channel, its versions."""

    ops: OperationsClient
    tag: str  # unique to the test and the backend run

    @property
    def channel(self) -> str:
        return f"chan-{self.tag}"

    def sku(self, name: str) -> str:
        """A SKU the test's safety stock applies to (at W1)."""
        return f"RULESKU-{self.tag}-{name}"

    def version(self, name: str) -> str:
        return f"contract-{self.tag}-{name}"

    def text(self, name: str, *, cap: int, safety: int = 3, description: str = "contract") -> str:
        """A rule set: the test's channel capped at ``cap`` units of a
        position, ``safety`` units of the test's SKUs kept back at W1."""
        return f"""version = "{self.version(name)}"
author = "contract@holdfast"
description = "{description}"

[[safety_stock]]
location = "W1"
sku = "RULESKU-{self.tag}-*"
quantity = {safety}

[[channel_caps]]
channel = "{self.channel}"
max_units = {cap}
"""

    def deploy(self, name: str, *, cap: int, safety: int = 3) -> pb.RuleSetVersion:
        text = self.text(name, cap=cap, safety=safety)
        deployed = self.ops.deploy_rule_set(text, comment=f"contract {name}")
        assert (deployed.version, deployed.state) == (self.version(name), pb.DEPLOYED)
        return deployed


def held_units(ops: OperationsClient, sku: str, location: str = "W1") -> tuple[int, int]:
    """On hand and reserved at one position. (A rule's safety stock is applied
    when a reserve is placed; GetAvailability shows the position's own.)"""
    found = position(ops, sku, location)
    return found.on_hand, found.reserved


@pytest.fixture
def rules(backend: Backend, tenant: str) -> Iterator[Rules]:
    """An operator in the test's tenant; afterwards the version active before
    the test is active again and no shadow runs."""
    with OperationsClient(backend.target, tenant=tenant, actor="contract-ops", timeout=30) as ops:
        before = ops.list_rule_sets().active_version
        try:
            yield Rules(ops, uuid.uuid4().hex[:12])
        finally:
            if ops.list_rule_sets().shadow_version:
                ops.stop_shadow(reason="contract test ends")
            ops.activate_rule_set(before, reason="contract test ends")
            assert ops.list_rule_sets().active_version == before


def test_a_rule_set_is_validated_deployed_and_listed(rules: Rules) -> None:
    ops = rules.ops
    text = rules.text("v1", cap=2)
    checked = ops.validate_rule_set(text)
    assert checked.valid, checked
    assert checked.version == rules.version("v1")
    assert not ops.validate_rule_set("version = 3\n").valid  # no author, a number

    deployed = rules.deploy("v1", cap=2)
    assert deployed.checksum == checked.checksum
    assert deployed.author == "contract@holdfast"
    assert deployed.comment == "contract v1"
    assert deployed.deployed_by == "contract-ops"
    shown = ops.get_rule_set(rules.version("v1"))
    assert (shown.text, shown.state) == (text, pb.DEPLOYED)
    listed = ops.list_rule_sets()
    states = {v.version: v.state for v in listed.versions}
    assert states[rules.version("v1")] == pb.DEPLOYED
    assert BUILTIN in states
    with pytest.raises(NotFound) as missing:
        ops.get_rule_set(rules.version("never"))
    assert missing.value.reason == "RULE_SET_NOT_FOUND"


def test_a_channel_cap_refuses_past_it_and_decisions_carry_the_version(
    rules: Rules, stock: Stock
) -> None:
    ops = rules.ops
    sku = rules.sku("cap")
    stock(sku, "W1", 20)
    before = ops.reserve([(sku, "W1", 1)], channel=rules.channel)
    previous = ops.list_rule_sets().active_version
    assert before.decision.rule_version == previous

    rules.deploy("v1", cap=3)
    activated = ops.activate_rule_set(rules.version("v1"), reason="cap the channel")
    assert (activated.version, activated.state) == (rules.version("v1"), pb.ACTIVE)
    assert activated.HasField("activated_at")
    assert ops.list_rule_sets().active_version == rules.version("v1")

    held = ops.reserve([(sku, "W1", 2)], channel=rules.channel)  # 1 + 2: at the cap
    assert held.decision.reason == reasons.RESERVED
    assert held.decision.rule_version == rules.version("v1")
    with pytest.raises(Rejected) as capped:
        ops.reserve([(sku, "W1", 1)], channel=rules.channel)
    assert capped.value.reason == "CHANNEL_CAP_REACHED"
    facts = capped.value.facts
    assert (facts["cap"], facts["committed"], facts["requested"]) == ("3", "3", "1")
    assert (facts["channel"], facts["sku"], facts["location"]) == (rules.channel, sku, "W1")
    # Nothing moved; another channel is not capped, and is decided by v1 too.
    assert held_units(ops, sku) == (20, 3)
    other = ops.reserve([(sku, "W1", 5)], channel=f"other-{rules.tag}")
    assert other.decision.rule_version == rules.version("v1")
    # A released unit makes room under the cap again.
    ops.release(before.reservation.reservation_id)
    again = ops.reserve([(sku, "W1", 1)], channel=rules.channel)
    assert again.decision.rule_version == rules.version("v1")
    # The history records the version that decided each step.
    history = ops.get_reservation(held.reservation.reservation_id).history
    assert [(h.action, h.rule_version) for h in history] == [("reserve", rules.version("v1"))]


def test_safety_stock_keeps_units_back(rules: Rules, stock: Stock) -> None:
    ops = rules.ops
    kept, free = rules.sku("kept"), f"FREE-{rules.tag}"
    stock(kept, "W1", 10)
    stock(kept, "W2", 10)
    stock(free, "W1", 10)
    rules.deploy("v1", cap=100)
    ops.activate_rule_set(rules.version("v1"), reason="keep some back")

    with pytest.raises(Rejected) as short:
        ops.reserve([(kept, "W1", 8)])
    assert short.value.reason == "INSUFFICIENT_STOCK"
    assert (short.value.facts["requested"], short.value.facts["available"]) == ("8", "7")
    assert held_units(ops, kept) == (10, 0)
    held = ops.reserve([(kept, "W1", 7)])
    assert held.decision.rule_version == rules.version("v1")
    assert held_units(ops, kept) == (10, 7)
    with pytest.raises(Rejected) as none_left:
        ops.reserve([(kept, "W1", 1)])
    assert (none_left.value.facts["requested"], none_left.value.facts["available"]) == ("1", "0")
    # Only W1 and only the pattern's SKUs are kept back.
    ops.reserve([(kept, "W2", 10)])
    ops.reserve([(free, "W1", 10)])
    assert position(ops, kept, "W2") == Position(10, 10, 0, 0, 0)
    assert position(ops, free) == Position(10, 10, 0, 0, 0)


def test_a_rollback_returns_to_the_previous_version(rules: Rules, stock: Stock) -> None:
    ops = rules.ops
    sku = rules.sku("rollback")
    stock(sku, "W1", 50)
    v1, v2 = rules.version("v1"), rules.version("v2")
    rules.deploy("v1", cap=2)
    rules.deploy("v2", cap=6)
    diff = ops.diff_rule_sets(v1, v2).unified_diff
    assert "-max_units = 2" in diff, diff
    assert "+max_units = 6" in diff, diff

    ops.activate_rule_set(v1, reason="first")
    ops.activate_rule_set(v2, reason="loosen the cap")
    held = ops.reserve([(sku, "W1", 4)], channel=rules.channel)  # past v1's cap of 2
    assert held.decision.rule_version == v2

    back = ops.rollback_rule_set(reason="the loose cap oversells the channel")
    assert (back.version, back.state) == (v1, pb.ACTIVE)
    listed = ops.list_rule_sets()
    assert listed.active_version == v1
    assert {v.version: v.state for v in listed.versions}[v2] == pb.DEPLOYED
    with pytest.raises(Rejected) as capped:
        ops.reserve([(sku, "W1", 1)], channel=rules.channel)
    assert capped.value.reason == "CHANNEL_CAP_REACHED"
    assert (capped.value.facts["cap"], capped.value.facts["committed"]) == ("2", "4")
    elsewhere = ops.reserve([(sku, "W1", 1)], channel=f"other-{rules.tag}")
    assert elsewhere.decision.rule_version == v1
    # A rollback of a rollback returns to the version rolled back from.
    assert ops.rollback_rule_set(reason="undo").version == v2
    assert ops.reserve([(sku, "W1", 1)], channel=rules.channel).decision.rule_version == v2


def test_a_deployed_version_cannot_change(rules: Rules) -> None:
    ops = rules.ops
    first = rules.deploy("v1", cap=2)
    # The same text again answers the stored version.
    again = ops.deploy_rule_set(rules.text("v1", cap=2), comment="again")
    assert (again.version, again.checksum) == (first.version, first.checksum)
    with pytest.raises(Rejected) as exists:
        ops.deploy_rule_set(rules.text("v1", cap=9), comment="changed in place")
    assert exists.value.reason == "RULE_SET_VERSION_EXISTS"
    assert exists.value.facts["version"] == rules.version("v1")
    assert exists.value.facts["stored_checksum"] == first.checksum
    assert exists.value.facts["checksum"] != first.checksum
    assert ops.get_rule_set(rules.version("v1")).text == rules.text("v1", cap=2)
    # Nor can the built-in set's name be deployed.
    builtin = rules.text("builtin", cap=2).replace(rules.version("builtin"), BUILTIN)
    with pytest.raises(Rejected) as taken:
        ops.deploy_rule_set(builtin, comment="shadowing the built-in set")
    assert taken.value.reason == "RULE_SET_VERSION_EXISTS"


def test_a_shadow_counts_divergences_with_no_effect(rules: Rules, stock: Stock) -> None:
    ops = rules.ops
    sku = rules.sku("shadow")
    stock(sku, "W1", 20)
    active, candidate = rules.version("v1"), rules.version("tight")
    rules.deploy("v1", cap=100)
    rules.deploy("tight", cap=1)
    ops.activate_rule_set(active, reason="the loose cap decides")

    started = ops.start_shadow(candidate, reason="what would a cap of 1 refuse")
    assert (started.active_version, started.candidate_version) == (active, candidate)
    assert started.decisions_compared == 0
    assert ops.list_rule_sets().shadow_version == candidate
    assert ops.get_rule_set(candidate).state == pb.SHADOW

    keys = [f"shadow-{rules.tag}-{n}" for n in range(3)]
    for key in keys:  # all held: the candidate has no effect
        held = ops.reserve([(sku, "W1", 1)], channel=rules.channel, idempotency_key=key)
        assert held.decision.rule_version == active
    assert held_units(ops, sku) == (20, 3)
    report = ops.get_shadow_report()
    assert report.decisions_compared >= 3  # and nothing else is deciding meanwhile
    counts = {d.kind: d.count for d in report.divergences}
    assert counts.get("outcome") == 2, report  # the 2nd and 3rd pass a cap of 1
    assert [(s.kind, s.action, s.active_reason, s.candidate_reason) for s in report.samples] == [
        ("outcome", "reserve", "RESERVED", "CHANNEL_CAP_REACHED")
    ] * 2

    final = ops.stop_shadow(reason="seen enough")
    assert (final.candidate_version, final.decisions_compared) == (
        candidate,
        report.decisions_compared,
    )
    assert ops.list_rule_sets().shadow_version == ""
    assert ops.get_rule_set(candidate).state == pb.DEPLOYED
    # Stopped: the next decision is compared with nothing.
    ops.reserve([(sku, "W1", 1)], channel=rules.channel)
    assert ops.list_rule_sets().active_version == active


def test_the_rule_version_is_journaled_with_each_decision(
    backend: Backend, rules: Rules, stock: Stock
) -> None:
    if backend.name == "memory":
        pytest.skip("the memory backend has no journal (test_contract_feed)")
    ops = rules.ops
    sku = rules.sku("journal")
    before = ops.list_rule_sets().active_version
    stock(sku, "W1", 10)
    rules.deploy("v1", cap=1)
    ops.activate_rule_set(rules.version("v1"), reason="journal it")
    held = ops.reserve([(sku, "W1", 1)], channel=rules.channel)
    with pytest.raises(Rejected):
        ops.reserve([(sku, "W1", 1)], channel=rules.channel)
    events = ops.list_events().events  # the test's tenant's only
    assert [(e.kind, e.rule_version, e.reason) for e in events] == [
        ("stock_counted", before, reasons.STOCK_SET),
        ("hold_placed", rules.version("v1"), reasons.RESERVED),
        ("rejected", rules.version("v1"), reasons.CHANNEL_CAP_REACHED),
    ]
    assert events[1].reservation_id == held.reservation.reservation_id
