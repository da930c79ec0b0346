"""holdfast.v1.OperationsService's rule-set calls: validate, deploy, list,
show, diff, shadow, activate and roll back (docs/rules.md).

The core parses a rule set and decides under it; :class:`RuleControl`
switches the engine and keeps the shadow's tally; the rule store keeps every
deployed text. This module checks the calls' fields, orders the durable
steps and answers in the proto's words.

Every call that changes something needs an actor and a reason (a deploy: a
comment) and is recorded in the operator log like any operator action
(rules.deploy, rules.activate, rules.rollback, rules.shadow_start,
rules.shadow_stop), through the OperationsServicer's recorder.

The engine's built-in rule set (``builtin-1``: the configured hold times, no
caps) has no text and is never stored: it is always listed, last, with empty
text; activating it by name, or rolling back from the first version ever
activated (or past a later activation of it), switches back to it, and it
can be shadowed (the engine builds its body). Its name cannot be deployed.

Switches (activate, rollback, shadow start) are made one at a time in a
process (``RuleService._switching``), from the first read of what is active
to the activation's history row, so the history is in the journal's order.
"""

# The method names are the proto's RPC names.
# ruff: noqa: N802

from __future__ import annotations

import asyncio
import difflib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from grpc.aio import ServicerContext as Context
from redis.exceptions import RedisError

from holdfast import MAX_NAME_BYTES, Engine, RuleSet, RuleSetInvalid, clock, convert, errors
from holdfast.errors import DEPENDENCY_UNAVAILABLE, Refusal
from holdfast.interceptors import current_call
from holdfast.logs import fields
from holdfast.operations import MAX_REASON, _actor
from holdfast.redis_ledger import RedisLedger
from holdfast.store.rule_store import (
    Activation,
    RuleStore,
    StoredRuleSet,
    VersionExists,
    checksum,
    encode_activation,
)
from holdfast.v1 import operations_pb2 as pb

if TYPE_CHECKING:
    from holdfast.config import Settings
    from holdfast.ledger import Ledger
    from holdfast.rule_control import RuleControl

log = logging.getLogger("holdfast.rules")

# The largest rule-set text accepted, in UTF-8 bytes.
MAX_TEXT_BYTES = 1 << 20
RULE_SET_VERSION_EXISTS = "RULE_SET_VERSION_EXISTS"
RULE_SET_NOT_FOUND = "RULE_SET_NOT_FOUND"
# Before a retry when the rule store's file cannot be written.
STORE_RETRY_S = 1.0
# Times a switch is decided again when another replica's switch committed
# first (a shared store), before the caller is asked to retry.
SWITCH_ATTEMPTS = 8
# The delay advised then.
SWITCH_RETRY_S = 0.1

T = TypeVar("T")


class Recorder(Protocol):
    """OperationsServicer._recorded: run an action, record it in the operator log."""

    def __call__(
        self,
        action: str,
        target: str | Callable[[], str],
        reason: str,
        context: Context,
        act: Callable[[Context], Awaitable[T]],
    ) -> Awaitable[T]: ...


async def open_rules(settings: Settings, ledger: Ledger) -> RuleStore | int:
    """The rule store, with the version the journal says is active installed
    in the engine; or the exit code (1) when start-up cannot go on."""
    try:
        if settings.redis_url:
            store = await RuleStore.open_redis(
                settings.redis_url, settings.redis_prefix, settings.journal_timeout_seconds
            )
        elif ledger.durable:
            store = await RuleStore.open(
                settings.database, settings.synchronous, settings.journal_timeout_seconds
            )
        else:
            store = RuleStore.in_memory()
        ledger.install_rules(store.rules)
        if isinstance(ledger, RedisLedger):
            ledger.rule_store = store
    except (sqlite3.Error, OSError) as e:
        log.error(
            f"cannot read the rule store in {settings.database}: {e}",
            extra=fields(database=settings.database),
        )
        return 1
    except LookupError as e:
        log.error(
            f"holdfast serve: {e}: this database's rule sets are missing; "
            "start from the database file that deployed it",
            extra=fields(database=settings.database),
        )
        return 1
    except ValueError as e:  # a stored text this holdfast no longer accepts
        log.error(f"holdfast serve: the active rule set cannot be installed: {e}")
        return 1
    # The version is logged with the listening line (its rule_version).
    return store


