"""Two rule sets that decide observably differently, and calls to tell them apart.

A web reserve's hold is its channel's default under the rule set deciding
it, so an answer's own expiry says which set decided it.
"""

from __future__ import annotations

import uuid

from google.protobuf.timestamp_pb2 import Timestamp
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, operations_pb2_grpc
from holdfast.v1 import operations_pb2 as ops
from runtime_support import OPERATOR

A = "rules-A"
B = "rules-B"
HOLD_SECONDS = {A: 600, B: 120}

TEXTS = {
    A: f"""version = "{A}"
author = "ana@shop"
description = "web holds ten minutes"

[holds]
default_seconds = 600
max_seconds = 3600
""",
    B: f"""version = "{B}"
author = "ben@shop"
description = "web holds two minutes"

[holds]
default_seconds = 600
max_seconds = 3600

[holds.channels.web]
default_seconds = 120
max_seconds = 3600
""",
}


async def deploy_both(operations: operations_pb2_grpc.OperationsServiceStub) -> None:
    """Deploy A and B (stored, neither deciding yet)."""
    for version, text in TEXTS.items():
        deployed = await operations.DeployRuleSet(
            ops.DeployRuleSetRequest(text=text, comment=f"deploy {version}"), metadata=OPERATOR
        )
        assert (deployed.version, deployed.state) == (version, ops.DEPLOYED)


def hold_seconds(answer: pb.ReserveResponse) -> int:
    reservation = answer.reservation
    return (
        reservation.expires_at.ToMilliseconds() - reservation.created_at.ToMilliseconds()
    ) // 1000


async def stock(
    inventory: inventory_pb2_grpc.InventoryServiceStub, sku: str, location: str, on_hand: int
) -> str:
    """Count ``on_hand`` units; the count's idempotency key."""
    key = str(uuid.uuid4())
    as_of = Timestamp()
    as_of.GetCurrentTime()
    await inventory.SetStock(
        pb.SetStockRequest(
            idempotency_key=key,
            sku=sku,
            location=location,
            on_hand=on_hand,
            source_sequence=1,
            as_of=as_of,
        )
    )
    return key


def reserve(sku: str, quantity: int, channel: str = "web") -> pb.ReserveRequest:
    return pb.ReserveRequest(
        idempotency_key=str(uuid.uuid4()),
        order_ref="o",
        channel=channel,
        lines=[pb.LineRequest(sku=sku, quantity=quantity)],
    )
