"""Change control's edges, over a real server on SQLite and on Redis:

- a rollback returns to ``builtin-1`` when it was activated between two
  deployed versions (the built-in set is never stored, but its activation is
  history like any other);
- an activation and a rollback sent at the same moment, to one server or to
  two Redis replicas, are made one after the other: the activation history
  is in the journal's order, and the rollback's target is the version active
  before the one it replaced;
- a shadow of the active version is refused; ``builtin-1`` can be shadowed;
  a diff against ``builtin-1`` says it has no text;
- a rule's refusal names, in its ErrorInfo, the version that refused it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from backends import BackendServer, switches
from holdfast.client import InvalidArgument, OperationsClient, Rejected
from holdfast.v1 import operations_pb2 as pb
from redisproc import RedisServer
from rules_support import operator, rule_set

BUILTIN = "builtin-1"
ROUNDS = 12


def deploy(ops: OperationsClient, *versions: str, cap: int | None = None) -> None:
    for version in versions:
        ops.deploy_rule_set(rule_set(version, cap=cap), comment=f"deploy {version}")


def test_a_rollback_returns_to_builtin_activated_in_between(on_backend: BackendServer) -> None:
    with operator(on_backend) as ops:
        deploy(ops, "v1", "v2")
        for version in ("v1", BUILTIN, "v2"):
            ops.activate_rule_set(version, reason=f"to {version}")
        back = ops.rollback_rule_set(reason="v2 is wrong")
        assert (back.version, back.state) == (BUILTIN, pb.ACTIVE)
        assert ops.list_rule_sets().active_version == BUILTIN
        # And a rollback of that rollback returns to v2, not past it.
        assert ops.rollback_rule_set(reason="undo").version == "v2"
        logged = ops.list_operator_actions(page_size=2).actions
        assert switches(ops) == ["v1", BUILTIN, "v2", BUILTIN, "v2"]
    assert [(a.action, a.target) for a in logged] == [
        ("rules.rollback", f"{BUILTIN} -> v2"),
        ("rules.rollback", f"v2 -> {BUILTIN}"),
    ]
    assert [version for version, _, _ in on_backend.activations()] == [
        "v1", BUILTIN, "v2", BUILTIN, "v2",
    ]  # fmt: skip


def _before(journal: list[str], current: str) -> str:
    """What a rollback from ``current`` returns to, given the switches so far."""
    for version in reversed(journal):
        if version != current:
            return version
    return BUILTIN


def _activate(ops: OperationsClient, version: str, reason: str, start: threading.Barrier) -> str:
    start.wait()
    return ops.activate_rule_set(version, reason=reason).version


def _roll_back(ops: OperationsClient, reason: str, start: threading.Barrier) -> str:
    start.wait()
    return ops.rollback_rule_set(reason=reason).version


def test_an_activation_and_a_rollback_at_once_are_made_one_after_the_other(
    on_backend: BackendServer,
) -> None:
    _activate_and_roll_back_at_once(on_backend, on_backend)


def test_switches_through_two_replicas_at_once_commit_in_one_order(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The activation through one replica and the rollback through another:
    a switch another replica's switch overtook is chosen again, so the
    history rollbacks read is in the stream's order and each rollback went
    back from the version really active."""
    first = BackendServer("redis", tmp_path, redis_server.url)
    (tmp_path / "second").mkdir()
    second = BackendServer("redis", tmp_path / "second", redis_server.url)
    second.prefix = first.prefix
    first.start()
    try:
        second.start()
        try:
            _activate_and_roll_back_at_once(first, second)
        finally:
            assert second.stop() == 0, second.log_text()
    finally:
        assert first.stop() == 0, first.log_text()


