"""``holdfast ctl``: stock, holds and their history from the shell.

A person's window on a running server. It speaks only through the public
client (``holdfast.client``), like any caller would, so what it shows is what
a storefront would see. Tables are for reading; ``--json`` prints the answer's
proto as JSON for scripts (``show``: the reservation with its journaled
``events`` beside it).

Exit codes: 0 done, 1 the server refused the call, 2 invalid usage or
arguments (ours or the server's INVALID_ARGUMENT), 3 the server could not be
reached (or did not answer in time).

The operator's commands (breakers, audit, overrides, the operator log,
reconcile) are in ``ctl_ops``; they act as ``--actor``, else as ``$USER``.

A server with credentials (docs/auth.md) wants a bearer token: ctl sends the
one in ``$HOLDFAST_TOKEN`` (there is no flag, which ``ps`` would show).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from holdfast import ctl_ops
from holdfast.client import (
    Client,
    DeadlineExceeded,
    HoldfastError,
    InvalidArgument,
    OperationsClient,
    Unavailable,
)
from holdfast.client.calls import DEFAULT_TARGET
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2

__all__ = ["main"]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
DEFAULT_CTL_TIMEOUT = 5.0
# Events per ListEvents call when reading a whole history.
MAX_PAGE = 1_000

Line = tuple[str, str, int]


# Arguments.


def parse_line(text: str) -> Line:
    """``SKU:LOCATION:QTY`` (LOCATION may be empty: ``SKU::QTY``)."""
    parts = text.rsplit(":", 2)  # from the right: a SKU may contain ':'
    if len(parts) != 3 or not parts[0]:
        raise argparse.ArgumentTypeError(f"{text!r} is not SKU:LOCATION:QTY")
    sku, location, quantity = parts
    try:
        return sku, location, int(quantity)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: QTY {quantity!r} is not a number") from None


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment; without a zone it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(text: str) -> date:
    """A calendar day, exactly ``YYYY-MM-DD`` (what ``ship_by`` accepts)."""
    try:
        if _DAY.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a day YYYY-MM-DD")


def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    # Declared on the top parser (with defaults) and again on every command
    # (without), so `ctl --json show ID` and `ctl show ID --json` both work.
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    target = os.environ.get("HOLDFAST_TARGET", DEFAULT_TARGET)
    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--target",
        default=default(target),
        help=f"server host:port (env HOLDFAST_TARGET; now {target})",
    )
    group.add_argument("--tenant", default=default(None), help="tenant (x-holdfast-tenant)")
    group.add_argument(
        "--actor",
        default=default(None),
        help="who is acting (history; operator commands default to $USER)",
    )
    group.add_argument(
        "--json", action="store_true", default=default(False), help="print the answer as JSON"
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=default(DEFAULT_CTL_TIMEOUT),
        help=f"seconds for the call, retries included (default {DEFAULT_CTL_TIMEOUT:g})",
    )
    # TLS (docs/tls.md): any of these connects over TLS instead of plaintext.
    for flag, env, text in (
        ("--tls-ca", "HOLDFAST_TLS_CA", "PEM file of the CA that signed the server's certificate"),
        ("--tls-cert", "HOLDFAST_TLS_CERT", "PEM file of this client's certificate (mutual TLS)"),
        ("--tls-key", "HOLDFAST_TLS_KEY", "PEM file of this client's private key (mutual TLS)"),
    ):
        group.add_argument(
            flag, metavar="PEM", default=default(os.environ.get(env)), help=f"{text} (env {env})"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="holdfast ctl",
        description="Stock, holds and their history on a holdfast server.",
        epilog="A server with credentials is sent the bearer token in $HOLDFAST_TOKEN.",
    )
    _global_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
    ) -> argparse.ArgumentParser:
        made = sub.add_parser(name, help=text, description=text)
        _global_options(made, defaults=False)
        return made

    def key_option(made: argparse.ArgumentParser) -> None:
        made.add_argument("--key", help="idempotency key (default: a fresh one)")

    stock = commands.add_parser("stock", help="warehouse counts and positions")
    stock_commands = stock.add_subparsers(dest="stock_command", required=True, metavar="ACTION")
    made = command(stock_commands, "set", "the warehouse's absolute count of a position")
    made.add_argument("sku")
    made.add_argument("location")
    made.add_argument("on_hand", type=int)
    made.add_argument("--sequence", type=int, required=True, help="the warehouse's sequence")
    made.add_argument(
        "--as-of",
        type=parse_moment,
        help="when counted (ISO 8601, UTC if no zone; default now: repeating a count "
        "with the same --key needs the same --as-of)",
    )
    key_option(made)
    made = command(stock_commands, "adjust", "add or remove units on hand, with a reason")
    made.add_argument("sku")
    made.add_argument("location")
    made.add_argument("delta", type=int, help="units added (negative: removed)")
    made.add_argument("--reason", required=True, help="why: receipt, damaged, ...")
    key_option(made)
    made = command(stock_commands, "show", "positions and what is available")
    made.add_argument("--sku", nargs="+", action="extend", default=[], help="only these SKUs")
    made.add_argument("--location", nargs="+", action="extend", default=[], help="only these")

    made = command(commands, "reserve", "hold stock (all lines or none, unless --partial)")
    made.add_argument(
        "lines",
        nargs="+",
        type=parse_line,
        metavar="SKU:LOCATION:QTY",
        help="a line; an empty LOCATION (SKU::QTY) lets holdfast choose",
    )
    made.add_argument("--order-ref", default="", help="your order reference")
    made.add_argument("--channel", default="", help="sales channel")
    made.add_argument("--hold-seconds", type=int, default=0, help="hold length (0: default)")
    made.add_argument("--partial", action="store_true", help="hold what is available")
    made.add_argument(
        "--destination",
        default="",
        metavar="REGION",
        help="where the order ships to (the rule set's nearest strategy)",
    )
    key_option(made)
    made = command(commands, "allocate", "turn a hold into an order commitment")
    made.add_argument("reservation_id", metavar="ID")
    made.add_argument(
        "lines",
        nargs="*",
        type=parse_line,
        metavar="SKU:LOCATION:QTY",
        help="allocate exactly these units and release the rest (default: all held)",
    )
    made.add_argument(
        "--ship-by",
        type=parse_day,
        metavar="YYYY-MM-DD",
        help="the latest promised ship date accepted (later: refused CUTOFF_MISSED)",
    )
    key_option(made)
    made = command(commands, "release", "give held or allocated stock back")
    made.add_argument("reservation_id", metavar="ID")
    made.add_argument("--note", default="", help="why, for the history")
    key_option(made)
    made = command(commands, "renew", "move a hold's expiry")
    made.add_argument("reservation_id", metavar="ID")
    made.add_argument("--hold-seconds", type=int, default=0, help="from now (0: default)")
    key_option(made)
    made = command(commands, "show", "a reservation, its lines and its full history")
    made.add_argument("reservation_id", metavar="ID")
    made = command(commands, "history", "a reservation's journaled events, oldest first")
    made.add_argument("reservation_id", metavar="ID")
    made = command(commands, "watch", "print events as they commit, until interrupted")
    made.add_argument(
        "--from",
        dest="from_sequence",
        type=int,
        default=1,
        metavar="N",
        help="the first sequence to print (default 1: every retained event, then new ones)",
    )
    ctl_ops.add_commands(commands, command)
    return parser


# Output for people.


def when(stamp: Timestamp | None) -> str:
    """ISO 8601 UTC with milliseconds, or '-' when unset."""
    if stamp is None or (stamp.seconds == 0 and stamp.nanos == 0):
        return "-"
    moment = stamp.ToDatetime(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def state_name(state: pb.LineState.ValueType) -> str:
    return "-" if state == 0 else pb.LineState.Name(state).removeprefix("LINE_STATE_")


def reason_name(reason: reasons_pb2.ReasonCode.ValueType) -> str:
    return reasons_pb2.ReasonCode.Name(reason)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Aligned columns; numbers to the right, text to the left."""
    cells = [[str(cell) for cell in row] for row in rows]
    numeric = [
        bool(rows) and all(isinstance(row[i], int) for row in rows) for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def render(row: Sequence[str]) -> str:
        out = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ]
        return "  ".join(out).rstrip()

    return "\n".join([render(headers), *(render(row) for row in cells)])


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in pairs)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in pairs)


