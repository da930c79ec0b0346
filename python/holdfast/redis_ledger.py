"""The ledger on Redis: many replicas, one shared state.

Each replica keeps an engine that is a copy of the shared state: the events
committed to the Redis stream, applied in the stream's order (so every copy
goes through the same states). A request is decided in three steps:

1. the engine *proposes* (decides without applying, on its copy, which may
   be a few commits behind) an event and its plan: what the decision relied
   on and what committing it changes;
2. the guarded commit (:mod:`holdfast.store.redis_commit`) checks those
   guards against Redis and, if they hold, applies the changes and appends
   the event, atomically;
3. the engine catches up with the stream (its own event included) and the
   answer is built from that state.

A failed guard means the copy was behind on something that mattered: the
engine catches up and decides again, at most ``MAX_ATTEMPTS`` times (then the
call is refused as contended, retryable). So the core decides everything;
Redis only checks and applies. Every Redis call goes through the ``redis``
circuit breaker; a call that cannot reach Redis is refused
DEPENDENCY_UNAVAILABLE, and nothing is acknowledged that Redis did not commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import RedisError

from holdfast import SYSTEM_ACTOR, Engine, Outcome, clock
from holdfast.breakers import REDIS
from holdfast.config import Settings
from holdfast.errors import DEPENDENCY_UNAVAILABLE, OVERLOADED, Refusal
from holdfast.ledger import Ledger, engine_options
from holdfast.logs import fields
from holdfast.store.events import EventFilter, StoredEvent
from holdfast.store.redis_store import (
    READ_CHUNK,
    Committed,
    Entry,
    RedisStore,
    reservation_index,
    sku_index,
    tenant_index,
)

if TYPE_CHECKING:
    from holdfast import RuleSet
    from holdfast._core import BatchItem, Plan
    from holdfast.store.rule_store import RuleStore

log = logging.getLogger("holdfast.redis")

T = TypeVar("T")

# Decisions again after a failed guard, before the call is refused as contended.
MAX_ATTEMPTS = 8
# Due holds expired before a decision, at most (the sweeper takes the rest).
EXPIRE_FIRST = 64
# How long closing waits for the follower and the connections.
CLOSE_S = 2.0
# The kind of event that switches the rule set deciding.
RULE_SWITCH = "rule_version_set"
# How long the stream follower waits for a new entry per read.
FOLLOW_BLOCK_MS = 1_000


class RedisLedger(Ledger):
    def __init__(self, engine: Engine, settings: Settings, store: RedisStore) -> None:
        super().__init__(engine, settings)
        self.redis = store
        self._applied = engine.next_seq - 1
        self._applying = asyncio.Lock()
        self._advanced = asyncio.Condition()
        self._mint = 0
        self._follower: asyncio.Task[None] | None = None
        # Where rule-set bodies are read again when another replica switches
        # to a version this one has not seen (set by the server).
        self.rule_store: RuleStore | None = None
        # Set when Redis is found behind this copy: it lost commits, and no
        # decision is made on either until an operator restarts the replicas.
        self._diverged = ""

    @classmethod
    async def open_redis(cls, settings: Settings) -> RedisLedger:
        """Connect, rebuild the copy from the stream, take an id block, follow."""
        started = clock.monotonic_s()
        store = RedisStore(
            settings.redis_url,
            settings.redis_prefix,
            settings.idempotency_retention_seconds * 1000,
            settings.journal_timeout_seconds,
        )
        try:
            await store.ping()
            options = engine_options(settings)
            saved = await store.load_snapshot()
            engine = Engine(**options) if saved is None else Engine.restore(saved[1], **options)
            ledger = cls(engine, settings, store)
            ledger._snapshot_seq = ledger._applied
            replayed = await ledger._catch_up_to(await store.head())
            ledger._mint = await store.mint_block()
            await store.start_indexes()
        except BaseException:
            await store.close()
            raise
        ledger._follower = asyncio.create_task(ledger._follow())
        ledger.loaded = {
            "redis_prefix": settings.redis_prefix,
            "snapshot_seq": 0 if saved is None else saved[0],
            "replayed_events": replayed,
            "committed_seq": ledger._applied,
            "startup_s": round(clock.monotonic_s() - started, 3),
        }
        return ledger

    @property
    def durable(self) -> bool:
        return True

    @property
    def committed_seq(self) -> int:
        return self._applied

    async def wait_committed(self, after_seq: int) -> None:
        async with self._advanced:
            await self._advanced.wait_for(lambda: self._applied > after_seq)

    def journal_reader(self) -> RedisJournal:
        return RedisJournal(self.redis)

    # Decisions ---------------------------------------------------------------------

    def decide(self, item: BatchItem) -> Outcome:
        raise RuntimeError("the Redis ledger decides asynchronously (decide_async)")

    def decide_batch(self, items: Sequence[BatchItem]) -> list[Outcome]:
        raise RuntimeError("the Redis ledger decides asynchronously (decide_batch_async)")

    async def decide_async(self, item: BatchItem) -> Outcome:
        now = item[4]
        for _ in range(MAX_ATTEMPTS):
            await self._expire_due(now)
            outcome, proposal = self._live.propose(item, self._next_mint())
            if proposal is None:
                return self._decided(item, outcome)
            body, plan = proposal
            key = (item[1], item[2]) if item[2] else None
            committed = await self._commit(body, plan, key)
            await self._catch_up_to(committed.seq or committed.head)
            if committed.ok:
                return self._decided(item, outcome)
            log.debug(
                "guard failed; deciding again",
                extra=fields(guard=committed.guard, key=committed.key, head=committed.head),
            )
        raise Refusal(
            OVERLOADED,
            f"the decision was overtaken {MAX_ATTEMPTS} times by other replicas' commits; retry",
            {"resource": "redis_commit", "limit": MAX_ATTEMPTS},
            0.05,
        )

    async def decide_batch_async(self, items: Sequence[BatchItem]) -> list[Outcome]:
        # In order: a later item may be about what an earlier one made.
        return [await self.decide_async(item) for item in items]

    async def settle(self) -> int | None:
        # Every decision was committed before it returned.
        return clock.now_ms()

    async def fresh(self) -> None:
        """Catch up with everything committed so far (before a read)."""
        await self._catch_up_to(await self._redis_call(self.redis.head))

    def would_decide(self, item: BatchItem) -> bool:
        return self._live.would_decide(item)

    # Expiry ------------------------------------------------------------------------

    async def sweep_due(self, now: int) -> list[str]:
        """Expire the holds due at ``now``: those the expiry set names (which
        any replica may be sweeping too: the guards let one commit each) and
        those this copy knows of."""
        due = await self._redis_call(lambda: self.redis.due_holds(now, 1_000))
        await self._catch_up_to(await self._redis_call(self.redis.head))
        due += self._live.due_holds(now, 1_000)
        return await self._expire(list(dict.fromkeys(due)), now)

    async def _expire_due(self, now: int) -> None:
        due = self._live.due_holds(now, EXPIRE_FIRST)
        if due:
            await self._expire(due, now)

    async def _expire(self, ids: list[str], now: int) -> list[str]:
        expired = []
        for reservation_id in ids:
            proposal = self._live.propose_expiry(reservation_id, now)
            if proposal is None:
                continue  # renewed, ended or unknown here
            committed = await self._commit(*proposal, None)
            await self._catch_up_to(committed.seq or committed.head)
            if committed.ok:
                expired.append(reservation_id)
                self._hold_expired(Engine.event_summary(proposal[0]))
        if expired and self.metrics is not None:
            self.metrics.expired(len(expired))
        return expired

    def expire_due(self, now: int) -> list[str]:
        return []  # expiry goes through sweep_due: a commit like any decision

    def purge_idempotency(self, now: int) -> int:
        raise RuntimeError("the Redis ledger purges asynchronously (purge_async)")

    async def purge_async(self, now: int) -> int:
        """Forget the keys past their retention in every copy: committed as
        an event every replica applies (Redis drops its own records by
        their expiry). Several replicas purging at once forget the same."""
        engine = self._live
        due = engine.idempotency_key_count()
        proposal = engine.propose_purge(now)
        if proposal is None:
            return 0
        committed = await self._commit(*proposal, None)
        await self._catch_up_to(committed.seq or committed.head)
        return max(0, due - engine.idempotency_key_count())

    def snapshot(self, now: int) -> bool:
        raise RuntimeError("the Redis ledger saves snapshots asynchronously (snapshot_async)")

    async def snapshot_async(self, now: int) -> bool:
        """Save this copy as the state at its sequence (start-ups restore it
        and replay only what follows), then drop the stream's events it
        covers that are past the audit retention. Any replica may save; an
        older copy never replaces a newer one."""
        engine = self._live
        seq = self._applied
        if seq == self._snapshot_seq or engine.audit():
            return False  # nothing new, or a state that disagrees with its lines
        body = engine.snapshot()
        saved = await self._redis_call(lambda: self.redis.save_snapshot(seq, body))
        self._snapshot_seq = seq
        retention_ms = round(self._settings.audit_retention_days * 86_400_000)
        dropped = await self._redis_call(lambda: self.redis.trim(seq, now - retention_ms))
        if dropped:
            log.info("stream trimmed", extra=fields(events=dropped, snapshot_seq=seq))
        return saved

    # Rules ---------------------------------------------------------------------------

    def activate_rules(self, rules: RuleSet, actor: str, now: int) -> None:
        raise RuntimeError("the Redis ledger activates asynchronously (activate_rules_async)")

    async def activate_rules_async(
        self, rules: RuleSet, actor: str, now: int, activation: str | None = None
    ) -> bool:
        """Commit the switch, and ``activation`` to the history in the same
        step, unless another replica's switch committed since this copy's
        (then False: the caller decides again on the caught-up copy). Every
        replica installs the body when it applies the switch (this one before
        it answers). The body is in the rule store already."""
        body, plan = self._live.propose_rule_version(rules.version, actor, now)
        committed = await self._commit(body, plan, None, activation)
        await self._catch_up_to(committed.seq or committed.head)
        return committed.ok

    # Committing ------------------------------------------------------------------

    def _next_mint(self) -> int:
        self._mint += 1
        return self._mint

    async def _commit(
        self,
        body: bytes,
        plan: Plan,
        key: tuple[str, str] | None,
        activation: str | None = None,
    ) -> Committed:
        base = self._applied
        indexes = _indexes_of(Engine.event_summary(body))
        committed = await self._redis_call(
            lambda: self.redis.commit(body, plan, base, key, activation, indexes)
        )
        if committed.ok and committed.seq <= base:
            # Every seq this copy applied existed before the commit, which
            # numbers after them all: Redis lost commits before this one.
            self._lost(committed.seq)
            raise self._unavailable(self._diverged)
        return committed

    async def _redis_call(self, make_call: Callable[[], Awaitable[T]]) -> T:
        """A Redis call through the ``redis`` breaker; unreachable → DEPENDENCY_UNAVAILABLE."""
        if self._diverged:
            raise self._unavailable(self._diverged)
        breakers = self.breakers
        if breakers is not None:
            breakers.acquire(REDIS)  # raises Refusal while refused
        started = clock.monotonic_s()
        try:
            result = await make_call()
        except (RedisError, OSError) as e:
            if _cancelling():
                # redis-py may turn a cancelled read into a connection error:
                # the caller went away, which says nothing of Redis.
                if breakers is not None:
                    breakers.release(REDIS)
                raise asyncio.CancelledError from e
            if breakers is not None:
                breakers.failed(REDIS, clock.monotonic_s() - started)
            raise self._unavailable(str(e)) from None
        except BaseException:
            if breakers is not None:
                breakers.release(REDIS)
            raise
        if breakers is not None:
            breakers.succeeded(REDIS, clock.monotonic_s() - started)
        return result

    def _unavailable(self, detail: str) -> Refusal:
        facts: dict[str, Any] = {"dependency": REDIS, "detail": detail}
        if self.breakers is not None:
            facts.update(breaker=REDIS, state=self.breakers.state(REDIS))
        return Refusal(
            DEPENDENCY_UNAVAILABLE,
            f"Redis cannot be reached ({detail}); nothing was committed, retry later",
            facts,
            self._settings.journal_probe_seconds,
        )

    def _decided(self, item: BatchItem, outcome: Outcome) -> Outcome:
        self._feed_shadow()
        if self.metrics is not None:
            self.metrics.decided(item, outcome, self._held_units(item, outcome))
            self._count_hold_end(item, outcome)
        return outcome

    # Following the stream ----------------------------------------------------------

    async def _catch_up_to(self, seq: int) -> int:
        """Apply committed events until this copy has ``seq``; how many applied."""
        applied = 0
        while self._applied < seq:
            async with self._applying:
                if self._applied >= seq:
                    break
                events = await self._redis_call(lambda: self.redis.read_after(self._applied))
                if not events:
                    raise self._unavailable(f"the stream ends before {seq}")
                applied += await self._apply(events)
        return applied

    async def _apply(self, events: list[Entry]) -> int:
        """Apply the events this copy has not applied yet (the lock is held)."""
        fresh = [entry for entry in events if entry.seq > self._applied]
        if not fresh:
            return 0
        switches = any(entry.kind == RULE_SWITCH for entry in fresh)
        if switches and self.rule_store is not None:
            # The bodies first: once the switch is applied, nothing may be
            # decided (between two awaits) under the new name and the old body.
            await self._redis_call(self.rule_store.refresh)
        self._live.apply_committed([(entry.seq, entry.body) for entry in fresh])
        if switches:
            self._install_switched()
        self._applied = fresh[-1].seq
        async with self._advanced:
            self._advanced.notify_all()
        return len(fresh)

    async def _check_not_behind(self) -> None:
        """Redis's head is never behind what this copy applied, unless Redis
        lost commits (restarted without its append-only file, or a failover
        to a Redis replica that had not received them). Run with the apply
        lock held, so nothing is applied between the read and the compare."""
        head = await self.redis.head()
        if head < self._applied:
            self._lost(head)

    def _lost(self, head: int) -> None:
        """Redis is behind this copy: stop deciding, say so everywhere."""
        if not self._diverged:
            self._diverged = (
                f"Redis is at seq {head}, behind the {self._applied} this replica applied: "
                "it lost commits; restart every replica (docs/redis.md)"
            )
            log.error(
                "Redis lost committed events",
                extra=fields(redis_seq=head, applied_seq=self._applied),
            )
            if self.breakers is not None:
                # Seen by callers, health and /readyz: this replica takes no calls.
                self.breakers.operate(REDIS, "force_open", SYSTEM_ACTOR, self._diverged)

    def _install_switched(self) -> None:
        """Give the engine the body of the version a committed switch named."""
        engine = self._live
        version = engine.rule_version
        rules = None if self.rule_store is None else self.rule_store.rules(version)
        if rules is None:
            # At start-up the stream is replayed before the rule store is
            # opened; the server installs the body right after.
            if self.rule_store is not None and version != self._builtin_rules():
                log.error(
                    "a committed switch names a rule set the store does not have",
                    extra=fields(rule_version=version),
                )
            # The built-in set (rolled back to): never stored, the engine's own.
            rules = engine.builtin_rules(version)
        engine.install_rules(rules)

    async def _follow(self) -> None:
        """Keep the copy current while no request asks (reads, sweeps, feeds)."""
        while True:
            try:
                events = await self.redis.read_after(self._applied, FOLLOW_BLOCK_MS)
                async with self._applying:
                    if events:
                        await self._apply(events)
                    else:
                        await self._check_not_behind()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as e:
                if _cancelling():
                    raise asyncio.CancelledError from e
                log.warning("cannot follow the Redis stream", extra=fields(detail=str(e)))
                await asyncio.sleep(0.5)
            except Exception:
                log.exception("following the Redis stream failed")
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        # Bounded: a stop must not wait on a Redis that does not answer.
        try:
            # The next start-up replays only what is committed after this.
            await asyncio.wait_for(self.snapshot_async(clock.now_ms()), CLOSE_S)
        except (TimeoutError, Refusal) as e:
            log.warning("no snapshot saved at stop", extra=fields(detail=str(e)))
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.wait({self._follower}, timeout=CLOSE_S)
        try:
            await asyncio.wait_for(self.redis.close(), CLOSE_S)
        except (TimeoutError, RedisError, OSError) as e:
            log.warning("Redis connections not closed cleanly", extra=fields(detail=str(e)))


class RedisJournal:
    """The feed and the audit trail read from the stream (WatchEvents,
    ListEvents), with the interface of :class:`holdfast.store.events.JournalReader`."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    async def events_from(self, from_seq: int, up_to_seq: int, limit: int) -> list[StoredEvent]:
        events = await self._store.events(from_seq, up_to_seq, limit)
        return [StoredEvent(e.seq, e.committed_at, e.body) for e in events]

    async def oldest_seq(self) -> int | None:
        return await self._store.oldest_seq()

    async def has_reservation(self, tenant: str, reservation_id: str) -> bool:
        return await self._store.reservation_tenant(reservation_id) == tenant

    async def page(
        self, selected: EventFilter, after_seq: int, up_to_seq: int, limit: int
    ) -> list[StoredEvent]:
        """ListEvents through the narrowest event index that applies: the
        reservation's, else the SKU's, else the tenant's (the filters are
        read from each event, so an index only narrows what is read)."""
        if selected.reservation_id is not None:
            index = reservation_index(selected.reservation_id)
        elif selected.sku is not None:
            index = sku_index(selected.sku)
        else:
            index = tenant_index(selected.tenant)
        start = await self._store.indexes_from()
        if start is None:  # no replica of this version has started: nothing listed
            return await self._scan(selected, after_seq, up_to_seq, limit)
        found: list[StoredEvent] = []
        if after_seq < start - 1:  # committed before the indexes started
            found = await self._scan(selected, after_seq, min(up_to_seq, start - 1), limit)
            after_seq = start - 1
        rest = limit - len(found)
        return found + await self._indexed(index, selected, after_seq, up_to_seq, rest)

    async def _indexed(
        self, index: str, selected: EventFilter, after_seq: int, up_to_seq: int, limit: int
    ) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        after = after_seq
        while len(found) < limit and after < up_to_seq:
            looked_at, chunk = await self._store.indexed_events(index, after, up_to_seq, READ_CHUNK)
            if not looked_at:
                break
            found += self._matching(selected, chunk, limit - len(found))
            after = looked_at
        return found

    async def _scan(
        self, selected: EventFilter, after_seq: int, up_to_seq: int, limit: int
    ) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        after = after_seq
        while len(found) < limit and after < up_to_seq:
            chunk = await self._store.events(after + 1, up_to_seq, READ_CHUNK)
            if not chunk:
                break
            found += self._matching(selected, chunk, limit - len(found))
            after = chunk[-1].seq
        return found

    @staticmethod
    def _matching(selected: EventFilter, chunk: list[Entry], limit: int) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        for entry in chunk:
            if _matches(selected, Engine.event_summary(entry.body)):
                found.append(StoredEvent(entry.seq, entry.committed_at, entry.body))
                if len(found) == limit:
                    break
        return found


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _indexes_of(summary: Any) -> list[str]:
    """The event indexes an event is listed in: its tenant's, its
    reservation's, its SKUs' (the system's own events have no tenant)."""
    indexes = [tenant_index(summary["tenant"])] if summary["tenant"] else []
    if summary["reservation_id"] is not None:
        indexes.append(reservation_index(summary["reservation_id"]))
    indexes += [sku_index(sku) for sku in summary["skus"]]
    return indexes


def _matches(selected: EventFilter, summary: Any) -> bool:
    if summary["tenant"] != selected.tenant:
        return False
    if selected.reservation_id is not None and summary["reservation_id"] != selected.reservation_id:
        return False
    if selected.sku is not None and selected.sku not in summary["skus"]:
        return False
    at = summary["at"]
    if selected.since is not None and at < selected.since:
        return False
    return not (selected.until is not None and at >= selected.until)
