"""Holdfast replicas on one Redis: real server processes sharing a
``--redis-url`` and ``--redis-prefix``, started, SIGKILLed and restarted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import polling
import redis
from holdfast.client import Client, RetryPolicy
from holdfast.v1 import inventory_pb2 as pb
from redisproc import RedisServer
from serverproc import ServerProcess, serve_command

T = TypeVar("T")
WAIT_S = 60.0  # a bound for a slow shared 2-core box, never a sleep
SWEEP_INTERVAL = "0.05"


class Replica(ServerProcess):
    """``python -m holdfast serve`` on the Redis backend, restartable on its port."""

    def __init__(
        self, log_path: Path, redis_url: str, prefix: str, node_id: int, extra: Sequence[str] = ()
    ) -> None:
        super().__init__(log_path)
        self.redis_url = redis_url
        self.prefix = prefix
        self.node_id = node_id
        self.extra = list(extra)

    def command(self) -> list[str]:
        return serve_command(
            "--listen",
            self.target,
            "--redis-url",
            self.redis_url,
            "--redis-prefix",
            self.prefix,
            "--node-id",
            str(self.node_id),
            "--sweep-interval",
            SWEEP_INTERVAL,
            *self.extra,
        )

    def start(self) -> None:
        self.launch(self.command())

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(
        self, tenant: str, *, timeout: float = 30.0, retry: RetryPolicy | None = None
    ) -> Client:
        return Client(self.target, tenant=tenant, actor="redis-tests", timeout=timeout, retry=retry)


StartReplicas = Callable[..., list[Replica]]
"""The ``replicas`` fixture: ``replicas(count, redis=None, prefix=None, extra=())``."""


def start_all(replicas: Sequence[Replica]) -> None:
    """Launch every replica, then wait for each (they start side by side)."""
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.wait_serving()


def until(what: str, probe: Callable[[], T | None], timeout: float = WAIT_S) -> T:
    """Poll ``probe`` until it returns something other than None, or fail naming ``what``."""
    return polling.until(probe, what, timeout)


def counts(client: Client, sku: str, location: str = "W1") -> tuple[int, int, int, int, int]:
    """(on_hand, reserved, allocated, picked, available) of one position."""
    found = [
        p for p in client.get_availability([sku], [location]).positions if p.location == location
    ]
    assert len(found) == 1, (sku, location, found)
    p = found[0]
    return (p.on_hand, p.reserved, p.allocated, p.picked, p.available)


def history(client: Client, reservation_id: str) -> list[tuple[str, int, int]]:
    """(action, from_state, to_state) of each history entry."""
    shown: pb.Reservation = client.get_reservation(reservation_id)
    return [(h.action, h.from_state, h.to_state) for h in shown.history]


class Keys:
    """One prefix's keys, read with redis-py directly."""

    def __init__(self, server: RedisServer, prefix: str) -> None:
        # Not decoding: stream entries carry the binary event body.
        self.client = redis.Redis(host="127.0.0.1", port=server.port, db=0, socket_timeout=5.0)
        self.tag = "{" + prefix + "}"

    def key(self, name: str) -> str:
        return f"{self.tag}:{name}"

    def head(self) -> int:
        head: Any = self.client.get(self.key("seq"))
        return int(head or 0)

    def snapshot_seq(self) -> int | None:
        saved: Any = self.client.hget(self.key("snapshot"), "seq")
        return None if saved is None else int(saved)

    def stream_length(self) -> int:
        return int(self.client.xlen(self.key("events")))

    def first_retained(self) -> int | None:
        entries: Any = self.client.xrange(self.key("events"), min="-", max="+", count=1)
        return int(entries[0][0].decode().partition("-")[2]) if entries else None

    def listed(self, index: str) -> list[int]:
        """The sequences an event index (``x:r:ID``, ``x:s:SKU``) lists."""
        listed: Any = self.client.lrange(self.key(index), 0, -1)
        return [int(seq) for seq in listed]

    def indexes_start(self) -> int | None:
        start: Any = self.client.get(self.key("x:from"))
        return None if start is None else int(start)

    def set_indexes_start(self, start: int | None) -> None:
        """Where the indexes start; None: nowhere, every listing reads the stream."""
        if start is None:
            self.client.delete(self.key("x:from"))
        else:
            self.client.set(self.key("x:from"), start)

    def forget_indexes(self) -> None:
        """Delete every event index: a stream as an earlier version wrote it."""
        for key in self.client.scan_iter(match=self.key("x:*")):
            self.client.delete(key)

    def kinds(self) -> list[str]:
        """The kind of every event still in the stream, oldest first."""
        entries: Any = self.client.xrange(self.key("events"), min="-", max="+")
        return [fields.get(b"about", b"").decode().partition("\t")[0] for _, fields in entries]

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Keys:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
