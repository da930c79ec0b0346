"""A Redis replica's business metrics, read from its live /metrics after
calls whose effect is known: the same ledger code counts them as on SQLite,
including a hold the replica's sweeper expires through a commit."""

from __future__ import annotations

import uuid

from redis_support import StartReplicas
from scrape import Samples, eventually, scrape, value
from serverproc import free_port

ENDINGS = ("allocated", "released", "expired")
HOLD_S = 3_600


def number(samples: Samples, name: str, **labels: str) -> float:
    found = value(samples, name, **labels)
    return 0.0 if found is None else found


def test_hold_durations_and_decisions_are_counted_on_redis(
    replicas: StartReplicas, tenant: str
) -> None:
    port = free_port()
    (replica,) = replicas(1, extra=("--metrics-listen", f"127.0.0.1:{port}"))
    url = f"http://127.0.0.1:{port}/metrics"
    sku = f"MET-{uuid.uuid4().hex[:8]}"
    with replica.client(tenant) as client:
        client.set_stock(sku, "W1", 10, source_sequence=1)
        before = scrape(url)
        allocated, released = (
            client.reserve([(sku, "W1", 1)], hold_seconds=HOLD_S).reservation.reservation_id
            for _ in range(2)
        )
        client.allocate(allocated)
        client.release(released)
        client.reserve([(sku, "W1", 1)], hold_seconds=1)  # the sweeper expires it

        def delta(samples: Samples, name: str, **labels: str) -> float:
            return number(samples, name, **labels) - number(before, name, **labels)

        duration = "holdfast_hold_duration_seconds"
        after = eventually(url, lambda s: delta(s, f"{duration}_count", ended="expired") >= 1)
        counts = {e: delta(after, f"{duration}_count", ended=e) for e in ENDINGS}
        assert counts == {"allocated": 1, "released": 1, "expired": 1}
        # Expired when it was due, whenever the sweep committed the expiry.
        assert delta(after, f"{duration}_sum", ended="expired") == 1.0
        assert delta(after, "holdfast_holds_expired_total") == 1
        accepted = {"outcome": "accepted"}
        assert (
            delta(
                after, "holdfast_decisions_total", action="reserve", reason="RESERVED", **accepted
            )
            == 3
        )
        assert (
            delta(
                after, "holdfast_decisions_total", action="allocate", reason="ALLOCATED", **accepted
            )
            == 1
        )
        assert (
            delta(
                after, "holdfast_decisions_total", action="release", reason="RELEASED", **accepted
            )
            == 1
        )
