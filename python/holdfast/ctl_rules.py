"""``holdfast ctl rules``: rule sets under change control (docs/rules.md).

validate and deploy read a TOML file; deploy needs ``--comment``, and the
commands that switch what decides (shadow start/stop, activate, rollback)
need ``--reason``; each is recorded with the actor in the operator log.
``validate`` exits 1 when the file has errors, printed as FILE:LINE: field:
message, one a line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from holdfast import ctl
from holdfast.client import OperationsClient
from holdfast.v1 import operations_pb2 as pb

if TYPE_CHECKING:
    from holdfast.ctl_ops import MakeCommand, Outcome, Subparsers


def add_commands(commands: Subparsers, command: MakeCommand) -> None:
    rules = commands.add_parser(
        "rules", help="rule sets: validate, deploy, list, show, diff, shadow, activate, rollback"
    )
    actions = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")

    def reason(made: argparse.ArgumentParser) -> None:
        made.add_argument("--reason", required=True, help="why, for the operator log")

    made = command(actions, "validate", "check a rule-set file: every error with its line")
    made.add_argument("file", metavar="FILE")
    made = command(actions, "deploy", "store a rule-set file as an immutable version")
    made.add_argument("file", metavar="FILE")
    made.add_argument(
        "--comment", required=True, help="why this version (1-1024 characters), kept with it"
    )
    command(actions, "list", "every version, newest first, with which is active and shadowed")
    made = command(actions, "show", "one version with its text")
    made.add_argument("version", metavar="VERSION")
    made = command(actions, "diff", "a unified diff of two versions' texts")
    made.add_argument("from_version", metavar="FROM")
    made.add_argument("to_version", metavar="TO")

    shadow = actions.add_parser("shadow", help="decide live traffic under a candidate too")
    shadow_actions = shadow.add_subparsers(dest="shadow_command", required=True, metavar="ACTION")
    made = command(shadow_actions, "start", "shadow a deployed version (replaces any shadow)")
    made.add_argument("version", metavar="VERSION")
    reason(made)
    made = command(shadow_actions, "stop", "stop shadowing; the final report")
    reason(made)
    command(shadow_actions, "report", "the shadow's divergences by kind, with samples")

    made = command(actions, "activate", "decide under a deployed version from now on")
    made.add_argument("version", metavar="VERSION")
    reason(made)
    made = command(actions, "rollback", "switch back to the version active before this one")
    reason(made)


# Output for people.


def describe_versions(versions: list[pb.RuleSetVersion]) -> str:
    rows = [
        (
            v.version,
            pb.RuleSetState.Name(v.state),
            ctl.when(v.deployed_at) if v.HasField("deployed_at") else "-",
            v.deployed_by or "-",
            v.author or "-",
            v.checksum[:12] or "-",
            v.comment or "-",
        )
        for v in versions
    ]
    headers = ["VERSION", "STATE", "DEPLOYED", "BY", "AUTHOR", "CHECKSUM", "COMMENT"]
    return ctl.table(headers, rows)


def describe_version(version: pb.RuleSetVersion) -> str:
    activated = ctl.when(version.activated_at) if version.HasField("activated_at") else "never"
    pairs = [
        ("version", version.version),
        ("state", pb.RuleSetState.Name(version.state)),
        ("author", version.author or "-"),
        ("description", version.description or "-"),
        ("checksum", version.checksum or "-"),
        ("deployed", ctl.when(version.deployed_at) if version.HasField("deployed_at") else "-"),
        ("deployed by", version.deployed_by or "-"),
        ("comment", version.comment or "-"),
        ("activated", activated),
    ]
    text = ctl.fields(pairs)
    return text + "\n\n" + version.text.rstrip("\n") if version.text else text


def describe_report(report: pb.ShadowReport) -> str:
    if not report.candidate_version and not report.decisions_compared:
        return f"no shadow (active {report.active_version})"
    pairs = [
        ("candidate", report.candidate_version or "- (stopped)"),
        ("active", report.active_version),
        ("since", ctl.when(report.since) if report.HasField("since") else "-"),
        ("compared", str(report.decisions_compared)),
    ]
    text = ctl.fields(pairs)
    text += "\n\n" + ctl.table(
        ["KIND", "DIVERGED"], [(d.kind, d.count) for d in report.divergences]
    )
    if report.samples:
        rows = [
            (ctl.when(s.at), s.kind, s.action, s.active_reason, s.candidate_reason, s.request_id)
            for s in report.samples
        ]
        headers = ["AT", "KIND", "ACTION", "ACTIVE", "CANDIDATE", "REQUEST ID"]
        text += "\n\n" + ctl.table(headers, rows)
    return text


# Commands.


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None


def _validate(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    answer = client.validate_rule_set(_read(args.file))
    if answer.valid:
        text = f"{args.file}: valid, version {answer.version} (sha256 {answer.checksum})"
        return answer, text, ctl.EXIT_OK
    lines = [
        f"{args.file}:{e.line}: {e.field}: {e.message}"
        if e.line
        else f"{args.file}: {e.field}: {e.message}"
        for e in answer.errors
    ]
    return answer, "\n".join(lines), ctl.EXIT_REFUSED


def _deploy(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    deployed = client.deploy_rule_set(_read(args.file), comment=args.comment)
    return deployed, describe_version(deployed), ctl.EXIT_OK


def _list(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    listed = client.list_rule_sets()
    return listed, describe_versions(list(listed.versions)), ctl.EXIT_OK


def _show(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    shown = client.get_rule_set(args.version)
    return shown, describe_version(shown), ctl.EXIT_OK


def _diff(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    diff = client.diff_rule_sets(args.from_version, args.to_version)
    return diff, diff.unified_diff.rstrip("\n") or "no difference", ctl.EXIT_OK


def _shadow(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    if args.shadow_command == "start":
        report = client.start_shadow(args.version, reason=args.reason)
    elif args.shadow_command == "stop":
        report = client.stop_shadow(reason=args.reason)
    else:
        report = client.get_shadow_report()
    return report, describe_report(report), ctl.EXIT_OK


def _activate(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    activated = client.activate_rule_set(args.version, reason=args.reason)
    return activated, describe_version(activated), ctl.EXIT_OK


def _rollback(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    activated = client.rollback_rule_set(reason=args.reason)
    return activated, describe_version(activated), ctl.EXIT_OK


_ACTIONS: dict[str, Callable[[OperationsClient, argparse.Namespace], Outcome]] = {
    "validate": _validate,
    "deploy": _deploy,
    "list": _list,
    "show": _show,
    "diff": _diff,
    "shadow": _shadow,
    "activate": _activate,
    "rollback": _rollback,
}


def rules(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    return _ACTIONS[args.rules_command](client, args)
