"""Holdfast replicas on one Redis: real server processes sharing a
``--redis-url`` and ``--redis-prefix``, started, SIGKILLed and restarted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import polling
from holdfast.client import Client, RetryPolicy
from holdfast.v1 import inventory_pb2 as pb
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