def _activate_and_roll_back_at_once(one: BackendServer, another: BackendServer) -> None:
    """Rounds of an activation through ``one`` and a rollback through
    ``another`` sent at the same moment: both are made, one after the other."""
    versions = ["v1", "v2", "v3", "v4"]
    with operator(one) as ops, operator(another) as other:
        deploy(ops, *versions)
        ops.activate_rule_set("v1", reason="start")
        ops.activate_rule_set("v2", reason="start")
        journal = ["v1", "v2"]
        rollbacks = []  # (round, the version the rollback answered)
        with ThreadPoolExecutor(max_workers=2) as pool:
            for turn in range(ROUNDS):
                current = journal[-1]
                # Neither the active version nor the one a rollback would choose:
                # each answer says which of the two switches it was.
                target = next(v for v in versions if v not in (current, _before(journal, current)))
                both = threading.Barrier(2)
                activated = pool.submit(_activate, ops, target, f"activate {turn}", both)
                rolled_back = pool.submit(_roll_back, other, f"rollback {turn}", both)
                assert activated.result() == target
                rollbacks.append(rolled_back.result())
                journal = switches(ops)
                assert len(journal) == 4 + 2 * turn, journal
        assert ops.list_rule_sets().active_version == journal[-1]
        assert other.list_rule_sets().active_version == journal[-1]
    # The history a rollback reads is in the journal's order...
    assert [version for version, _, _ in one.activations()] == journal
    # ...and each rollback chose the version active before the one it replaced.
    for turn, answered in enumerate(rollbacks):
        first = 2 + 2 * turn
        pair = journal[first : first + 2]
        assert answered in pair, (turn, pair, answered)
        at = first + pair.index(answered)
        assert answered == _before(journal[: at - 1], journal[at - 1]), (turn, journal)


def test_a_shadow_of_the_active_version_is_refused(on_backend: BackendServer) -> None:
    with operator(on_backend) as ops:
        with pytest.raises(InvalidArgument) as builtin_active:
            ops.start_shadow(BUILTIN, reason="compare with itself")
        assert builtin_active.value.facts["field"] == "version"
        assert "is the active rule set" in builtin_active.value.message
        deploy(ops, "v1")
        ops.activate_rule_set("v1", reason="go")
        with pytest.raises(InvalidArgument):
            ops.start_shadow("v1", reason="compare with itself")
        assert ops.list_rule_sets().shadow_version == ""
        logged = ops.list_operator_actions(page_size=1).actions
    assert [(a.action, a.target, a.outcome) for a in logged] == [
        ("rules.shadow_start", "v1", "INVALID_ARGUMENT")
    ]


def test_builtin_can_be_shadowed(on_backend: BackendServer) -> None:
    with operator(on_backend) as ops:
        ops.set_stock("MUG", "W1", 10, source_sequence=1)
        deploy(ops, "capped", cap=1)
        ops.activate_rule_set("capped", reason="cap the marketplace")
        started = ops.start_shadow(BUILTIN, reason="what did the cap change")
        assert (started.candidate_version, started.active_version) == (BUILTIN, "capped")
        assert ops.get_rule_set(BUILTIN).state == pb.SHADOW
        ops.reserve([("MUG", "W1", 1)], channel="marketplace")
        with pytest.raises(Rejected):
            ops.reserve([("MUG", "W1", 1)], channel="marketplace")  # the cap refuses
        report = ops.get_shadow_report()
    assert report.decisions_compared == 2
    assert [(s.kind, s.active_reason, s.candidate_reason) for s in report.samples] == [
        ("outcome", "CHANNEL_CAP_REACHED", "RESERVED")
    ]


def test_a_diff_with_builtin_says_it_has_no_text(on_backend: BackendServer) -> None:
    with operator(on_backend) as ops:
        deploy(ops, "v1")
        diff = ops.diff_rule_sets(BUILTIN, "v1").unified_diff
        shown = ops.get_rule_set(BUILTIN)
    assert diff.splitlines()[:2] == [f"--- {BUILTIN} (built in: no text)", "+++ v1"]
    assert '+version = "v1"' in diff.splitlines()
    assert shown.text == ""
    assert "built in (no text)" in shown.description
    assert "default 900 s" in shown.description


def test_a_rules_refusal_names_the_version_that_refused(on_backend: BackendServer) -> None:
    with operator(on_backend) as ops:
        ops.set_stock("MUG", "W1", 10, source_sequence=1)
        deploy(ops, "capped", cap=1)
        ops.activate_rule_set("capped", reason="cap the marketplace")
        ops.reserve([("MUG", "W1", 1)], channel="marketplace")
        with pytest.raises(Rejected) as capped:
            ops.reserve([("MUG", "W1", 1)], channel="marketplace")
    assert capped.value.reason == "CHANNEL_CAP_REACHED"
    assert capped.value.facts["rule_version"] == "capped"
    assert capped.value.facts["cap"] == "1"
