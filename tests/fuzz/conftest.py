"""One real server for the fuzz module, a victim tenant's stock and
reservations made before any fuzzing, and the fuzzer's own stock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import pytest
from fuzz_support import FUZZ_METADATA, FUZZ_SKUS, KNOWN, VICTIM_PREFIX, FuzzServer
from google.protobuf import timestamp_pb2
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc


@dataclass
class Victim:
    """A storefront tenant with accepted data the fuzzer must not change."""

    tenant: str
    skus: list[str]
    reservation_ids: list[str] = field(default_factory=list)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-holdfast-tenant", self.tenant), ("x-holdfast-actor", "victim-shop"))

    def snapshot(self, stub: inventory_pb2_grpc.InventoryServiceStub) -> tuple[bytes, list[bytes]]:
        """Its positions and reservations, serialized deterministically."""
        positions = stub.GetAvailability(
            pb.GetAvailabilityRequest(skus=self.skus), metadata=self.metadata, timeout=10
        ).positions
        ordered = sorted(positions, key=lambda p: (p.sku, p.location))
        listing = b"".join(p.SerializeToString(deterministic=True) for p in ordered)
        reservations = [
            stub.GetReservation(
                pb.GetReservationRequest(reservation_id=rid), metadata=self.metadata, timeout=10
            ).SerializeToString(deterministic=True)
            for rid in self.reservation_ids
        ]
        return listing, reservations


def _key() -> str:
    return f"setup-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    process = FuzzServer(tmp_path_factory.mktemp("fuzz-server")).start()
    try:
        yield process
    finally:
        code = process.stop()
    assert code == 0, f"server did not drain cleanly ({code}):\n{process.log_since_start()}"


@pytest.fixture(scope="module")
def channel(server: FuzzServer) -> Iterator[grpc.Channel]:
    limit = 64 * 1024 * 1024  # the client never refuses what it is asked to send
    options = [("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
    with grpc.insecure_channel(server.target, options=options) as made:
        yield made


@pytest.fixture(scope="module")
def victim(channel: grpc.Channel) -> Victim:
    """Stock and reservations (held, allocated, picked) of another tenant."""
    stub = inventory_pb2_grpc.InventoryServiceStub(channel)
    name = uuid.uuid4().hex[:8]
    made = Victim(
        tenant=f"{VICTIM_PREFIX}tenant-{name}",
        skus=[f"{VICTIM_PREFIX}{name}-{n}" for n in range(3)],
    )
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    for sequence, sku in enumerate(made.skus, start=1):
        for location in ("DC1", "DC2"):
            stub.SetStock(
                pb.SetStockRequest(
                    idempotency_key=_key(), sku=sku, location=location, on_hand=1000,
                    source_sequence=sequence, as_of=now,
                ),
                metadata=made.metadata, timeout=10,
            )  # fmt: skip
    for n in range(6):
        lines = [pb.LineRequest(sku=sku, location="DC1", quantity=n + 1) for sku in made.skus]
        answer = stub.Reserve(
            pb.ReserveRequest(
                idempotency_key=_key(), order_ref=f"order-{n}", channel="web", lines=lines,
                hold_seconds=3600,
            ),
            metadata=made.metadata, timeout=10,
        )  # fmt: skip
        made.reservation_ids.append(answer.reservation.reservation_id)
    first, second = made.reservation_ids[:2]
    for rid in (first, second):
        stub.Allocate(
            pb.AllocateRequest(idempotency_key=_key(), reservation_id=rid),
            metadata=made.metadata,
            timeout=10,
        )
    stub.ConfirmPick(
        pb.ConfirmPickRequest(idempotency_key=_key(), reservation_id=second),
        metadata=made.metadata,
        timeout=10,
    )
    KNOWN.victim_ids[:] = made.reservation_ids
    KNOWN.victim_tenant = made.tenant
    return made


@pytest.fixture(scope="module")
def fuzz_stock(channel: grpc.Channel) -> None:
    """The fuzzer's own positions and one reservation, so some fuzz calls are accepted."""
    stub = inventory_pb2_grpc.InventoryServiceStub(channel)
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    for sku in FUZZ_SKUS:
        for location in ("DC1", "DC2"):
            stub.SetStock(
                pb.SetStockRequest(
                    idempotency_key=_key(), sku=sku, location=location, on_hand=1_000_000,
                    source_sequence=1, as_of=now,
                ),
                metadata=FUZZ_METADATA, timeout=10,
            )  # fmt: skip
    answer = stub.Reserve(
        pb.ReserveRequest(
            idempotency_key=_key(),
            lines=[pb.LineRequest(sku=FUZZ_SKUS[0], location="DC1", quantity=1)],
        ),
        metadata=FUZZ_METADATA,
        timeout=10,
    )
    KNOWN.own_ids.append(answer.reservation.reservation_id)
