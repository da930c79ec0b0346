"""What each scenario sends, and what it remembers of the answers.

A scenario hands out one operation at a time (``next_op``) and hears every
outcome (``on_outcome``). Multi-step flows queue their follow-ups (allocate
after a reserve, ...), which are handed out before new work, so the same
scenario drives the closed loop, the open loop and batches alike.
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from typing import ClassVar

from google.protobuf.timestamp_pb2 import Timestamp

from holdfast.loadtest import ops
from holdfast.loadtest.options import Settings
from holdfast.v1 import inventory_pb2 as pb

K = ops.KINDS
CHURN_HOLD_SECONDS = 2


def sku_names(settings: Settings) -> list[str]:
    return [f"{settings.sku_prefix}-{i:05d}" for i in range(settings.skus)]


def source_sequence_base() -> int:
    """Warehouse sequences that grow across runs: microseconds since the epoch."""
    return time.time_ns() // 1000


def now_timestamp() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


class Scenario:
    name = ""
    # Units given back by the scenario (released or expired holds) make
    # "accepted units <= stock at the start" meaningless; checked when False.
    returns_stock = False

    def __init__(self, settings: Settings, location: str) -> None:
        self.settings = settings
        self.skus = sku_names(settings)
        self.location = location
        self.random = random.Random()
        self.accepted: Counter[str] = Counter()  # units held by first-time reserves, per SKU
        self.follow_ups: deque[ops.Op] = deque()
        self._keys = 0

    def key(self) -> str:
        self._keys += 1
        return f"{self.settings.run_id}-{self._keys}"

    def pick_sku(self) -> str:
        return self.skus[self.random.randrange(len(self.skus))]

    def next_op(self) -> ops.Op:
        if self.follow_ups:
            return self.follow_ups.popleft()
        return self.new_op()

    def new_op(self) -> ops.Op:
        raise NotImplementedError

    def reserve(self, units: int = 1, hold_seconds: int = 0) -> ops.Op:
        sku = self.pick_sku()
        request = pb.ReserveRequest(
            idempotency_key=self.key(),
            channel="loadtest",
            lines=[pb.LineRequest(sku=sku, location=self.location, quantity=units)],
            hold_seconds=hold_seconds,
        )
        return ops.Op(K["reserve"], request, sku, units)

    def on_outcome(self, op: ops.Op, outcome: ops.Outcome) -> None:
        if op.kind.name == "reserve" and outcome.status == ops.OK and not outcome.replayed:
            self.accepted[op.sku] += outcome.units
        self.after(op, outcome)

    def after(self, op: ops.Op, outcome: ops.Outcome) -> None:
        """Queue follow-ups; the default does nothing."""

    def follow(self, kind: str, op: ops.Op, reservation_id: str) -> None:
        request = getattr(pb, K[kind].method + "Request")(
            idempotency_key=self.key(), reservation_id=reservation_id
        )
        self.follow_ups.append(ops.Op(K[kind], request, op.sku, op.units))


class FlashSale(Scenario):
    """One hot SKU (or --skus of them), every buyer reserves one unit."""

    name = "flash-sale"

    def new_op(self) -> ops.Op:
        return self.reserve()


class CartChurn(Scenario):
    """Short holds; half are released, the rest left to expire."""

    name = "cart-churn"
    returns_stock = True

    def new_op(self) -> ops.Op:
        return self.reserve(hold_seconds=CHURN_HOLD_SECONDS)

    def after(self, op: ops.Op, outcome: ops.Outcome) -> None:
        if op.kind.name == "reserve" and outcome.status == ops.OK and self.random.random() < 0.5:
            self.follow("release", op, outcome.reservation_id)


class Checkout(Scenario):
    """reserve -> allocate -> confirm pick -> confirm shipment."""

    name = "checkout"
    _NEXT: ClassVar[dict[str, str]] = {
        "reserve": "allocate",
        "allocate": "confirm_pick",
        "confirm_pick": "confirm_shipment",
    }

    def new_op(self) -> ops.Op:
        return self.reserve()

    def after(self, op: ops.Op, outcome: ops.Outcome) -> None:
        step = self._NEXT.get(op.kind.name)
        if step is not None and outcome.status == ops.OK:
            self.follow(step, op, outcome.reservation_id)


class Mixed(Scenario):
    """80% reads (GetAvailability, GetReservation), 20% reserves."""

    name = "mixed"
    READ_SHARE = 0.8

    def __init__(self, settings: Settings, location: str) -> None:
        super().__init__(settings, location)
        self.recent: deque[str] = deque(maxlen=1000)

    def new_op(self) -> ops.Op:
        draw = self.random.random()
        if draw >= self.READ_SHARE:
            return self.reserve()
        if draw < self.READ_SHARE / 2 and self.recent:
            rid = self.recent[self.random.randrange(len(self.recent))]
            return ops.Op(K["get_reservation"], pb.GetReservationRequest(reservation_id=rid))
        sku = self.pick_sku()
        return ops.Op(K["get_availability"], pb.GetAvailabilityRequest(skus=[sku]), sku)

    def after(self, op: ops.Op, outcome: ops.Outcome) -> None:
        if op.kind.name == "reserve" and outcome.status == ops.OK:
            self.recent.append(outcome.reservation_id)


class WarehouseFeed(Scenario):
    """Counts (SetStock, growing source sequences) and adjustments (AdjustStock)."""

    name = "warehouse-feed"

    def __init__(self, settings: Settings, location: str) -> None:
        super().__init__(settings, location)
        self.sequence = source_sequence_base()

    def new_op(self) -> ops.Op:
        sku = self.pick_sku()
        if self.random.random() < 0.5:
            self.sequence += 1
            request = pb.SetStockRequest(
                idempotency_key=self.key(),
                sku=sku,
                location=self.location,
                on_hand=self.settings.stock + self.random.randrange(100),
                source_sequence=self.sequence,
                as_of=now_timestamp(),
            )
            return ops.Op(K["set_stock"], request, sku)
        adjust = pb.AdjustStockRequest(
            idempotency_key=self.key(),
            sku=sku,
            location=self.location,
            delta=self.random.choice((-1, 1)),
            adjustment_reason="loadtest",
        )
        return ops.Op(K["adjust_stock"], adjust, sku)


SCENARIOS: dict[str, type[Scenario]] = {
    s.name: s for s in (FlashSale, CartChurn, Checkout, Mixed, WarehouseFeed)
}


def make(settings: Settings, location: str) -> Scenario:
    return SCENARIOS[settings.scenario](settings, location)