class RuleService:
    def __init__(self, ledger: Ledger, control: RuleControl, store: RuleStore) -> None:
        self._ledger = ledger
        self._control = control
        self._store = store
        # The version an engine starts with (no text, never stored).
        self._builtin = Engine().active_rules()
        # Set by the OperationsServicer that delegates to this service.
        self.recorded: Recorder | None = None
        # Switches (activate, rollback, shadow start) one at a time, each
        # from its first read of what is active to its history row: so the
        # activation history is in the journal's order, and a rollback picks
        # its target from the version really active when it switches.
        self._switching = asyncio.Lock()

    # Reads -------------------------------------------------------------------------

    async def ValidateRuleSet(
        self, request: pb.ValidateRuleSetRequest, context: Context
    ) -> pb.ValidateRuleSetResponse:
        try:
            _sized(request.text)
        except Refusal as refusal:
            await errors.abort(context, refusal)
        try:
            rules = RuleSet.parse(request.text)
        except RuleSetInvalid as invalid:
            return pb.ValidateRuleSetResponse(
                valid=False,
                errors=[
                    pb.RuleSetError(line=line or 0, field=field, message=message)
                    for line, field, message in _errors_of(invalid)
                ],
            )
        return pb.ValidateRuleSetResponse(
            valid=True, version=rules.version, checksum=checksum(request.text)
        )

    async def ListRuleSets(
        self, request: pb.ListRuleSetsRequest, context: Context
    ) -> pb.ListRuleSetsResponse:
        try:
            await self._fresh()
            active, shadow = self._versions_deciding()
        except Refusal as refusal:
            await errors.abort(context, refusal)
        versions = [self._message(stored, active, shadow) for stored in self._store.newest_first()]
        versions.append(self._builtin_message(self._builtin, active, shadow))  # the oldest there is
        return pb.ListRuleSetsResponse(
            versions=versions, active_version=active, shadow_version=shadow
        )

    async def GetRuleSet(
        self, request: pb.GetRuleSetRequest, context: Context
    ) -> pb.RuleSetVersion:
        try:
            _named("version", request.version)
            await self._fresh()
            active, shadow = self._versions_deciding()
            stored = self._store.get(request.version)
            if stored is None:
                if request.version != self._builtin:
                    raise _not_found(request.version)
                return self._builtin_message(self._builtin, active, shadow)
        except Refusal as refusal:
            await errors.abort(context, refusal)
        return self._message(stored, active, shadow, with_text=True)

    async def DiffRuleSets(
        self, request: pb.DiffRuleSetsRequest, context: Context
    ) -> pb.DiffRuleSetsResponse:
        try:
            _named("from_version", request.from_version)
            _named("to_version", request.to_version)
            await self._fresh()
            before = self._text_of(request.from_version)
            after = self._text_of(request.to_version)
        except Refusal as refusal:
            await errors.abort(context, refusal)
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=self._diff_label(request.from_version),
            tofile=self._diff_label(request.to_version),
        )
        # A last line without its newline still ends one in the diff.
        diff = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        return pb.DiffRuleSetsResponse(unified_diff=diff)

    async def GetShadowReport(
        self, request: pb.GetShadowReportRequest, context: Context
    ) -> pb.ShadowReport:
        try:
            return self._report()
        except Refusal as refusal:
            await errors.abort(context, refusal)

    # Changes -----------------------------------------------------------------------

    async def DeployRuleSet(
        self, request: pb.DeployRuleSetRequest, context: Context
    ) -> pb.RuleSetVersion:
        try:
            actor = _actor()
            comment = _said("comment", request.comment)
            text = _sized(request.text)
            rules = _parsed(text)
        except Refusal as refusal:
            await errors.abort(context, refusal)
        stored = StoredRuleSet(
            version=rules.version,
            checksum=checksum(text),
            author=rules.author,
            description=rules.description,
            comment=comment,
            deployed_at=clock.now_ms(),
            deployed_by=actor,
            text=text,
        )

        async def deploy(context: Context) -> pb.RuleSetVersion:
            try:
                if stored.version == self._builtin:
                    raise _exists(stored.version, stored.checksum, "built in")
                try:
                    kept = await self._store.deploy(stored)
                except VersionExists as e:
                    raise _exists(stored.version, stored.checksum, e.stored.checksum) from None
                except (sqlite3.Error, RedisError) as e:
                    raise _store_failed(e) from None
                active, shadow = self._versions_deciding()
            except Refusal as refusal:
                await errors.abort(context, refusal)
            return self._message(kept, active, shadow)

        return await self._recorded("rules.deploy", rules.version, comment, context, deploy)

    async def ActivateRuleSet(
        self, request: pb.ActivateRuleSetRequest, context: Context
    ) -> pb.RuleSetVersion:
        try:
            _actor()
            reason = _said("reason", request.reason)
            _named("version", request.version)
        except Refusal as refusal:
            await errors.abort(context, refusal)

        async def activate(context: Context) -> pb.RuleSetVersion:
            return await self._activate(lambda _: request.version, reason, context)

        async with self._switching:
            return await self._recorded(
                "rules.activate", request.version, reason, context, activate
            )

    async def RollbackRuleSet(
        self, request: pb.RollbackRuleSetRequest, context: Context
    ) -> pb.RuleSetVersion:
        try:
            _actor()
            reason = _said("reason", request.reason)
        except Refusal as refusal:
            await errors.abort(context, refusal)
        async with self._switching:
            return await self._roll_back(reason, context)

    async def _roll_back(self, reason: str, context: Context) -> pb.RuleSetVersion:
        """The rollback: its target chosen under the switching lock, from the
        history as it stands when the switch commits."""
        chosen: list[str] = []

        def previous_of(current: str) -> str:
            previous = self._store.active_before(current, self._builtin)
            if previous is None and current != self._builtin:
                previous = self._builtin  # before the first activation, the built-in set decided
            if previous is None:
                chosen[:] = [current]
                raise Refusal(
                    RULE_SET_NOT_FOUND,
                    f"no version was active before {current!r} to roll back to",
                    {"active_version": current},
                )
            chosen[:] = [f"{current} -> {previous}"]
            return previous

        async def roll_back(context: Context) -> pb.RuleSetVersion:
            return await self._activate(previous_of, reason, context)

        return await self._recorded(
            "rules.rollback", lambda: chosen[-1] if chosen else "-", reason, context, roll_back
        )

    async def StartShadow(
        self, request: pb.StartShadowRequest, context: Context
    ) -> pb.ShadowReport:
        try:
            _actor()
            reason = _said("reason", request.reason)
            _named("version", request.version)
        except Refusal as refusal:
            await errors.abort(context, refusal)

        async def start(context: Context) -> pb.ShadowReport:
            try:
                await self._fresh()
                rules = self._body(request.version)
                if request.version == self._ledger.rule_version:
                    raise _shadowing_active(request.version)
                self._control.start_shadow(rules)
                return self._report()
            except Refusal as refusal:
                await errors.abort(context, refusal)

        async with self._switching:  # not beside a switch that would make it the active one
            return await self._recorded(
                "rules.shadow_start", request.version, reason, context, start
            )

    async def StopShadow(self, request: pb.StopShadowRequest, context: Context) -> pb.ShadowReport:
        try:
            _actor()
            reason = _said("reason", request.reason)
            candidate = self._control.report()["candidate_version"]
        except Refusal as refusal:
            await errors.abort(context, refusal)

        async def stop(context: Context) -> pb.ShadowReport:
            try:
                final = self._report()
                self._control.stop_shadow()
            except Refusal as refusal:
                await errors.abort(context, refusal)
            return final

        return await self._recorded("rules.shadow_stop", candidate or "-", reason, context, stop)

    # Inside ------------------------------------------------------------------------

    async def _activate(
        self, choose: Callable[[str], str], reason: str, context: Context
    ) -> pb.RuleSetVersion:
        """Switch to the version ``choose`` names for the active one (or the
        Refusal it raises), durably (journaled and committed) before
        answering, its activation joining the history rollbacks read.
        Activating the active version changes nothing. On a shared store a
        switch another replica committed first (the core's plan guards the
        active rules) makes this one choose again on the caught-up copy."""
        call = current_call()
        try:
            for _ in range(SWITCH_ATTEMPTS):
                await self._fresh()
                version = choose(self._ledger.rule_version)
                rules = self._body(version)
                if self._ledger.rule_version == version:
                    break
                activation = Activation(version, clock.now_ms(), call.actor, reason)
                if await self._control.activate(rules, call.actor, encode_activation(activation)):
                    await self._ledger.settle()
                    await self._history(activation)
                    break
            else:
                raise _switches_kept_coming()
            active, shadow = self._versions_deciding()
            stored = self._store.get(version)
        except Refusal as refusal:
            await errors.abort(context, refusal)
        if stored is None:
            return self._builtin_message(version, active, shadow)
        return self._message(stored, active, shadow)

    def _body(self, version: str) -> RuleSet:
        """A version's parsed body: a deployed one's, or the built-in set's
        (never stored: the engine builds it, so a first activation can be
        undone and the built-in set shadowed); RULE_SET_NOT_FOUND otherwise."""
        rules = self._store.rules(version)
        if rules is None and version == self._builtin:
            rules = self._ledger.builtin_rules(version)
        if rules is None:
            raise _not_found(version)
        return rules

    async def _fresh(self) -> None:
        """What other replicas deployed and activated (on a shared store),
        and the version active now (this replica's copy caught up with the
        switches other replicas committed)."""
        try:
            await self._store.refresh()
        except RedisError as e:
            raise _store_failed(e) from None
        await self._ledger.fresh()

    async def _history(self, activation: Activation) -> None:
        try:
            await self._store.activated(activation)
        except (sqlite3.Error, RedisError):
            # The switch is durable in the journal (which is what decides and
            # what a restart reads); only the history a rollback reads is
            # short of it, and it is kept in memory until the next restart.
            log.exception(
                "cannot write the rule activation history",
                extra=fields(rule_version=activation.version),
            )

    def _recorded(
        self,
        action: str,
        target: str | Callable[[], str],
        reason: str,
        context: Context,
        act: Callable[[Context], Awaitable[T]],
    ) -> Awaitable[T]:
        assert self.recorded is not None, "the OperationsServicer sets its recorder"
        return self.recorded(action, target, reason, context, act)

    def _versions_deciding(self) -> tuple[str, str]:
        """The active version and the shadowed one ("" when none)."""
        return self._ledger.rule_version, self._control.report()["candidate_version"]

    def _text_of(self, version: str) -> str:
        stored = self._store.get(version)
        if stored is not None:
            return stored.text
        if version == self._builtin:
            return ""  # the built-in set: no text (its label in a diff says so)
        raise _not_found(version)

    def _diff_label(self, version: str) -> str:
        """A diff's file name: the version, and for the built-in set that it
        has no text (the core gives it no text form), so its side is empty."""
        if version == self._builtin and self._store.get(version) is None:
            return f"{version} (built in: no text)"
        return version

    def _message(
        self, stored: StoredRuleSet, active: str, shadow: str, *, with_text: bool = False
    ) -> pb.RuleSetVersion:
        if stored.version == active:
            state = pb.ACTIVE
        elif stored.version == shadow:
            state = pb.SHADOW
        else:
            state = pb.DEPLOYED
        message = pb.RuleSetVersion(
            version=stored.version,
            checksum=stored.checksum,
            author=stored.author,
            description=stored.description,
            comment=stored.comment,
            deployed_at=convert.timestamp(stored.deployed_at),
            deployed_by=stored.deployed_by,
            state=state,
            text=stored.text if with_text else "",
        )
        activated_at = self._store.last_activated_at(stored.version)
        if activated_at is not None:
            message.activated_at.CopyFrom(convert.timestamp(activated_at))
        return message

    def _builtin_message(self, version: str, active: str, shadow: str) -> pb.RuleSetVersion:
        summary = self._ledger.builtin_rules(version).summary()
        return pb.RuleSetVersion(
            version=version,
            author="holdfast",
            description=(
                "built in (no text): the server's configured hold times "
                f"(default {summary['default_hold_seconds']} s, "
                f"at most {summary['max_hold_seconds']} s), {summary['strategy']}, "
                f"{'split' if summary['allow_split'] else 'no split'}, no caps, "
                "no safety stock beyond the positions' own"
            ),
            state=(
                pb.ACTIVE if version == active else pb.SHADOW if version == shadow else pb.DEPLOYED
            ),
        )

    def _report(self) -> pb.ShadowReport:
        report: dict[str, Any] = self._control.report()
        message = pb.ShadowReport(
            candidate_version=report["candidate_version"],
            active_version=report["active_version"],
            decisions_compared=report["compared"],
            divergences=[
                pb.ShadowReport.KindCount(kind=kind, count=count)
                for kind, count in report["counts"].items()
            ],
            samples=[
                pb.ShadowReport.Sample(
                    kind=sample["kind"],
                    action=sample["action"],
                    active_reason=sample["active"],
                    candidate_reason=sample["candidate"],
                    at=convert.timestamp(sample["at_ms"]),
                    request_id=sample["request_id"],
                )
                for sample in report["samples"]
            ],
        )
        if report["since_ms"] is not None:
            message.since.CopyFrom(convert.timestamp(report["since_ms"]))
        return message