def describe_decision(decision: pb.Decision) -> str:
    owner = pb.Owner.Name(decision.owner).removeprefix("OWNER_").lower()
    text = f"{reason_name(decision.reason)} by {owner} at {when(decision.decided_at)}"
    text += f" (rule {decision.rule_version or '-'})"
    return text + (", replayed: the stored outcome of this key" if decision.replayed else "")


_TIMED = (pb.LINE_STATE_RESERVED, pb.LINE_STATE_EXPIRED)


def describe_reservation(reservation: pb.Reservation, decision: pb.Decision | None) -> str:
    pairs = [("reservation", reservation.reservation_id), ("state", state_name(reservation.state))]
    if decision is not None:
        pairs.append(("decision", describe_decision(decision)))
    pairs += [
        ("order ref", reservation.order_ref or "-"),
        ("channel", reservation.channel or "-"),
        ("created", when(reservation.created_at)),
        # The expiry matters while held (and says when a hold ran out).
        ("expires", when(reservation.expires_at) if reservation.state in _TIMED else "-"),
        ("rule", reservation.rule_version or "-"),
    ]
    lines = table(
        ["SKU", "LOCATION", "QUANTITY", "STATE", "PROMISED SHIP DATE"],
        [
            (ln.sku, ln.location, ln.quantity, state_name(ln.state), ln.promised_ship_date or "-")
            for ln in reservation.lines
        ],
    )
    return fields(pairs) + "\n\n" + lines


