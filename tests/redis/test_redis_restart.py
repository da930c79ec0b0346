"""Redis SIGKILLed in the middle of load and restarted on the same port and
directory (appendonly, appendfsync always): no acknowledged reservation is
lost, nothing is oversold, and calls refused while it is down say
DEPENDENCY_UNAVAILABLE (never an acceptance made from memory)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import grpc
from holdfast.client import HoldfastError, Rejected, RetryPolicy
from holdfast.v1 import inventory_pb2 as pb
from redis_support import Replica, StartReplicas, counts, until
from redisproc import RedisServer

ON_HAND = 120
WORKERS = 6
SKU = "HOT-R"
DOWN_CALLS = 90  # answered with Redis down, over all replicas, before it restarts
FAILURE_PACING_S = 0.02  # a refused worker paces itself; nothing waits on this


@dataclass(frozen=True)
class Attempt:
    key: str
    replica: int
    started: float
    ended: float
    outcome: pb.ReserveResponse | HoldfastError


class Load:
    """``WORKERS`` threads, each reserving one unit after another with fresh
    keys over the replicas, one attempt per call (no client retries), every
    attempt recorded with when it started and ended."""

    def __init__(self, replicas: list[Replica], tenant: str) -> None:
        self.replicas = replicas
        self.tenant = tenant
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.threads = [
            threading.Thread(target=self.work, args=(w,), daemon=True) for w in range(WORKERS)
        ]

    def work(self, worker: int) -> None:
        replica = worker % len(self.replicas)
        with self.replicas[replica].client(
            self.tenant, timeout=10.0, retry=RetryPolicy.never()
        ) as client:
            n = 0
            while not self.stop.is_set():
                key = f"w{worker}-{n}"
                n += 1
                started = time.monotonic()
                outcome: pb.ReserveResponse | HoldfastError
                try:
                    outcome = client.reserve(
                        [(SKU, "W1", 1)], hold_seconds=3600, idempotency_key=key
                    )
                except HoldfastError as error:
                    outcome = error
                with self.lock:
                    self.attempts.append(Attempt(key, replica, started, time.monotonic(), outcome))
                if isinstance(outcome, HoldfastError):
                    self.stop.wait(FAILURE_PACING_S)

    def snapshot(self) -> list[Attempt]:
        with self.lock:
            return list(self.attempts)

    def decided_since(self, moment: float) -> int:
        """Attempts started at or after ``moment`` that got a decision."""
        return sum(
            1
            for a in self.snapshot()
            if a.started >= moment and isinstance(a.outcome, pb.ReserveResponse | Rejected)
        )

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self.threads), "a load worker hung"


def test_redis_killed_under_load_loses_no_acknowledged_reservation(
    own_redis: RedisServer, replicas: StartReplicas, tenant: str
) -> None:
    servers = replicas(3, redis=own_redis)
    with servers[0].client(tenant) as admin:
        admin.set_stock(SKU, "W1", ON_HAND, source_sequence=1)

    with Load(servers, tenant) as load:
        until(
            "40 reservations before the kill",
            lambda: (
                True
                if sum(isinstance(a.outcome, pb.ReserveResponse) for a in load.snapshot()) >= 40
                else None
            ),
        )
        own_redis.kill()
        killed = time.monotonic()

        def refused_while_down() -> list[Attempt] | None:
            # Down long enough to matter: every replica refused many calls.
            down = [a for a in load.snapshot() if a.started >= killed]
            spread = {a.replica for a in down}
            return down if len(down) >= DOWN_CALLS and len(spread) == len(servers) else None

        until(f"{DOWN_CALLS} calls answered by every replica with Redis down", refused_while_down)
        restarting = time.monotonic()
        own_redis.restart()
        restarted = time.monotonic()
        until(
            "100 decisions after Redis came back",
            lambda: True if load.decided_since(restarted) >= 100 else None,
            timeout=90.0,
        )
    attempts = load.snapshot()

    # While Redis was down: nothing accepted, every refusal DEPENDENCY_UNAVAILABLE.
    down = [a for a in attempts if a.started >= killed and a.ended <= restarting]
    assert len(down) >= DOWN_CALLS // 2
    accepted_down = [a.key for a in down if isinstance(a.outcome, pb.ReserveResponse)]
    assert not accepted_down, f"accepted with Redis down: {accepted_down[:10]}"
    wrong = [
        (a.key, a.outcome)
        for a in down
        if not (
            isinstance(a.outcome, HoldfastError)
            and a.outcome.code == grpc.StatusCode.UNAVAILABLE
            and a.outcome.reason == "DEPENDENCY_UNAVAILABLE"
        )
    ]
    assert not wrong, f"{len(wrong)} of {len(down)} refusals with Redis down: {wrong[:5]}"
    for attempt in down:
        facts = attempt.outcome.facts if isinstance(attempt.outcome, HoldfastError) else {}
        for name in ("dependency", "breaker"):
            if name in facts:
                assert facts[name] == "redis", (attempt.key, facts)

    acknowledged = {
        a.key: a.outcome.reservation.reservation_id
        for a in attempts
        if isinstance(a.outcome, pb.ReserveResponse)
    }
    assert len(set(acknowledged.values())) == len(acknowledged)
    # Calls whose outcome the client does not know (any failure but a business
    # refusal) are retried with their own key: committed ones replay, the rest
    # are decided now. Afterwards every unit reserved belongs to a known hold.
    unknown = [a for a in attempts if isinstance(a.outcome, HoldfastError)]
    unknown = [a for a in unknown if not isinstance(a.outcome, Rejected)]
    resolved: dict[str, str] = {}
    refused_later: list[Rejected] = []
    with servers[1].client(tenant, timeout=60.0) as resolver:
        for attempt in unknown:
            try:
                answer = resolver.reserve(
                    [(SKU, "W1", 1)], hold_seconds=3600, idempotency_key=attempt.key
                )
            except Rejected as refused:
                refused_later.append(refused)
            else:
                resolved[attempt.key] = answer.reservation.reservation_id
    assert {refused.reason for refused in refused_later} <= {"INSUFFICIENT_STOCK"}

    clients = [server.client(tenant) for server in servers]
    try:
        for n, (key, rid) in enumerate(sorted(acknowledged.items())):
            shown = clients[n % 3].get_reservation(rid)
            assert shown.state == pb.LINE_STATE_RESERVED, (key, rid, shown.state)
            assert [(line.sku, line.quantity) for line in shown.lines] == [(SKU, 1)]
        held = set(acknowledged.values()) | set(resolved.values())
        assert len(held) <= ON_HAND, f"oversold: {len(held)} holds of one unit, {ON_HAND} on hand"

        def agreed() -> list[tuple[int, int, int, int, int]] | None:
            seen = [counts(client, SKU) for client in clients]
            return seen if len(set(seen)) == 1 else None

        on_hand, reserved, allocated, picked, available = until(
            "the replicas to agree on the position", agreed
        )[0]
        assert (on_hand, allocated, picked) == (ON_HAND, 0, 0)
        assert reserved == len(held), (reserved, len(acknowledged), len(resolved))
        assert reserved <= ON_HAND
        assert available == ON_HAND - reserved
        sample = down[0].outcome
        states = sorted(
            {a.outcome.facts.get("state", "") for a in down if isinstance(a.outcome, HoldfastError)}
        )
        print(  # the figures, for -s / -rP
            f"attempts={len(attempts)} acknowledged={len(acknowledged)} "
            f"down={len(down)} ({restarting - killed:.2f} s) unknown={len(unknown)} "
            f"resolved={len(resolved)} reserved={reserved} on_hand={on_hand} "
            f"breaker_states_down={states} "
            f"down_facts={sample.facts if isinstance(sample, HoldfastError) else None}"
        )
    finally:
        for client in clients:
            client.close()