# Fields --------------------------------------------------------------------------


def _said(field: str, value: str) -> str:
    """A reason or comment: why, in 1-1024 characters."""
    if not value.strip():
        raise Refusal.invalid(field, f"must say why (1-{MAX_REASON} characters)")
    if len(value) > MAX_REASON:
        raise Refusal.invalid(field, f"must be at most {MAX_REASON} characters")
    return value


def _named(field: str, value: str) -> str:
    if not value:
        raise Refusal.invalid(field, "must name a rule-set version")
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        # No version is longer (the core refuses such a name); not repeated back.
        raise Refusal.invalid(field, f"must be at most {MAX_NAME_BYTES} bytes")
    return value


def _sized(text: str) -> str:
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise Refusal.invalid(
            "text", f"must be at most {MAX_TEXT_BYTES} bytes (1 MiB); it is {size} bytes"
        )
    return text


def _errors_of(invalid: RuleSetInvalid) -> list[tuple[int | None, str, str]]:
    found: list[tuple[int | None, str, str]] = invalid.args[1]
    return found


def _parsed(text: str) -> RuleSet:
    """The parsed rule set; INVALID_ARGUMENT with every error as a field violation."""
    try:
        return RuleSet.parse(text)
    except RuleSetInvalid as invalid:
        found = _errors_of(invalid)
        refusal = Refusal.invalid(
            "text", "; ".join(f"{_where(line, field)}: {message}" for line, field, message in found)
        )
        refusal.violations = [(_where(line, field), message) for line, field, message in found]
        raise refusal from None


