"""Validate (errors with line numbers), deploy (immutable, idempotent), list,
show and diff, over a real server."""

from __future__ import annotations

import hashlib

import pytest
from holdfast.client import InvalidArgument, NotFound, OperationsClient, Rejected
from holdfast.v1 import operations_pb2 as pb
from rules_support import rule_set, unique

BAD = 'version = "v-bad"\nauthor = ""\n[holds]\nmax_seconds = -1\n'


def test_a_valid_text_gives_its_version_and_checksum(ops: OperationsClient) -> None:
    text = rule_set("v-ok", cap=3)
    answer = ops.validate_rule_set(text)
    assert (answer.valid, list(answer.errors), answer.version) == (True, [], "v-ok")
    assert answer.checksum == hashlib.sha256(text.encode()).hexdigest()


def test_every_error_is_given_with_its_line_and_field(ops: OperationsClient) -> None:
    answer = ops.validate_rule_set(BAD)
    assert not answer.valid
    assert [(e.line, e.field) for e in answer.errors] == [(2, "author"), (4, "holds.max_seconds")]
    assert all(e.message for e in answer.errors)
    syntax = ops.validate_rule_set('version = "v"\nauthor = "a"\nholds = = 3\n')
    assert not syntax.valid
    assert [(e.line, e.field) for e in syntax.errors] == [(3, "toml")]


def test_a_text_over_1_mib_is_refused_naming_text(ops: OperationsClient) -> None:
    text = rule_set("v-big") + "#" * (1 << 20)
    with pytest.raises(InvalidArgument) as refused:
        ops.validate_rule_set(text)
    assert refused.value.facts["field"] == "text"


def test_a_deployed_version_never_changes(ops: OperationsClient) -> None:
    version = unique("v")
    text = rule_set(version, cap=5)
    deployed = ops.deploy_rule_set(text, comment="caps for the sale")
    assert deployed.version == version
    assert deployed.checksum == hashlib.sha256(text.encode()).hexdigest()
    assert (deployed.author, deployed.description) == ("ana@shop", "tests")
    assert (deployed.comment, deployed.deployed_by) == ("caps for the sale", "ops-ana")
    assert deployed.state == pb.DEPLOYED
    assert not deployed.HasField("activated_at")

    # The same text again: the version as stored, not a second one.
    again = ops.deploy_rule_set(text, comment="retried")
    assert again.comment == "caps for the sale"
    assert again.deployed_at == deployed.deployed_at

    with pytest.raises(Rejected) as refused:
        ops.deploy_rule_set(rule_set(version, cap=6), comment="sneaky edit")
    assert refused.value.reason == "RULE_SET_VERSION_EXISTS"
    assert refused.value.facts["version"] == version
    assert refused.value.facts["stored_checksum"] == deployed.checksum
    assert ops.get_rule_set(version).text == text

    logged = ops.list_operator_actions(page_size=3).actions
    assert [(a.action, a.target, a.reason, a.outcome) for a in logged] == [
        ("rules.deploy", version, "sneaky edit", "RULE_SET_VERSION_EXISTS"),
        ("rules.deploy", version, "retried", "OK"),
        ("rules.deploy", version, "caps for the sale", "OK"),
    ]


def test_an_invalid_text_is_refused_with_every_error_and_not_kept(
    ops: OperationsClient,
) -> None:
    before = ops.list_operator_actions(page_size=1).actions
    with pytest.raises(InvalidArgument) as refused:
        ops.deploy_rule_set(BAD, comment="broken")
    assert [v.field for v in refused.value.field_violations] == [
        "line 2: author",
        "line 4: holds.max_seconds",
    ]
    assert "v-bad" not in [v.version for v in ops.list_rule_sets().versions]
    # Refused for its own fields: nothing attempted, nothing recorded.
    assert ops.list_operator_actions(page_size=1).actions == before


def test_a_deploy_needs_an_actor_and_a_comment(ops: OperationsClient) -> None:
    with pytest.raises(InvalidArgument) as refused:
        ops.deploy_rule_set(rule_set(unique("v")), comment=" ")
    assert refused.value.facts["field"] == "comment"
    with (
        OperationsClient(ops.target, actor="anonymous") as anonymous,
        pytest.raises(InvalidArgument) as refused,
    ):
        anonymous.deploy_rule_set(rule_set(unique("v")), comment="c")
    assert refused.value.facts["field"] == "actor"


def test_the_builtin_version_cannot_be_deployed(ops: OperationsClient) -> None:
    with pytest.raises(Rejected) as refused:
        ops.deploy_rule_set(rule_set("builtin-1"), comment="shadowing the builtin")
    assert refused.value.reason == "RULE_SET_VERSION_EXISTS"


def test_list_show_and_diff(ops: OperationsClient) -> None:
    first, second = unique("v"), unique("v")
    ops.deploy_rule_set(rule_set(first, cap=1), comment="one")
    ops.deploy_rule_set(rule_set(second, cap=2), comment="two")
    listed = ops.list_rule_sets()
    names = [v.version for v in listed.versions]
    # Newest first; the built-in set, active and never deployed, last.
    assert names.index(second) < names.index(first)
    assert names[-1] == "builtin-1"
    assert listed.active_version == "builtin-1"
    assert listed.versions[-1].state == pb.ACTIVE
    assert listed.versions[-1].text == ""
    assert all(v.text == "" for v in listed.versions)  # texts only in GetRuleSet

    shown = ops.get_rule_set(first)
    assert shown.text == rule_set(first, cap=1)
    assert shown.state == pb.DEPLOYED

    diff = ops.diff_rule_sets(first, second).unified_diff
    assert diff.startswith(f"--- {first}\n+++ {second}\n")
    assert f'-version = "{first}"\n' in diff
    assert f'+version = "{second}"\n' in diff
    assert "-max_units = 1\n" in diff
    assert "+max_units = 2\n" in diff

    with pytest.raises(NotFound) as missing:
        ops.get_rule_set("never-deployed")
    assert missing.value.reason == "RULE_SET_NOT_FOUND"
    with pytest.raises(NotFound):
        ops.diff_rule_sets(first, "never-deployed")
    with pytest.raises(InvalidArgument) as unnamed:
        ops.get_rule_set("")
    assert unnamed.value.facts["field"] == "version"