def describe_positions(positions: Sequence[pb.StockPosition]) -> str:
    headers = [
        "SKU",
        "LOCATION",
        "ON HAND",
        "RESERVED",
        "ALLOCATED",
        "PICKED",
        "SAFETY",
        "AVAILABLE",
        "SEQ",
        "AS OF",
        "OVERCOMMITTED SINCE",
    ]
    rows = [
        (
            p.sku,
            p.location,
            p.on_hand,
            p.reserved,
            p.allocated,
            p.picked,
            p.safety_stock,
            p.available,
            p.source_sequence,
            when(p.as_of),
            when(p.overcommitted_since),
        )
        for p in positions
    ]
    return table(headers, rows)


# Commands: each returns (the answer for --json, text for people).

Outcome = tuple[Message | dict[str, object], str]


def _stock(client: Client, args: argparse.Namespace) -> Outcome:
    if args.stock_command == "show":
        answer = client.get_availability(args.sku, args.location)
        if not answer.positions:
            return answer, f"no positions (as of {when(answer.as_of)})"
        return answer, describe_positions(answer.positions) + f"\n\nas of {when(answer.as_of)}"
    if args.stock_command == "set":
        stock = client.set_stock(
            args.sku,
            args.location,
            args.on_hand,
            source_sequence=args.sequence,
            as_of=args.as_of,
            idempotency_key=args.key,
        )
    else:
        stock = client.adjust_stock(
            args.sku, args.location, args.delta, reason=args.reason, idempotency_key=args.key
        )
    text = fields([("decision", describe_decision(stock.decision))])
    return stock, text + "\n\n" + describe_positions([stock.position])


def _reserve(client: Client, args: argparse.Namespace) -> Outcome:
    answer = client.reserve(
        args.lines,
        order_ref=args.order_ref,
        channel=args.channel,
        hold_seconds=args.hold_seconds,
        allow_partial=args.partial,
        destination_region=args.destination,
        idempotency_key=args.key,
    )
    return answer, describe_reservation(answer.reservation, answer.decision)


def _allocate(client: Client, args: argparse.Namespace) -> Outcome:
    answer = client.allocate(
        args.reservation_id, args.lines, ship_by=args.ship_by, idempotency_key=args.key
    )
    return answer, describe_reservation(answer.reservation, answer.decision)


