"""Several holdfast replicas on one Redis serve one state: a hot SKU is never
oversold across them, a retry on another replica replays, holds expire once
with every replica sweeping, and prefixes keep deployments apart."""

from __future__ import annotations

import asyncio

import pytest
from holdfast.client import AsyncClient, NotFound, Rejected
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2 as reasons
from redis_support import StartReplicas, counts, history, until
from redisproc import RedisServer

SHOPPERS = 300
ON_HAND = 100


async def reserve_all(targets: list[str], tenant: str, sku: str) -> list[object]:
    """Shopper i asks replica i % len(targets) for one unit, all at once."""
    shoppers = [
        AsyncClient(targets[i % len(targets)], tenant=tenant, actor=f"shopper-{i}", timeout=120.0)
        for i in range(SHOPPERS)
    ]
    try:
        return await asyncio.gather(
            *(
                shopper.reserve([(sku, "W1", 1)], hold_seconds=600, idempotency_key=f"cart-{i}")
                for i, shopper in enumerate(shoppers)
            ),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(shopper.close() for shopper in shoppers))


def test_300_shoppers_over_3_replicas_get_exactly_100_holds(
    replicas: StartReplicas, tenant: str
) -> None:
    servers = replicas(3)
    sku = "HOT-1"
    clients = [server.client(tenant) for server in servers]
    try:
        clients[0].set_stock(sku, "W1", ON_HAND, source_sequence=1)
        outcomes = asyncio.run(reserve_all([s.target for s in servers], tenant, sku))
        accepted = {i: o for i, o in enumerate(outcomes) if isinstance(o, pb.ReserveResponse)}
        refused = {i: o for i, o in enumerate(outcomes) if isinstance(o, Rejected)}
        other = [o for o in outcomes if not isinstance(o, pb.ReserveResponse | Rejected)]
        assert not other, other[:5]
        assert len(accepted) == ON_HAND, (len(accepted), len(refused))
        assert len(refused) == SHOPPERS - ON_HAND
        assert all(error.reason == "INSUFFICIENT_STOCK" for error in refused.values())
        ids = {answer.reservation.reservation_id for answer in accepted.values()}
        assert len(ids) == ON_HAND
        # Every replica accepted some: the load really was spread.
        assert {i % 3 for i in accepted} == {0, 1, 2}

        def agreed() -> list[tuple[int, int, int, int, int]] | None:
            seen = [counts(client, sku) for client in clients]
            return seen if all(c == (ON_HAND, ON_HAND, 0, 0, 0) for c in seen) else None

        until("every replica to show reserved 100 / available 0", agreed)

        # A retry of an accepted call, sent to another replica, replays it.
        for i in list(accepted)[:9]:
            answer = accepted[i]
            elsewhere = clients[(i + 1) % 3]
            again = elsewhere.reserve(
                [(sku, "W1", 1)], hold_seconds=600, idempotency_key=f"cart-{i}"
            )
            assert again.decision.replayed, i
            assert again.reservation.reservation_id == answer.reservation.reservation_id
            assert again.decision.reason == reasons.RESERVED
        # A retry of a refused call, sent to another replica, is refused again.
        for i in list(refused)[:3]:
            elsewhere = clients[(i + 2) % 3]
            with pytest.raises(Rejected) as again_refused:
                elsewhere.reserve([(sku, "W1", 1)], hold_seconds=600, idempotency_key=f"cart-{i}")
            assert again_refused.value.reason == "INSUFFICIENT_STOCK"
        # Every hold is readable on every replica, and nothing moved.
        for n, rid in enumerate(sorted(ids)):
            assert clients[n % 3].get_reservation(rid).state == pb.LINE_STATE_RESERVED
        assert all(counts(client, sku) == (ON_HAND, ON_HAND, 0, 0, 0) for client in clients)
    finally:
        for client in clients:
            client.close()


