"""A replica SIGKILLed and restarted catches up with what the others decided
while it was gone: it keeps no state of its own that could go stale."""

from __future__ import annotations

import pytest
from holdfast.client import Rejected
from holdfast.v1 import inventory_pb2 as pb
from redis_support import StartReplicas, counts, history


def test_a_killed_replica_comes_back_with_the_others_state(
    replicas: StartReplicas, tenant: str
) -> None:
    first, second, third = replicas(3)
    with first.client(tenant) as one, second.client(tenant) as two:
        one.set_stock("SKU-K", "W1", 50, source_sequence=1)
        early = one.reserve([("SKU-K", "W1", 5)]).reservation.reservation_id
        with third.client(tenant) as three:  # warm: it has served this position
            assert counts(three, "SKU-K") == (50, 5, 0, 0, 45)
            assert three.get_reservation(early).state == pb.LINE_STATE_RESERVED

        third.kill()
        assert not third.running
        during = two.reserve([("SKU-K", "W1", 7)], idempotency_key="while-down")
        one.allocate(early)
        two.set_stock("SKU-K", "W1", 60, source_sequence=2)
        dropped = one.reserve([("SKU-K", "W1", 3)]).reservation.reservation_id
        two.release(dropped)

        third.start()
        third.wait_serving()
        with third.client(tenant) as three:
            assert counts(three, "SKU-K") == (60, 7, 5, 0, 48)
            assert [a for a, _, _ in history(three, early)] == ["reserve", "allocate"]
            assert [a for a, _, _ in history(three, dropped)] == ["reserve", "release"]
            # A retry of a call decided while it was down replays on it.
            again = three.reserve([("SKU-K", "W1", 7)], idempotency_key="while-down")
            assert again.decision.replayed
            assert again.reservation.reservation_id == during.reservation.reservation_id
            # The count the others applied is the one it orders against.
            with pytest.raises(Rejected) as stale:
                three.set_stock("SKU-K", "W1", 99, source_sequence=2)
            assert stale.value.reason == "STALE_UPDATE"
            # It decides on the shared state, and the others see its decisions.
            three.reserve([("SKU-K", "W1", 48)])
            with pytest.raises(Rejected) as short:
                one.reserve([("SKU-K", "W1", 1)])
            assert short.value.reason == "INSUFFICIENT_STOCK"
            assert short.value.facts["available"] == "0"
            assert counts(two, "SKU-K") == (60, 55, 5, 0, 0)