def _release(client: Client, args: argparse.Namespace) -> Outcome:
    answer = client.release(args.reservation_id, note=args.note, idempotency_key=args.key)
    return answer, describe_reservation(answer.reservation, answer.decision)


def _renew(client: Client, args: argparse.Namespace) -> Outcome:
    answer = client.renew_hold(
        args.reservation_id, hold_seconds=args.hold_seconds, idempotency_key=args.key
    )
    return answer, describe_reservation(answer.reservation, answer.decision)


def _show(client: Client, args: argparse.Namespace) -> Outcome:
    reservation = client.get_reservation(args.reservation_id)
    text = describe_reservation(reservation, None)
    try:
        events = journaled_events(client, args.reservation_id).events
    except HoldfastError as error:
        if not _no_journal(error):
            raise
        # In memory there is no journal to read the history from.
        return reservation, f"{text}\n\nhistory not shown: {_one_line(error.message)}"
    # --json: the reservation as the server answers it, and its events as
    # `history --json` prints them (their body_json holds the notes).
    shown = json_format.MessageToDict(reservation, always_print_fields_with_no_presence=True)
    shown["events"] = [
        json_format.MessageToDict(event, always_print_fields_with_no_presence=True)
        for event in events
    ]
    return shown, f"{text}\n\nhistory\n{describe_events(events)}"


def _no_journal(error: HoldfastError) -> bool:
    """The server keeps no journal (it runs in memory): ListEvents cannot answer."""
    facts = error.facts
    # A breaker's refusal names the breaker; the missing journal does not.
    return (
        error.reason == "DEPENDENCY_UNAVAILABLE"
        and facts.get("dependency") == "journal"
        and "breaker" not in facts
    )


# The audit trail and the feed.

EVENT_HEADERS = ["SEQ", "AT", "KIND", "ACTOR", "REASON", "KEY", "RULE", "NOTE"]

# The change fields that say why, in the journal's JSON (a release's note,
# an adjustment's reason): an operator override's reason shows here.
_WHY_FIELDS = ("note", "adjustment_reason")


def event_note(event: pb.Event) -> str:
    try:
        change = json.loads(event.body_json)["change"]
        (fields_of_change,) = change.values()
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
    if not isinstance(fields_of_change, dict):
        return ""
    return next((str(fields_of_change[f]) for f in _WHY_FIELDS if fields_of_change.get(f)), "")


def event_row(event: pb.Event) -> tuple[int, str, str, str, str, str]:
    return (
        event.sequence,
        when(event.at),
        event.kind,
        event.actor or "-",
        reason_name(event.reason),
        event.idempotency_key or "-",
    )


def journaled_events(client: Client, reservation_id: str) -> pb.ListEventsResponse:
    """Every journaled event of the reservation, oldest first (every page,
    so a table of them is the whole history)."""
    answer = pb.ListEventsResponse()
    token = ""
    while True:
        page = client.list_events(
            reservation_id=reservation_id, page_size=MAX_PAGE, page_token=token
        )
        answer.events.extend(page.events)
        token = page.next_page_token
        if not token:
            return answer


def describe_events(events: Sequence[pb.Event]) -> str:
    """A reservation's history as `show` and `history` print it: one row per
    journaled event, the rule version that decided it and its note (an
    override's reason)."""
    rows = [
        (*event_row(event), event.rule_version or "-", event_note(event) or "-") for event in events
    ]
    return table(EVENT_HEADERS, rows)


def _history(client: Client, args: argparse.Namespace) -> Outcome:
    answer = journaled_events(client, args.reservation_id)
    if not answer.events:
        return answer, f"no journaled events for {args.reservation_id}"
    return answer, describe_events(answer.events)


def describe_event(event: pb.Event) -> str:
    """One line per event as it arrives (a stream cannot be aligned as a whole)."""
    seq, at, kind, actor, reason, key = event_row(event)
    about = event.reservation_id or ",".join(event.skus) or "-"
    return f"{seq:>8}  {at:<24}  {kind:<16}  {event.tenant}  {actor}  {reason}  {about}  {key}"