def _where(line: int | None, field: str) -> str:
    return field if line is None else f"line {line}: {field}"


def _switches_kept_coming() -> Refusal:
    return Refusal(
        "OVERLOADED",
        f"other rule-set switches committed first {SWITCH_ATTEMPTS} times; nothing was "
        "changed, retry",
        {"resource": "rule_switches", "attempts": SWITCH_ATTEMPTS},
        retry_after_s=SWITCH_RETRY_S,
    )


def _not_found(version: str) -> Refusal:
    return Refusal(RULE_SET_NOT_FOUND, f"no rule set {version!r} is deployed", {"version": version})


def _shadowing_active(version: str) -> Refusal:
    # No reason code in the core's catalogue says "already active" (a
    # FAILED_PRECONDITION one would be a core change); the version field is
    # what is wrong, so INVALID_ARGUMENT names it.
    return Refusal.invalid(
        "version",
        f"{version!r} is the active rule set: a shadow of it would decide every request "
        "as the active set does and never diverge; shadow another version",
    )


def _exists(version: str, offered: str, stored: str) -> Refusal:
    return Refusal(
        RULE_SET_VERSION_EXISTS,
        f"rule set {version!r} is already deployed with other text; a deployed version "
        "never changes: give the new text a new version",
        {"version": version, "checksum": offered, "stored_checksum": stored},
    )


def _store_failed(error: sqlite3.Error | RedisError) -> Refusal:
    dependency = "redis" if isinstance(error, RedisError) else "journal"
    return Refusal(
        DEPENDENCY_UNAVAILABLE,
        f"the rule store cannot be used ({error}); nothing was changed, retry later",
        {"dependency": dependency, "detail": str(error)},
        STORE_RETRY_S,
    )
