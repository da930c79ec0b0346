"""The rule store: every deployed rule-set version and every activation.

Durable mode keeps them in the ``rule_sets`` and ``rule_activations`` tables
of the journal's database file, so a rule set and the journal that names it
live and die together. A deployed version is written once and never changed
(its checksum is the sha256 of its exact text); the journal records only
which version became active, and the engine is given that version's body
from here at start-up and after a rebuild (holdfast.ledger.Ledger.install_rules).

Everything is also held in memory, loaded once at start-up: the ledger needs
a body at once, on the event loop, when a failed commit rebuilds its engine,
and a rule set is small (at most 1 MiB of text, usually a few hundred bytes)
and rarely deployed. Writes go to the file off the event loop on a connection
of their own, as the operator log's do, and reach the memory only once
committed. In memory mode nothing is written and everything is lost on exit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from dataclasses import asdict, astuple, dataclass
from typing import Any

from holdfast import RuleSet
from holdfast.store import sqlite


@dataclass(frozen=True, slots=True)
class StoredRuleSet:
    version: str
    checksum: str  # sha256 of the text's UTF-8 bytes, hex
    author: str
    description: str
    comment: str  # the deployer's
    deployed_at: int  # unix ms
    deployed_by: str
    text: str


@dataclass(frozen=True, slots=True)
class Activation:
    version: str
    activated_at: int  # unix ms
    actor: str
    reason: str


class VersionExists(Exception):  # noqa: N818 (named for what was found)
    """The version is already deployed with other text."""

    def __init__(self, stored: StoredRuleSet) -> None:
        super().__init__(f"rule set {stored.version!r} is already deployed")
        self.stored = stored


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_VERSION_COLUMNS = "version, checksum, author, description, comment, deployed_at, deployed_by, text"

# The Redis list of activations (``{P}:rule_activations``), appended by the
# commit of each switch (holdfast.store.redis_commit), so that its order is
# the stream's.
ACTIVATIONS = "rule_activations"


def encode_activation(activation: Activation) -> str:
    """An activation as the Redis list holds it."""
    return json.dumps(asdict(activation))


_ACTIVATION_COLUMNS = "version, activated_at, actor, reason"


class RuleStore:
    """Deployed versions (oldest first) and activations (oldest first)."""

    def __init__(self, database: _Database | _RedisDatabase | None = None) -> None:
        self._database = database
        self._versions: dict[str, StoredRuleSet] = {}
        self._parsed: dict[str, RuleSet] = {}
        self._activations: list[Activation] = []
        # Deploys one at a time: a version's check and its write are one step.
        self._deploying = asyncio.Lock()

    @classmethod
    def in_memory(cls) -> RuleStore:
        return cls()

    @classmethod
    async def open(cls, path: str, synchronous: str, lock_timeout_s: float) -> RuleStore:
        """The store in the database file at ``path``, read whole."""
        store = cls(_Database(path, synchronous, lock_timeout_s))
        versions, activations = await asyncio.to_thread(store._read)
        for stored in versions:
            store._versions[stored.version] = stored
        store._activations = activations
        return store

    @classmethod
    async def open_redis(cls, url: str, prefix: str, timeout_s: float) -> RuleStore:
        """The store in Redis beside the shared state (see docs/redis.md)."""
        store = cls(_RedisDatabase(url, prefix, timeout_s))
        await store.refresh()
        return store

    async def refresh(self) -> None:
        """Read again what other processes sharing the store deployed and
        activated (a Redis store is written by every replica; a file or
        memory is written by this process only, and is already current)."""
        if not isinstance(self._database, _RedisDatabase):
            return
        versions, activations = await asyncio.to_thread(self._read)
        for stored in versions:
            self._versions.setdefault(stored.version, stored)
        self._activations = activations

    @property
    def durable(self) -> bool:
        return self._database is not None

    # Reads: from memory, on the caller's thread -----------------------------------

    def get(self, version: str) -> StoredRuleSet | None:
        return self._versions.get(version)

    def rules(self, version: str) -> RuleSet | None:
        """The version's parsed body (parsed once), None if never deployed."""
        parsed = self._parsed.get(version)
        if parsed is None:
            stored = self._versions.get(version)
            if stored is None:
                return None
            parsed = self._parsed[version] = RuleSet.parse(stored.text)
        return parsed

    def newest_first(self) -> list[StoredRuleSet]:
        return list(reversed(self._versions.values()))

    def last_activated_at(self, version: str) -> int | None:
        for activation in reversed(self._activations):
            if activation.version == version:
                return activation.activated_at
        return None

    def active_before(self, current: str, builtin: str) -> str | None:
        """The version that was active before ``current``: the latest
        activation of another version that can be activated again, a deployed
        one or the engine's ``builtin`` (never stored, but activated by name
        and recorded like any other); None if there was none."""
        for activation in reversed(self._activations):
            if activation.version == current:
                continue
            if activation.version in self._versions or activation.version == builtin:
                return activation.version
        return None

    # Writes: to the file first, then to memory ------------------------------------

    async def deploy(self, stored: StoredRuleSet) -> StoredRuleSet:
        """Store a new version; the version already stored when its text is
        the same (a deploy repeated); VersionExists when its text is not."""
        async with self._deploying:
            existing = self._versions.get(stored.version)
            if existing is not None:
                if existing.checksum != stored.checksum:
                    raise VersionExists(existing)
                return existing
            if self._database is not None:
                await asyncio.to_thread(self._database.insert_version, stored)
            self._versions[stored.version] = stored
            return stored

    async def activated(self, activation: Activation) -> None:
        """Record an activation in the file (a store in Redis has it from the
        switch's own commit: :meth:`refresh` reads it)."""
        if isinstance(self._database, _RedisDatabase):
            await self.refresh()
            return
        if self._database is not None:
            await asyncio.to_thread(self._database.insert_activation, activation)
        self._activations.append(activation)

    def _read(self) -> tuple[list[StoredRuleSet], list[Activation]]:
        assert self._database is not None
        return self._database.read()


