"""The in-process server the tests of this directory drive, and waiting on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from holdfast.ledger import Ledger
from holdfast.metrics import Metrics
from holdfast.rule_control import RuleControl
from holdfast.v1 import inventory_pb2_grpc

# Generous for a shared 2-core machine.
WAIT_S = 60.0


@dataclass
class Running:
    ledger: Ledger
    control: RuleControl
    metrics: Metrics
    channel: grpc.aio.Channel
    inventory: inventory_pb2_grpc.InventoryServiceStub


async def until(probe: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Let the loop run until ``probe()`` holds (or fail), never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        await asyncio.sleep(0.005)