def watch(client: Client, args: argparse.Namespace) -> int:
    """Print each event as it commits until interrupted (or the server drains)."""
    start = args.from_sequence
    if start < 1:
        print("holdfast ctl: --from must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if not args.json:
        print(f"watching from sequence {start} (Ctrl-C to stop)", flush=True)
    try:
        for event in client.watch_events(start):
            if args.json:
                print(json_format.MessageToJson(event, indent=None), flush=True)
            else:
                print(describe_event(event), flush=True)
    except KeyboardInterrupt:
        pass
    return EXIT_OK


COMMANDS: dict[str, Callable[[Client, argparse.Namespace], Outcome]] = {
    "stock": _stock,
    "reserve": _reserve,
    "allocate": _allocate,
    "release": _release,
    "renew": _renew,
    "show": _show,
    "history": _history,
}


# Errors: one line on stderr, and the exit code says which kind.


def exit_code_for(error: HoldfastError) -> int:
    if isinstance(error, InvalidArgument):
        return EXIT_USAGE
    # Without a reason the failure came from the transport, not from holdfast:
    # nothing answered (a breaker-open DEPENDENCY_UNAVAILABLE has a reason).
    if isinstance(error, Unavailable | DeadlineExceeded) and not error.reason:
        return EXIT_UNREACHABLE
    return EXIT_REFUSED


def _one_line(text: str) -> str:
    return " ".join(text.split())


def describe_error(error: HoldfastError, target: str) -> str:
    if exit_code_for(error) == EXIT_UNREACHABLE:
        return _one_line(
            f"cannot reach holdfast at {target} ({error.code.name} after "
            f"{error.attempts} attempt(s): {error.message})"
        )
    text = _one_line(str(error))
    # Field violations the facts do not already name (the server usually puts
    # the first one in both).
    extra = [v for v in error.field_violations if v.field != error.facts.get("field")]
    if extra:
        text += " [" + "; ".join(f"{v.field}: {v.description}" for v in extra) + "]"
    return text


def error_json(error: HoldfastError) -> str:
    return json.dumps(
        {
            "code": error.code.name,
            "reason": error.reason,
            "message": error.message,
            "facts": error.facts,
            "field_violations": [
                {"field": v.field, "description": v.description} for v in error.field_violations
            ],
            "retry_after": error.retry_after,
            "request_id": error.request_id,
        }
    )


def login_name() -> str | None:
    """$USER, else the login name the system knows (None if it knows none)."""
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (OSError, KeyError):  # no passwd entry for this uid
        return None


def main(argv: list[str]) -> int:
    """Run one ctl command; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse has printed usage (or --help)
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    operator = args.command in ctl_ops.COMMANDS
    # An operator's action is recorded under a name: theirs unless told otherwise.
    actor = args.actor or (login_name() if operator else None)
    code = EXIT_OK
    try:
        client = OperationsClient(
            args.target,
            tenant=args.tenant,
            actor=actor,
            timeout=args.timeout,
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            # A bearer token only from the environment: a flag would show it in `ps`.
            token=os.environ.get("HOLDFAST_TOKEN") or None,
        )
        with client:
            if args.command == "watch":  # a stream, printed as it arrives
                return watch(client, args)
            if operator:
                answer, text, code = ctl_ops.COMMANDS[args.command](client, args)
            else:
                answer, text = COMMANDS[args.command](client, args)
    except HoldfastError as error:
        if args.json:
            print(error_json(error), file=sys.stderr)
        else:
            print(f"holdfast ctl: {describe_error(error, args.target)}", file=sys.stderr)
        return exit_code_for(error)
    except ValueError as error:  # a value the client cannot send (e.g. a bad time)
        print(f"holdfast ctl: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, PermissionError, IsADirectoryError) as error:  # a TLS file
        print(f"holdfast ctl: cannot read {error.filename}: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
    if args.json and isinstance(answer, Message):
        print(json_format.MessageToJson(answer, always_print_fields_with_no_presence=True))
    elif args.json:
        print(json.dumps(answer, indent=2))
    else:
        print(text)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
