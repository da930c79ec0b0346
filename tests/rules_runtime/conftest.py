"""A server in this test's process, over loopback gRPC, with a durable ledger.

The rule-set RPCs of OperationsService are being built beside these tests;
until they exist, the tests switch and shadow rule sets with
:class:`holdfast.rule_control.RuleControl` directly, on the server's own
event loop (as the RPCs will). Everything else is real: the SQLite journal,
the breakers, the interceptor, the servicers of ``holdfast.server.build``,
clients over loopback sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1._async import HealthServicer
from holdfast.breakers import Breakers
from holdfast.config import Settings
from holdfast.interceptors import CallInterceptor
from holdfast.ledger import Ledger
from holdfast.metrics import Metrics
from holdfast.rule_control import RuleControl
from holdfast.server import build
from holdfast.v1 import inventory_pb2_grpc
from runtime_support import Running


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    settings = Settings(
        listen="127.0.0.1:0", database=str(tmp_path / "holdfast.db"), metrics_listen=""
    )
    ledger = await Ledger.open(settings)
    metrics = Metrics("test")
    ledger.metrics = metrics
    breakers = Breakers()
    ledger.breakers = breakers
    interceptor = CallInterceptor(metrics, max_in_flight=settings.max_in_flight, breakers=breakers)
    server, _ = build(settings, ledger, HealthServicer(), interceptor, breakers, metrics)
    port = server.add_insecure_port(settings.listen)
    await server.start()
    control = RuleControl(ledger, metrics)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = inventory_pb2_grpc.InventoryServiceStub(channel)
            yield Running(ledger, control, metrics, channel, stub)
    finally:
        await server.stop(None)
        await ledger.close()
