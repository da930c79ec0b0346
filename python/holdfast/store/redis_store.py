"""The Redis backend's I/O: the guarded commit, the event stream, the mint.

Every key of one deployment starts with ``{PREFIX}:``; the braces are a
Redis Cluster hash tag, so all of them live in one slot and the commit
script may touch any of them atomically (see docs/redis.md).

- ``{P}:seq``: the last committed sequence; ``{P}:seq:rule_version`` the
  active rule-set version;
- ``{P}:events``: the stream, one entry per committed event, id ``0-SEQ``;
- ``{P}:p:SKU\\x1fLOCATION``, ``{P}:r:ID``, ``{P}:c:LOCATION``, ``{P}:rules``:
  hashes with ``changed_at`` (and a position's buckets, a reservation's
  tenant and state);
- ``{P}:holds``: the hold expiry sorted set (score: due time in ms);
- ``{P}:x:t:TENANT``, ``{P}:x:r:ID``, ``{P}:x:s:SKU``: event indexes, the
  sequences of a tenant's, a reservation's or a SKU's events in ascending
  order (lists), so that ListEvents reads its answer, not the whole stream;
  ``{P}:x:from`` the first sequence the indexes list;
- ``{P}:k:TENANT\\x1fKEY``: idempotency records (value: the sequence that
  decided them; expire after the retention);
- ``{P}:mint``: id blocks handed to processes at start-up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from holdfast.store.redis_commit import (
    COMMIT,
    INDEXED_EVENTS,
    INDEXES_START,
    SAVE_SNAPSHOT,
    UNINDEX,
)
from holdfast.store.rule_store import ACTIVATIONS

if TYPE_CHECKING:
    from holdfast._core import Plan

# Reservation ids use a 48-bit counter; each process start takes a block.
MINT_BLOCK = 1 << 24
# Stream entries read per round trip while catching up.
READ_CHUNK = 1_000
# Where the event indexes start (see INDEXES_START).
INDEXES_FROM = "x:from"


@dataclass(frozen=True, slots=True)
class Committed:
    """The commit's answer: the event's sequence, or which guard failed and
    the stream's head then (the caller catches up to it and decides again)."""

    seq: int
    guard: str = ""
    key: str = ""
    head: int = 0

    @property
    def ok(self) -> bool:
        return not self.guard


@dataclass(frozen=True, slots=True)
class Entry:
    """One committed event read from the stream."""

    seq: int
    body: bytes
    kind: str  # the event's kind, so readers need not decode it to know
    committed_at: int  # unix ms, Redis's clock


