"""The process's one engine, and the seam where durability plugs in.

Servicers never touch :class:`holdfast.Engine` directly: they hand the ledger
a request in the engine's batch-item form and get the core's outcome back.
After every decision the ledger drains the engine's journal: in memory mode
the events are dropped; with a store they join the group commit, and the
servicer answers only after :meth:`Ledger.settle` says they are durable.

The order a servicer follows: ``decide`` (refused before the engine is asked
when the commit queue is full or the journal is failing), build the answer
from the state the decision left (no await in between), ``await settle()``,
answer. Reads do the same, so nothing is shown before it is durable.

With a store, every call that decides goes through the ``journal`` circuit
breaker, as resilience4j decorates each call: ``decide`` takes a permit (or
is refused, DEPENDENCY_UNAVAILABLE naming the breaker), ``settle`` reports
how the call's commit went (its wait is the call's duration, so a journal
that commits slowly opens the breaker too). The permit is remembered on the
call (:func:`holdfast.interceptors.current_call`); one never reported (the
call ended another way) is given back, so HALF_OPEN never waits for a result
that cannot come. Reads that only settle, and housekeeping, take none.

Everything here runs on the event loop's thread, one call at a time, so the
engine (which takes ``&mut self``) is never entered twice at once.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from holdfast import Engine, Outcome, clock
from holdfast.breakers import JOURNAL
from holdfast.config import Settings
from holdfast.errors import Refusal
from holdfast.interceptors import Call, current_call
from holdfast.logs import fields
from holdfast.metrics import HOLD_ENDINGS, Census, JournalState
from holdfast.store import sqlite
from holdfast.store.events import EventJournal, JournalReader
from holdfast.store.group_commit import GroupCommit, JournalWriteError

if TYPE_CHECKING:  # names of the stub only
    from holdfast import RuleSet
    from holdfast._core import (
        AuditDifference,
        BatchItem,
        Divergence,
        EventSummary,
        PositionView,
        ReservationView,
        RuleSetSummary,
    )
    from holdfast.breakers import Breakers
    from holdfast.metrics import Metrics

log = logging.getLogger("holdfast.ledger")

# The reason code of an expiry's journal event (how a swept hold is told apart).
HOLD_EXPIRED = "HOLD_EXPIRED"


def engine_options(settings: Settings) -> dict[str, Any]:
    return {
        "default_hold_ms": settings.default_hold_seconds * 1000,
        "max_hold_ms": settings.max_hold_seconds * 1000,
        "idempotency_retention_ms": settings.idempotency_retention_seconds * 1000,
        "node_id": settings.node_id,
        # 0: no cap (the core's tenant caps).
        "tenant_max_open_holds": settings.tenant_max_open_holds,
        "tenant_max_held_units": settings.tenant_max_held_units,
    }


class Ledger:
    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self._engine: Engine | None = engine
        self._settings = settings or Settings(in_memory=True)
        self.store: GroupCommit | None = None
        self._snapshot_seq = engine.next_seq - 1
        # How the durable state was loaded at start-up (logged by the server).
        self.loaded: dict[str, Any] = {}
        # Business outcomes counted as decided (set by the server; None: not counted).
        self.metrics: Metrics | None = None
        # The process's circuit breakers (set by the server; None: unguarded).
        self.breakers: Breakers | None = None
        # Fed after every decision and batch with the shadow candidate's new
        # divergences and the count of decisions newly compared (set by
        # holdfast.rule_control.RuleControl; None: nobody keeps the tally).
        self.shadow_listener: Callable[[list[Divergence], int], None] | None = None
        # The candidate shadowed, set again on an engine rebuilt after a failed
        # commit (before its first decision), and the engine's count of
        # decisions compared when last fed (it restarts at zero with the engine).
        self._shadow: RuleSet | None = None
        self._shadow_compared = 0
        # Tasks that will give back their call's unreported journal permit when they end.
        self._guarded: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    @classmethod
    def in_memory(cls, settings: Settings) -> Ledger:
        return cls(Engine(**engine_options(settings)), settings)

    @classmethod
    async def open(cls, settings: Settings) -> Ledger:
        """The durable ledger: the latest snapshot and the journal after it
        (read in a thread), then the writer thread started."""
        options = engine_options(settings)
        started = clock.monotonic_s()

        def load() -> sqlite.Rebuilt:
            conn = sqlite.connect(
                settings.database, settings.synchronous, settings.journal_timeout_seconds
            )
            try:
                return sqlite.rebuild(conn, options)
            finally:
                conn.close()

        rebuilt = await asyncio.to_thread(load)
        ledger = cls(rebuilt.engine, settings)
        ledger._snapshot_seq = rebuilt.snapshot_seq
        ledger.store = GroupCommit(
            settings.database,
            synchronous=settings.synchronous,
            lock_timeout_s=settings.journal_timeout_seconds,
            probe_s=settings.journal_probe_seconds,
            queue_limit=settings.commit_queue_limit,
            retention_ms=round(settings.audit_retention_days * 86_400_000),
            engine_options=options,
            committed_seq=rebuilt.committed_seq,
            image=rebuilt.image,
            on_failed=ledger._journal_failed,
            on_rebuilt=ledger._rebuilt,
            on_recovered=lambda: None,
            on_committed=ledger._group_committed,
        )
        ledger.store.start()
        ledger.loaded = {
            "database": settings.database,
            "synchronous": settings.synchronous,
            "snapshot_seq": rebuilt.snapshot_seq,
            "replayed_events": rebuilt.replayed,
            "committed_seq": rebuilt.committed_seq,
            "startup_s": round(clock.monotonic_s() - started, 3),
        }
        return ledger

    @property
    def durable(self) -> bool:
        """Whether an answered decision survives a restart."""
        return self.store is not None

    @property
    def committed_seq(self) -> int:
        """The highest durable event seq (in memory: the highest decided)."""
        if self.store is not None:
            return self.store.committed_seq
        return self._live.next_seq - 1

    async def wait_committed(self, after_seq: int) -> None:
        """Return once an event after ``after_seq`` is durable."""
        if self.store is not None:
            await self.store.wait_committed(after_seq)

    def reader(self) -> sqlite3.Connection:
        """A query-only connection to the journal, for the calling thread."""
        if self.store is None:
            raise RuntimeError("no journal in memory mode")
        return self.store.reader()

    @property
    def rule_version(self) -> str:
        return self._live.rule_version

    # Decisions -------------------------------------------------------------------

    def would_decide(self, item: BatchItem) -> bool:
        """Whether deciding ``item`` would make a new decision (the core's
        rule: not when its limits refuse it or its idempotency key is live)."""
        return self._live.would_decide(item)

    def decide(self, item: BatchItem) -> Outcome:
        """One request, ``(operation, tenant, key, actor, now, *arguments)``.

        Calls the engine's method of that name directly: a single decision is
        too small to be worth releasing the GIL as the batch call does.
        """
        self._admit()
        try:
            method = getattr(self._live, item[0])
            outcome = cast(Outcome, method(*item[1:]))
            self._count_expired(self._record(calls=1))
            self._feed_shadow()
            if self.metrics is not None:
                self.metrics.decided(item, outcome, self._held_units(item, outcome))
                self._count_hold_end(item, outcome)
        except BaseException:
            self._give_back(current_call())  # nothing reached the journal
            raise
        return outcome

    async def decide_async(self, item: BatchItem) -> Outcome:
        """:meth:`decide` for callers that serve every backend: here it never
        waits, so the answer is still built from the state the decision left."""
        return self.decide(item)

    async def decide_batch_async(self, items: Sequence[BatchItem]) -> list[Outcome]:
        return self.decide_batch(items)

    async def fresh(self) -> None:
        """Before a read: this process's engine is the state (a shared store's
        ledger catches up here)."""

    async def sweep_due(self, now: int) -> list[str]:
        """The expiry sweeper's step (see :meth:`expire_due`)."""
        return self.expire_due(now)

    async def snapshot_async(self, now: int) -> bool:
        """Housekeeping's snapshot (see :meth:`snapshot`)."""
        return self.snapshot(now)

    async def purge_async(self, now: int) -> int:
        """Housekeeping's purge (see :meth:`purge_idempotency`)."""
        return self.purge_idempotency(now)

    def journal_reader(self) -> EventJournal:
        """The audit trail and feed's reader of the journal."""
        return JournalReader(self.reader)

    def decide_batch(self, items: Sequence[BatchItem]) -> list[Outcome]:
        """Many requests in order, in one crossing into the core."""
        self._admit()
        try:
            outcomes = self._live.execute_batch(list(items))
            self._count_expired(self._record(calls=1))
            self._feed_shadow()
            if self.metrics is not None:
                for item, outcome in zip(items, outcomes, strict=True):
                    self.metrics.decided(item, outcome, self._held_units(item, outcome))
                    self._count_hold_end(item, outcome)
        except BaseException:
            self._give_back(current_call())  # nothing reached the journal
            raise
        return outcomes

    # Rule sets (holdfast.rule_control): the switch is a decision like any
    # other, so it is refused while the journal is failing and settled after.

    def activate_rules(self, rules: RuleSet, actor: str, now: int) -> None:
        """Decide with ``rules`` from the next request on (journaled)."""
        self._admit()
        try:
            self._live.activate_rules(rules, actor, now)
            self._record(calls=1)
        except BaseException:
            self._give_back(current_call())  # nothing reached the journal
            raise

    async def activate_rules_async(
        self, rules: RuleSet, actor: str, now: int, activation: str | None = None
    ) -> bool:
        """:meth:`activate_rules` for callers that serve every backend; False
        when another switch committed first (only a shared store, where
        ``activation``, the history record, is committed with the switch)."""
        self.activate_rules(rules, actor, now)
        return True

    def set_shadow(self, candidate: RuleSet | None) -> None:
        """Decide every new request under ``candidate`` too, with no effect (None: stop)."""
        self._live.set_shadow(candidate)
        self._shadow = candidate
        self._shadow_compared = 0

    def shadow_version(self) -> str | None:
        return self._live.shadow_version()

    def active_rules_summary(self) -> RuleSetSummary:
        """The deciding settings of the active rule set (its feasibility policy, ...)."""
        return self._live.active_rules_summary()

    # Where the bodies of deployed versions come from (holdfast.store.rule_store);
    # None until the server says (in memory tests: the engine's own rules stay).
    _rule_bodies: Callable[[str], RuleSet | None] | None = None

    def install_rules(self, bodies: Callable[[str], RuleSet | None]) -> str:
        """Give the engine the body of the version its journal says is active,
        now and after every rebuild; that version. The journal names versions
        only: their bodies live in the rule store. LookupError when ``bodies``
        has no such version (and it is not the engine's built-in one)."""
        self._rule_bodies = bodies
        return self._install_rules(self._live)

    def _install_rules(self, engine: Engine) -> str:
        version = engine.rule_version
        rules = None if self._rule_bodies is None else self._rule_bodies(version)
        if rules is not None:
            engine.install_rules(rules)
        elif self._rule_bodies is not None and version != self._builtin_rules():
            raise LookupError(
                f"the journal says rule set {version!r} is active, "
                "but the rule store has no such version"
            )
        return version

    def builtin_rules(self, version: str) -> RuleSet:
        """The built-in rule set under its version, to activate it again."""
        return self._live.builtin_rules(version)

    def _builtin_rules(self) -> str:
        """The version of the rule set an engine starts with: never stored,
        its body the engine's own (a restored engine has it under another name)."""
        return Engine(**engine_options(self._settings)).active_rules()

    def _install_rules_after_rebuild(self, engine: Engine) -> None:
        try:
            self._install_rules(engine)
        except LookupError:
            # Cannot happen while deployed versions are never deleted; if it
            # does, deciding under the built-in set is logged loudly.
            log.exception("the rebuilt engine's active rule set is not in the rule store")

    async def settle(self) -> int | None:
        """Wait until everything decided so far is durable; the commit time
        (unix ms) of the transaction that made it so, None in memory mode.
        Raises :class:`Refusal` (DEPENDENCY_UNAVAILABLE) if it never will be.

        The call's journal permit, if it took one, is reported here: its
        commit wait as the duration, or a failure."""
        if self.store is None:
            return None
        call = current_call()
        started = clock.monotonic_s()
        try:
            committed_at = await self.store.settle()
        except JournalWriteError as e:
            self._report(call, clock.monotonic_s() - started, ok=False)
            refusal = Refusal.journal_unavailable(self._retry_s, str(e))
            raise self._with_breaker(refusal) from None
        except BaseException:
            # Cancelled (the caller went away): says nothing of the journal.
            self._give_back(call)
            raise
        waited = clock.monotonic_s() - started
        self._report(call, waited, ok=True)
        if self.metrics is not None:
            self.metrics.waited_for_commit(waited)
        return committed_at

    def expire_due(self, now: int) -> list[str]:
        """Expire every hold due at ``now``; the expired reservation ids.

        Not while the journal is failing: an expiry is a change, and no change
        is served that is not durable."""
        if self.store is not None and not self.store.healthy:
            return []
        expired = self._live.expire_due(now)
        self._count_expired(self._record(calls=0))
        return expired

    def purge_idempotency(self, now: int) -> int:
        """Forget idempotency keys past their retention (journaled)."""
        if self.store is not None and not self.store.healthy:
            return 0
        purged = self._live.purge_idempotency(now)
        self._record(calls=0)
        return purged

    def snapshot(self, now: int) -> bool:
        """Queue a snapshot of the state after every decided event, written
        in the same transaction as the last of them. False if skipped."""
        if self.store is None or not self.store.healthy:
            return False
        engine = self._live
        seq = engine.next_seq - 1
        if seq == self._snapshot_seq:
            return False
        differences = engine.audit()
        if differences:
            # Start-up refuses a snapshot that breaks the invariants, so an
            # inconsistent state is never written as one: the journal alone
            # rebuilds the state its decisions made.
            log.error(
                "snapshot skipped: the state disagrees with its reservation lines",
                extra=fields(seq=seq, differences=len(differences)),
            )
            return False
        self.store.append([], calls=0, snapshot=(seq, now, engine.snapshot()))
        self._snapshot_seq = seq
        return True

    async def close(self) -> None:
        """At graceful shutdown: a snapshot, everything committed, the writer stopped."""
        if self.store is None:
            return
        if self.snapshot(clock.now_ms()):
            log.info("snapshot at shutdown", extra=fields(seq=self._snapshot_seq))
        try:
            await self.store.settle()
        except JournalWriteError:
            log.error("the last transactions did not commit at shutdown")
        await self.store.close()

    # Reads first expire what is due at their ``now``, as every decision
    # does, so a hold past its time is never shown as held.

    def reservation(self, tenant: str, reservation_id: str, now: int) -> ReservationView | None:
        self.expire_due(now)
        return self._live.reservation(tenant, reservation_id)

    def positions(self, skus: list[str], locations: list[str], now: int) -> list[PositionView]:
        self.expire_due(now)
        return self._live.positions(skus, locations)

    # Views of what a decision just changed: no expiry in between, so the
    # answer shows the state the decision left.

    def encode_results(
        self, tenant: str, outcomes: Sequence[Outcome], kinds: Sequence[str]
    ) -> list[bytes | None]:
        """Each accepted outcome's ``OperationResult``, encoded by the core
        from the state as it is now (None for a refusal). A durable ledger's
        decisions leave ``committed_at`` out: the caller adds it once known."""
        answers = [0 if kind == "reserve" else 1 for kind in kinds]
        return self._live.encode_results(tenant, list(outcomes), answers, self.durable)

    def reservation_after(self, tenant: str, reservation_id: str) -> ReservationView | None:
        return self._live.reservation(tenant, reservation_id)

    def position_after(self, sku: str, location: str) -> PositionView | None:
        return self._live.position(sku, location)

    # The consistency audit and its drills (holdfast.audit, OperationsService).

    def audit(self, now: int) -> tuple[int, list[AuditDifference]]:
        """The positions checked and every stored bucket that disagrees with
        its reservation lines at ``now`` (due holds expired first, as every
        read does). Reported only: a difference is never repaired."""
        self.expire_due(now)
        engine = self._live
        return len(engine.positions()), engine.audit()

    def inject_bucket_drift(self, sku: str, location: str, bucket: str, delta: int) -> bool:
        """Fault injection for audit drills: move a stored bucket without its
        lines, in memory only. False if the position is unknown or the bucket
        would leave its range; ValueError for an unknown bucket."""
        return self._live.inject_bucket_drift(sku, location, bucket, delta)

    def open_holds(self) -> int:
        # Logged at exit, so never refused (0 while a failed commit is rebuilt).
        return 0 if self._engine is None else self._engine.open_holds()

    # For metrics, read at scrape time on the event loop ----------------------------

    def census(self) -> Census | None:
        """What the engine holds now; None while a failed commit is rebuilt."""
        engine = self._engine
        if engine is None:
            return None
        overcommitted = engine.overcommitted()
        since = [p["overcommitted_since"] for p in overcommitted]
        known = [s for s in since if s is not None]
        oldest_hold, overdue, overdue_since = engine.hold_ages(clock.now_ms())
        return Census(
            open_holds=engine.open_holds(),
            reservations=engine.reservation_count(),
            idempotency_keys=engine.idempotency_key_count(),
            overcommitted_positions=len(overcommitted),
            oldest_overcommitted_since=min(known) if known else None,
            oldest_hold_placed_at=oldest_hold,
            overdue_holds=overdue,
            oldest_overdue_due=overdue_since,
        )

    def journal_state(self) -> JournalState | None:
        """The journal's counters and health; None in memory mode."""
        store = self.store
        if store is None:
            return None
        return JournalState(
            healthy=store.healthy,
            transactions=store.transactions,
            events=store.events_written,
            # GroupCommit keeps no public depth yet: its count of calls waiting.
            queue_depth=store._pending_calls,
            queue_limit=self._settings.commit_queue_limit,
        )

    # Inside ------------------------------------------------------------------------

    @property
    def _live(self) -> Engine:
        """The engine, unless a failed commit left it holding what is not durable."""
        if self._engine is None:
            raise Refusal.journal_unavailable(self._retry_s, "rebuilding from the journal")
        return self._engine

    @property
    def _retry_s(self) -> float:
        return self._settings.journal_probe_seconds

    def _admit(self) -> None:
        """Refuse a commitment before the engine decides it, when it could not
        be made durable in time (queue full), the journal breaker refuses, or
        the journal cannot be written at all (a failed commit, still probing)."""
        store = self.store
        if store is None:
            return
        if store.full:
            # Our own bound, not the journal's fault: no permit, nothing reported.
            raise Refusal.overloaded(self._settings.commit_queue_limit, store.retry_after_s)
        breakers = self.breakers
        if breakers is None:
            if not store.healthy:
                raise Refusal.journal_unavailable(self._retry_s, "the last commit failed")
            return
        call = current_call()
        if not call.journal_permit:  # a call deciding twice holds one permit
            breakers.acquire(JOURNAL)  # raises Refusal when refused
            self._hold(call)
        if not store.healthy:
            # A call the journal cannot take is a failed call: the breaker
            # counts it, so a journal that stays down opens it.
            self._report(call, 0.0, ok=False)
            refusal = Refusal.journal_unavailable(self._retry_s, "the last commit failed")
            raise self._with_breaker(refusal)

    def _hold(self, call: Call) -> None:
        """Remember the call's permit; give it back when its task ends unreported."""
        call.journal_permit = True
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no loop: the caller reports or gives it back itself
            return
        if task is not None and task not in self._guarded:
            self._guarded.add(task)
            task.add_done_callback(lambda _: self._give_back(call))

    def _report(self, call: Call, seconds: float, *, ok: bool) -> None:
        """The call's journal permit's result (the core judges slow or not)."""
        if self.breakers is None or not call.journal_permit:
            return
        call.journal_permit = False
        if ok:
            self.breakers.succeeded(JOURNAL, seconds)
        else:
            self.breakers.failed(JOURNAL, seconds)

    def _give_back(self, call: Call) -> None:
        """A permit whose call never reached the journal."""
        if self.breakers is None or not call.journal_permit:
            return
        call.journal_permit = False
        self.breakers.release(JOURNAL)

    def _with_breaker(self, refusal: Refusal) -> Refusal:
        """The journal breaker's name and state among a refusal's facts."""
        if self.breakers is not None:
            refusal.facts.update(breaker=JOURNAL, state=self.breakers.state(JOURNAL))
        return refusal

    def _group_committed(self, calls: int, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.group_committed(calls, seconds)

    def _count_expired(self, events: list[tuple[int, bytes]]) -> None:
        # Every decision sweeps due holds first, inside the engine; the engine
        # counts them, so nothing here sweeps a second time to count.
        expired = self._live.take_expired_count()
        if not expired:
            return
        if self.metrics is not None:
            self.metrics.expired(expired)
        if self.metrics is None and not log.isEnabledFor(logging.INFO):
            return
        # Each one's line and duration: only then are the drained events
        # read, until every expiry counted is found (a sweep's come first).
        for _, body in events:
            summary = Engine.event_summary(body)
            if summary["reason"] == HOLD_EXPIRED and summary["reservation_id"] is not None:
                self._hold_expired(summary)
                expired -= 1
                if not expired:
                    break

    def _hold_expired(self, summary: EventSummary) -> None:
        """An expiry is a decision: its log line (one per hold, as each decided
        call has its own; built only when read) and how long the hold lasted."""
        reservation_id = summary["reservation_id"]
        assert reservation_id is not None
        if log.isEnabledFor(logging.INFO):
            log.info(
                "hold expired",
                extra=fields(
                    reservation_id=reservation_id,
                    tenant=summary["tenant"],
                    rule_version=summary["rule_version"],
                    reason=summary["reason"],
                ),
            )
        self._count_hold_end_of(summary["tenant"], reservation_id, "expire", summary["at"])

    def _count_hold_end(self, item: BatchItem, outcome: Outcome) -> None:
        """How long the hold lasted, if this allocate or release ended one."""
        if outcome.accepted and not outcome.replayed and outcome.reservation_id is not None:
            self._count_hold_end_of(item[1], outcome.reservation_id, item[0], outcome.decided_at)

    def _count_hold_end_of(self, tenant: str, reservation_id: str, action: str, at: int) -> None:
        if self.metrics is not None and action in HOLD_ENDINGS:
            view = self._live.reservation(tenant, reservation_id)
            self.metrics.hold_ended(view, action, at)

    def _feed_shadow(self) -> None:
        # No shadow (almost always): nothing to take, and no crossing to ask.
        if self.shadow_listener is None or self._shadow is None:
            return
        engine = self._live
        compared = engine.shadow_decisions()
        newly, self._shadow_compared = compared - self._shadow_compared, compared
        self.shadow_listener(engine.take_divergences(), newly)

    def _held_units(self, item: BatchItem, outcome: Outcome) -> int | None:
        """Units a partial reserve holds (a full one holds what it asked for)."""
        if outcome.reason != "PARTIALLY_RESERVED" or outcome.reservation_id is None:
            return None
        view = self._live.reservation(item[1], outcome.reservation_id)
        return None if view is None else sum(line["quantity"] for line in view["lines"])

    def _record(self, calls: int) -> list[tuple[int, bytes]]:
        """Hand the decided events to the journal; them (for metrics)."""
        events = self._live.drain_journal()
        if self.store is None:
            # In memory mode the journal is dropped so it does not grow without bound.
            return events
        self.store.append(events, calls)
        every = self._settings.snapshot_every_events
        if every and events and events[-1][0] - self._snapshot_seq >= every:
            self.snapshot(clock.now_ms())
        return events

    def _journal_failed(self) -> None:
        # The engine holds decisions that will never be durable: serve nothing
        # from it until the writer has rebuilt one from the journal.
        self._engine = None

    def _rebuilt(self, rebuilt: sqlite.Rebuilt) -> None:
        self._install_rules_after_rebuild(rebuilt.engine)
        # The shadow compares the rebuilt engine's first decision too.
        rebuilt.engine.set_shadow(self._shadow)
        self._shadow_compared = 0
        self._engine = rebuilt.engine
        self._snapshot_seq = rebuilt.snapshot_seq
        log.info(
            "state rebuilt from the journal",
            extra=fields(committed_seq=rebuilt.committed_seq, replayed_events=rebuilt.replayed),
        )
