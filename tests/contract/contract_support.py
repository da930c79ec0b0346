"""What the contract tests share: the running backend, names, positions, waiting."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from holdfast.client import Client
from holdfast.v1 import inventory_pb2 as pb
from serverproc import ServerProcess

WAIT_S = 30.0  # a bound for a slow shared box, never a sleep

Stock = Callable[[str, str, int], pb.StockResponse]
"""``stock(sku, location, on_hand)``: a warehouse count with a fresh sequence."""


@dataclass
class Backend:
    """A running server on one backend."""

    name: str
    server: ServerProcess
    flags: list[str]

    @property
    def target(self) -> str:
        return self.server.target


def sku_name(tag: str = "SKU") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


class Position(NamedTuple):
    on_hand: int
    reserved: int
    allocated: int
    picked: int
    available: int


def position(client: Client, sku: str, location: str = "W1") -> Position:
    """GetAvailability for one SKU at one location, as plain numbers."""
    found = [
        p for p in client.get_availability([sku], [location]).positions if p.location == location
    ]
    assert len(found) == 1, (sku, location, found)
    p = found[0]
    return Position(p.on_hand, p.reserved, p.allocated, p.picked, p.available)


def wait_for_state(
    client: Client, reservation_id: str, state: pb.LineState.ValueType, timeout: float = WAIT_S
) -> pb.Reservation:
    """Poll GetReservation until the reservation is in ``state`` (or fail)."""
    deadline = time.monotonic() + timeout
    while True:
        shown = client.get_reservation(reservation_id)
        if shown.state == state:
            return shown
        assert time.monotonic() < deadline, (
            f"{reservation_id} still {pb.LineState.Name(shown.state)} after {timeout} s"
        )
        time.sleep(0.02)