class RedisStore:
    def __init__(self, url: str, prefix: str, retention_ms: int, timeout_s: float) -> None:
        self.prefix = prefix
        self._retention_ms = max(1, retention_ms)
        self._client = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        # Blocking stream reads wait longer than any command may.
        self._reader = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s + 5.0, socket_connect_timeout=timeout_s
        )
        self._commit = self._client.register_script(COMMIT)
        self._save_snapshot = self._client.register_script(SAVE_SNAPSHOT)
        self._indexed_events = self._client.register_script(INDEXED_EVENTS)
        self._unindex = self._client.register_script(UNINDEX)
        self._indexes_start = self._client.register_script(INDEXES_START)
        self._tag = "{" + prefix + "}"

    def key(self, name: str) -> str:
        return f"{self._tag}:{name}"

    @property
    def stream(self) -> str:
        return self.key("events")

    async def close(self) -> None:
        await self._client.aclose()
        await self._reader.aclose()

    async def ping(self) -> None:
        await self._client.ping()

    async def mint_block(self) -> int:
        """The first counter of a block of ids no other process will mint."""
        end = int(await self._client.incrby(self.key("mint"), MINT_BLOCK))
        return end - MINT_BLOCK + 1

    async def head(self) -> int:
        return int(await self._client.get(self.key("seq")) or 0)

    async def commit(
        self,
        body: bytes,
        plan: Plan,
        base: int,
        idempotency: tuple[str, str] | None,
        activation: str | None = None,
        indexes: Sequence[str] = (),
    ) -> Committed:
        """Run the guarded commit of one proposed event made at stream ``base``;
        a rule-set switch appends ``activation`` to the activation history
        in the same step, and the event is listed in the event ``indexes``
        (names from :func:`tenant_index`, :func:`reservation_index` and
        :func:`sku_index`)."""
        keys = [self.key("seq"), self.stream, self.key("holds")]
        keys.append(self.key(f"k:{idempotency[0]}\x1f{idempotency[1]}") if idempotency else keys[0])
        index: dict[str, int] = {}

        def at(name: str) -> int:
            if name not in index:
                keys.append(self.key(name))
                index[name] = len(keys)  # Lua counts from 1
            return index[name]

        reservation = plan["reservation"]
        expiry = plan["expiry"]
        encoded = {
            "u": [at(name) for name in plan["unchanged"]],
            "k": 1 if idempotency else 0,
            "h": [[at(name), floor, safety] for name, floor, safety in plan["headroom"]],
            "p": [
                [at(name), on_hand, reserved, allocated, picked, -1 if safety is None else safety]
                for name, on_hand, reserved, allocated, picked, safety in plan["positions"]
            ],
            "t": [at(name) for name in plan["touched"]],
            "r": None
            if reservation is None
            else [at(f"r:{reservation[0]}"), reservation[1], reservation[2]],
            "e": None if expiry is None else [expiry[0], -1 if expiry[1] is None else expiry[1]],
            "v": plan["rule_version_set"] or "",
        }
        if encoded["r"] is None:
            del encoded["r"]
        if encoded["e"] is None:
            del encoded["e"]
        if activation is not None:
            encoded["a"] = [at(ACTIVATIONS), activation]
        if indexes:
            indexes = list(dict.fromkeys(indexes))  # one entry per list, however named
            encoded["x"] = [at(name) for name in indexes]
        about = "\t".join((plan["kind"], "", reservation[0] if reservation else ""))
        args: list[str | bytes | int] = [
            json.dumps(encoded, separators=(",", ":")),
            base,
            body,
            self._retention_ms,
            about,
            "\t".join(indexes),
        ]
        answer: Any = await self._commit(keys=keys, args=args)
        if int(answer[0]) == 1:
            return Committed(int(answer[1]))
        return Committed(0, _text(answer[1]), _text(answer[2]), int(answer[3]))

    async def read_after(self, seq: int, block_ms: int | None = None) -> list[Entry]:
        """Committed events after ``seq``, oldest first (waiting up to
        ``block_ms`` for one when there is none yet)."""
        if block_ms is None:
            entries: Any = await self._client.xrange(
                self.stream, min=f"0-{seq + 1}", max="+", count=READ_CHUNK
            )
            return [_entry_of(entry) for entry in entries]
        answer: Any = await self._reader.xread(
            {self.stream: f"0-{seq}"}, count=READ_CHUNK, block=block_ms
        )
        return [_entry_of(entry) for _, entries in answer for entry in entries]

    async def events(self, from_seq: int, up_to_seq: int, limit: int) -> list[Entry]:
        entries: Any = await self._client.xrange(
            self.stream, min=f"0-{max(from_seq, 1)}", max=f"0-{up_to_seq}", count=limit
        )
        return [_entry_of(entry) for entry in entries]

    async def start_indexes(self) -> int:
        """The first sequence the event indexes list, fixed at the first
        start-up of a version that indexes (see :data:`INDEXES_START`)."""
        keys = [self.key("seq"), self.key(INDEXES_FROM)]
        return int(await self._indexes_start(keys=keys, args=[]))

    async def indexes_from(self) -> int | None:
        """The first sequence the event indexes list; None if no start-up set it."""
        start = await self._client.get(self.key(INDEXES_FROM))
        return None if start is None else int(start)

    async def indexed_events(
        self, index: str, after_seq: int, up_to_seq: int, limit: int
    ) -> tuple[int, list[Entry]]:
        """The events that ``index`` lists with ``after_seq < seq <= up_to_seq``,
        oldest first, from its next ``limit`` sequences (one round trip), and
        the last sequence looked at (0 when none was left)."""
        flat: Any = await self._indexed_events(
            keys=[self.key(index), self.stream], args=[after_seq, up_to_seq, limit]
        )
        events = [
            Entry(int(flat[i]), bytes(flat[i + 1]), "", int(flat[i + 2]))
            for i in range(1, len(flat), 3)
        ]
        return int(flat[0]), events

    async def oldest_seq(self) -> int | None:
        entries: Any = await self._client.xrange(self.stream, min="-", max="+", count=1)
        return _entry(entries[0])[0] if entries else None

    async def load_snapshot(self) -> tuple[int, bytes] | None:
        """The newest saved copy of the state: (its sequence, the engine's snapshot)."""
        saved: Any = await self._client.hmget(self.key("snapshot"), ["seq", "body"])
        if saved[0] is None or saved[1] is None:
            return None
        return int(saved[0]), bytes(saved[1])

    async def save_snapshot(self, seq: int, body: bytes) -> bool:
        """Keep ``body`` as the state at ``seq``, unless a newer one is kept."""
        saved: Any = await self._save_snapshot(keys=[self.key("snapshot")], args=[seq, body])
        return bool(saved)

    async def trim(self, up_to_seq: int, committed_before: int) -> int:
        """Drop the stream's events up to ``up_to_seq`` (a snapshot covers
        them) committed before ``committed_before`` (past the audit
        retention); how many. Reads only the entries it drops, and one more."""
        last = 0
        while True:
            entries: Any = await self._client.xrange(
                self.stream,
                min=f"({'0-' + str(last)}" if last else "-",
                max=f"0-{up_to_seq}",
                count=READ_CHUNK,
            )
            old = [i for i, entry in enumerate(entries) if _committed_at(entry) < committed_before]
            if old:
                # The trim drops every entry up to the last one old enough.
                dropped = entries[: old[-1] + 1]
                last = _entry(dropped[-1])[0]
                # Shorten the indexes first: a stop between the two steps
                # leaves events unlisted that are past retention anyway,
                # never a listed sequence the stream no longer holds.
                await self._drop_from_indexes(dropped, last)
            if len(old) < len(entries) or len(entries) < READ_CHUNK:
                break
        if not last:
            return 0
        # Exact: an approximate trim keeps whole stream nodes of old events.
        trimmed = await self._client.xtrim(self.stream, minid=f"0-{last + 1}", approximate=False)
        return int(trimmed)

    async def _drop_from_indexes(self, entries: Sequence[Any], last: int) -> None:
        """Remove sequences up to ``last`` from the indexes ``entries`` are listed in."""
        names: dict[str, None] = {}
        for _, fields in entries:
            listed = _text(fields.get(b"x", b""))
            if listed:
                names.update(dict.fromkeys(listed.split("\t")))
        if names:
            await self._unindex(keys=[self.key(name) for name in names], args=[last])

    async def reservation_tenant(self, reservation_id: str) -> str | None:
        tenant = await self._client.hget(self.key(f"r:{reservation_id}"), "tenant")
        return None if tenant is None else _text(tenant)

    async def due_holds(self, now: int, limit: int) -> list[str]:
        """Holds the expiry set says are due at ``now``, soonest first."""
        due: Sequence[Any] = await self._client.zrangebyscore(
            self.key("holds"), "-inf", now, start=0, num=limit
        )
        return [_text(item) for item in due]


def reservation_index(reservation_id: str) -> str:
    """The event index of one reservation's events."""
    return f"x:r:{reservation_id}"


def sku_index(sku: str) -> str:
    """The event index of the events about one SKU."""
    return f"x:s:{sku}"


def tenant_index(tenant: str) -> str:
    """The event index of one tenant's events."""
    return f"x:t:{tenant}"


def _committed_at(entry: Any) -> int:
    return int(entry[1].get(b"committed_at", 0))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(entry: Any) -> tuple[int, bytes]:
    entry_id, fields = entry
    seq = int(_text(entry_id).partition("-")[2])
    return seq, bytes(fields[b"body"])


def _entry_of(entry: Any) -> Entry:
    seq, body = _entry(entry)
    fields = entry[1]
    kind = _text(fields.get(b"about", b"")).partition("\t")[0]
    return Entry(seq, body, kind, _committed_at(entry))


__all__ = [
    "Committed",
    "Entry",
    "RedisStore",
    "ResponseError",
    "reservation_index",
    "sku_index",
    "tenant_index",
]