class _RedisDatabase:
    """Rule sets in Redis: ``{P}:rule_sets`` maps each version to its record
    (written once: HSETNX), ``{P}:rule_activations`` lists the activations."""

    def __init__(self, url: str, prefix: str, timeout_s: float) -> None:
        import redis  # only with the Redis backend

        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._versions = "{" + prefix + "}:rule_sets"
        self._activations = "{" + prefix + "}:" + ACTIVATIONS

    def read(self) -> tuple[list[StoredRuleSet], list[Activation]]:
        records: Any = self._client.hgetall(self._versions)
        versions = [StoredRuleSet(**json.loads(value)) for value in records.values()]
        versions.sort(key=lambda stored: (stored.deployed_at, stored.version))
        listed: Any = self._client.lrange(self._activations, 0, -1)
        return versions, [Activation(**json.loads(value)) for value in listed]

    def insert_version(self, stored: StoredRuleSet) -> None:
        record = json.dumps(asdict(stored))
        if not self._client.hsetnx(self._versions, stored.version, record):
            # Another replica deployed this version meanwhile.
            existing: Any = self._client.hget(self._versions, stored.version)
            other = StoredRuleSet(**json.loads(existing))
            if other.checksum != stored.checksum:
                raise VersionExists(other)


class _Database:
    """One short connection per read or write (they are rare), holding no lock between them."""

    def __init__(self, path: str, synchronous: str, lock_timeout_s: float) -> None:
        self._path = path
        self._synchronous = synchronous
        # How long a write waits for the group commit's lock before failing.
        self._lock_timeout_s = lock_timeout_s

    def _connect(self) -> sqlite3.Connection:
        return sqlite.connect(self._path, self._synchronous, self._lock_timeout_s)

    def read(self) -> tuple[list[StoredRuleSet], list[Activation]]:
        conn = self._connect()
        try:
            versions = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM rule_sets ORDER BY deployed_at, rowid"
            ).fetchall()
            activations = conn.execute(
                f"SELECT {_ACTIVATION_COLUMNS} FROM rule_activations ORDER BY id"
            ).fetchall()
        finally:
            conn.close()
        return [StoredRuleSet(*row) for row in versions], [Activation(*row) for row in activations]

    def insert_version(self, stored: StoredRuleSet) -> None:
        conn = self._connect()
        try:
            conn.execute(
                f"INSERT INTO rule_sets ({_VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                astuple(stored),
            )
        finally:
            conn.close()

    def insert_activation(self, activation: Activation) -> None:
        conn = self._connect()
        try:
            conn.execute(
                f"INSERT INTO rule_activations ({_ACTIVATION_COLUMNS}) VALUES (?, ?, ?, ?)",
                astuple(activation),
            )
        finally:
            conn.close()
