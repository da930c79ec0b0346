"""``holdfast ctl`` for operators: breakers, the audit, overrides, the operator
log, reconciling a warehouse count file, and rule sets (``ctl_rules``).

Every command that changes something needs ``--reason`` and is recorded
with the actor (``--actor``, else ``$USER``) in the server's operator log.
Exit codes are ctl's; ``audit`` and ``reconcile`` exit 1 when they found
differences left for a person to look at.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from google.protobuf.message import Message

from holdfast import MAX_FILTER_NAMES, ctl, ctl_rules
from holdfast.client import HoldfastError, OperationsClient
from holdfast.v1 import operations_pb2 as pb

# What a command answers: the message (or a dict) for --json, the text for
# people, the exit code.
Outcome: TypeAlias = tuple[Message | dict[str, Any], str, int]
Command: TypeAlias = Callable[[OperationsClient, argparse.Namespace], Outcome]
# Generic only to the type checker.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
MakeCommand: TypeAlias = Callable[[Subparsers, str, str], argparse.ArgumentParser]

COUNT_COLUMNS = ("sku", "location", "on_hand")


# Arguments.


def add_commands(commands: Subparsers, command: MakeCommand) -> None:
    """The operator commands, beside ctl's own (``command`` makes one with
    the global options)."""

    def reason(made: argparse.ArgumentParser, required: bool = True) -> None:
        made.add_argument(
            "--reason", required=required, help="why, for the operator log (1-1024 characters)"
        )

    breakers = commands.add_parser("breakers", help="circuit breakers: list, force, disable, reset")
    breaker_commands = breakers.add_subparsers(
        dest="breakers_command", required=True, metavar="ACTION"
    )
    command(breaker_commands, "list", "every breaker with its state and window")
    for name, text in (
        ("force", "force a breaker open: every call it guards is refused until reset"),
        ("disable", "disable a breaker: every call passes, nothing is recorded"),
        ("reset", "reset a breaker to CLOSED with an empty window"),
    ):
        made = command(breaker_commands, name, text)
        made.add_argument("name", metavar="NAME", help="journal, events, feasibility")
        reason(made)

    command(commands, "audit", "recompute every position's buckets and compare (exit 1: differ)")

    override = commands.add_parser("override", help="release or adjust on an operator's word")
    override_commands = override.add_subparsers(
        dest="override_command", required=True, metavar="ACTION"
    )
    made = command(
        override_commands,
        "release",
        "release any tenant's reservation (--tenant names the tenant that owns it)",
    )
    made.add_argument("reservation_id", metavar="RESERVATION_ID")
    reason(made)
    made.add_argument("--key", help="idempotency key (default: a fresh one)")
    made = command(override_commands, "adjust", "add or remove units on hand")
    made.add_argument("sku")
    made.add_argument("location")
    made.add_argument("delta", type=int, help="units added (negative: removed)")
    reason(made)
    made.add_argument("--key", help="idempotency key (default: a fresh one)")

    made = command(commands, "operator-log", "operator actions, newest first")
    made.add_argument("--limit", type=int, default=0, help="at most this many (default 100)")

    made = command(
        commands,
        "reconcile",
        "compare a warehouse count file (CSV: sku,location,on_hand) with on hand; "
        "positions the file does not name are left alone",
    )
    made.add_argument("counts", metavar="COUNTS.csv")
    made.add_argument(
        "--apply",
        action="store_true",
        help="adjust on hand to the counts (needs --reason); each adjustment is the "
        "difference read just before, so run it while the warehouse is not moving stock",
    )
    reason(made, required=False)

    ctl_rules.add_commands(commands, command)


# Output for people.


def describe_breakers(breakers: Sequence[pb.CircuitBreaker]) -> str:
    def rate(percent: float) -> str:
        return "-" if percent < 0 else f"{percent:g}%"

    rows = [
        (
            b.name,
            pb.BreakerState.Name(b.state),
            ctl.when(b.since),
            b.cause or "-",
            b.buffered_calls,
            b.failed_calls,
            b.slow_calls,
            rate(b.failure_rate_percent),
            rate(b.slow_call_rate_percent),
            b.not_permitted_calls,
        )
        for b in breakers
    ]
    headers = ["NAME", "STATE", "SINCE", "CAUSE", "CALLS", "FAILED", "SLOW"]
    return ctl.table([*headers, "FAILURE RATE", "SLOW RATE", "REFUSED"], rows)


def describe_audit(report: pb.AuditReport) -> str:
    head = (
        f"audited {report.positions_checked} position(s) at {ctl.when(report.audited_at)}: "
        f"{len(report.differences)} difference(s)"
    )
    if not report.differences:
        return head
    rows = [(d.sku, d.location, d.bucket, d.stored, d.from_lines) for d in report.differences]
    headers = ["SKU", "LOCATION", "BUCKET", "STORED", "FROM LINES"]
    return head + "\n\n" + ctl.table(headers, rows)


def describe_actions(actions: Sequence[pb.OperatorAction]) -> str:
    rows = [
        (
            ctl.when(a.at),
            a.actor,
            a.action,
            a.target,
            a.outcome,
            a.reason,
            a.request_id,
        )
        for a in actions
    ]
    headers = ["AT", "ACTOR", "ACTION", "TARGET", "OUTCOME", "REASON", "REQUEST ID"]
    return ctl.table(headers, rows)


# Commands.


def _breakers(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    if args.breakers_command == "list":
        listed = client.list_circuit_breakers()
        return listed, describe_breakers(listed.breakers), ctl.EXIT_OK
    action = "force_open" if args.breakers_command == "force" else args.breakers_command
    breaker = client.set_circuit_breaker(args.name, action, reason=args.reason)
    return breaker, describe_breakers([breaker]), ctl.EXIT_OK


def _audit(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    report = client.run_audit()
    code = ctl.EXIT_REFUSED if report.differences else ctl.EXIT_OK
    return report, describe_audit(report), code


def _override(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    if args.override_command == "release":
        if not args.tenant:
            raise ValueError(
                "override release needs --tenant: the tenant that owns the reservation"
            )
        answer = client.override_release(
            args.reservation_id, tenant=args.tenant, reason=args.reason, idempotency_key=args.key
        )
        return answer, ctl.describe_reservation(answer.reservation, answer.decision), ctl.EXIT_OK
    stock = client.override_adjust(
        args.sku, args.location, args.delta, reason=args.reason, idempotency_key=args.key
    )
    text = ctl.fields([("decision", ctl.describe_decision(stock.decision))])
    return stock, text + "\n\n" + ctl.describe_positions([stock.position]), ctl.EXIT_OK


def _operator_log(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    listed = client.list_operator_actions(page_size=args.limit)
    if not listed.actions:
        return listed, "no operator actions", ctl.EXIT_OK
    return listed, describe_actions(listed.actions), ctl.EXIT_OK


# Reconciling a count file.


@dataclass(frozen=True, slots=True)
class Count:
    line: int  # in the file, the header being line 1
    sku: str
    location: str
    on_hand: int


def read_counts(path: str) -> list[Count]:
    """The counts of a CSV file with a header naming sku, location and
    on_hand; ValueError listing every bad line by number."""
    try:
        with open(path, newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: not a CSV file ({e})") from None
    if not rows:
        raise ValueError(f"{path}: empty; expected a header {','.join(COUNT_COLUMNS)}")
    header = [name.strip().lower() for name in rows[0]]
    missing = [name for name in COUNT_COLUMNS if name not in header]
    if missing:
        raise ValueError(
            f"{path} line 1: the header must name {', '.join(COUNT_COLUMNS)} "
            f"(missing {', '.join(missing)})"
        )
    column = {name: header.index(name) for name in COUNT_COLUMNS}
    counts: list[Count] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(header):
            errors.append(f"line {number}: {len(row)} columns, the header has {len(header)}")
            continue
        sku, location, on_hand = (row[column[name]].strip() for name in COUNT_COLUMNS)
        if not sku:
            errors.append(f"line {number}: sku is empty")
        if not location:
            errors.append(f"line {number}: location is empty")
        if not on_hand.isdigit():  # ASCII digits only: no sign, no decimals
            errors.append(f"line {number}: on_hand {on_hand!r} is not a whole number >= 0")
        if not (sku and location and on_hand.isdigit()):
            continue
        first = seen.setdefault((sku, location), number)
        if first != number:
            errors.append(f"line {number}: {sku}@{location} is already counted on line {first}")
            continue
        counts.append(Count(number, sku, location, int(on_hand)))
    if errors:
        raise ValueError(f"{path}: " + "; ".join(errors))
    return counts


def on_hand_now(client: OperationsClient, counts: Sequence[Count]) -> dict[tuple[str, str], int]:
    """On hand of every position holdfast knows for the counted SKUs."""
    skus = sorted({count.sku for count in counts})
    known: dict[tuple[str, str], int] = {}
    for start in range(0, len(skus), MAX_FILTER_NAMES):
        answer = client.get_availability(skus[start : start + MAX_FILTER_NAMES])
        for position in answer.positions:
            known[(position.sku, position.location)] = position.on_hand
    return known


def _reconcile(client: OperationsClient, args: argparse.Namespace) -> Outcome:
    if args.apply and not (args.reason or "").strip():
        raise ValueError("reconcile --apply needs --reason (it is recorded with each adjustment)")
    counts = read_counts(args.counts)
    known = on_hand_now(client, counts)
    differences = [
        (count, known.get((count.sku, count.location)))
        for count in counts
        if known.get((count.sku, count.location)) != count.on_hand
    ]
    rows: list[tuple[object, ...]] = []
    found: list[dict[str, Any]] = []
    left = 0  # differences not applied
    for count, holdfast_has in differences:
        delta = count.on_hand - (holdfast_has or 0)
        outcome = "-"
        if args.apply:
            try:
                answer = client.override_adjust(
                    count.sku, count.location, delta, reason=args.reason
                )
                outcome = ctl.reason_name(answer.decision.reason)
            except HoldfastError as error:
                outcome = f"refused: {error.reason or error.code.name}"
                left += 1
        else:
            left += 1
        shown = "-" if holdfast_has is None else holdfast_has
        rows.append((count.line, count.sku, count.location, shown, count.on_hand, delta, outcome))
        found.append(
            {
                "line": count.line,
                "sku": count.sku,
                "location": count.location,
                "holdfast_on_hand": holdfast_has,
                "counted": count.on_hand,
                "delta": delta,
                "applied": outcome if args.apply else None,
            }
        )
    summary = f"{len(counts)} count(s), {len(differences)} difference(s)" + (
        f", {len(differences) - left} applied" if args.apply else ", none applied (--apply)"
    )
    text = summary
    if rows:
        headers = ["LINE", "SKU", "LOCATION", "HOLDFAST", "COUNTED", "DELTA", "APPLIED"]
        text += "\n\n" + ctl.table(headers, rows)
    code = ctl.EXIT_REFUSED if left else ctl.EXIT_OK
    return {"counts": len(counts), "differences": found}, text, code


COMMANDS: dict[str, Command] = {
    "breakers": _breakers,
    "audit": _audit,
    "override": _override,
    "operator-log": _operator_log,
    "reconcile": _reconcile,
    "rules": ctl_rules.rules,
}