def test_a_reservation_made_on_one_replica_moves_on_the_others(
    replicas: StartReplicas, tenant: str
) -> None:
    servers = replicas(3)
    one, two, three = (server.client(tenant) for server in servers)
    try:
        one.set_stock("SKU-A", "W1", 10, source_sequence=1)
        rid = one.reserve([("SKU-A", "W1", 4)]).reservation.reservation_id
        assert two.allocate(rid).reservation.state == pb.LINE_STATE_ALLOCATED
        assert three.confirm_pick(rid).reservation.state == pb.LINE_STATE_PICKED
        assert one.unpick(rid).reservation.state == pb.LINE_STATE_ALLOCATED
        assert two.confirm_pick(rid).reservation.state == pb.LINE_STATE_PICKED
        assert three.confirm_shipment(rid).reservation.state == pb.LINE_STATE_SHIPPED
        for client in (one, two, three):
            assert counts(client, "SKU-A") == (6, 0, 0, 0, 6)
            assert [a for a, _, _ in history(client, rid)] == [
                "reserve",
                "allocate",
                "pick",
                "unpick",
                "pick",
                "ship",
            ]
        # A stale count is stale on every replica.
        two.set_stock("SKU-A", "W1", 20, source_sequence=5)
        with pytest.raises(Rejected) as stale:
            three.set_stock("SKU-A", "W1", 99, source_sequence=4)
        assert stale.value.reason == "STALE_UPDATE"
        assert stale.value.facts["applied_sequence"] == "5"
        assert counts(one, "SKU-A") == (20, 0, 0, 0, 20)
    finally:
        for client in (one, two, three):
            client.close()


def test_holds_expire_once_with_every_replica_sweeping(
    replicas: StartReplicas, tenant: str
) -> None:
    servers = replicas(3)
    clients = [server.client(tenant) for server in servers]
    try:
        clients[0].set_stock("SKU-E", "W1", 50, source_sequence=1)
        ids = [
            clients[n % 3].reserve([("SKU-E", "W1", 1)], hold_seconds=1).reservation.reservation_id
            for n in range(30)
        ]

        def all_expired() -> bool | None:
            states = [clients[0].get_reservation(rid).state for rid in ids]
            return True if all(s == pb.LINE_STATE_EXPIRED for s in states) else None

        until("all 30 one-second holds to expire", all_expired)
        for n, rid in enumerate(ids):
            actions = [a for a, _, _ in history(clients[n % 3], rid)]
            assert actions == ["reserve", "expire"], (rid, actions)
        # Released once each: not a unit more or less than on hand.
        for client in clients:
            assert counts(client, "SKU-E") == (50, 0, 0, 0, 50)
    finally:
        for client in clients:
            client.close()


def test_prefixes_keep_deployments_apart(
    replicas: StartReplicas, redis_server: RedisServer, tenant: str
) -> None:
    blue = replicas(1, prefix="blue-" + tenant)[0]
    green = replicas(1, prefix="green-" + tenant)[0]
    with blue.client(tenant) as on_blue, green.client(tenant) as on_green:
        on_blue.set_stock("SKU-P", "W1", 10, source_sequence=7)
        rid = on_blue.reserve([("SKU-P", "W1", 3)], idempotency_key="k").reservation.reservation_id
        assert list(on_green.get_availability(["SKU-P"]).positions) == []
        with pytest.raises(NotFound):
            on_green.get_reservation(rid)
        # Same key, same tenant, other prefix: a new decision, not a reuse or a replay.
        on_green.set_stock("SKU-P", "W1", 5, source_sequence=1)
        other = on_green.reserve([("SKU-P", "W1", 1)], idempotency_key="k")
        assert not other.decision.replayed
        assert counts(on_blue, "SKU-P") == (10, 3, 0, 0, 7)
        assert counts(on_green, "SKU-P") == (5, 1, 0, 0, 4)
    for prefix in ("blue-" + tenant, "green-" + tenant):
        keys = redis_server.keys(f"*{prefix}*")
        assert keys, f"nothing stored under {prefix}"
        strays = [k for k in keys if not (k.startswith(prefix) or k.startswith("{" + prefix))]
        assert not strays, strays[:10]
