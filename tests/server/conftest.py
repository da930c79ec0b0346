"""One real server process for the tests in this directory.

Started once per session on a free loopback port with a fast expiry sweep;
every test uses its own SKUs and idempotency keys so they can share it. At
the end it is sent SIGTERM and must exit 0.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2_grpc
from holdfast.v1 import inventory_pb2_grpc
from server_support import ServerProcess
from serverproc import serving


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    yield from serving(ServerProcess.on_free_port(log_path, "--sweep-interval", "0.05").start())


@pytest.fixture(scope="session")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as channel:
        yield channel


@pytest.fixture(scope="session")
def inventory(channel: grpc.Channel) -> inventory_pb2_grpc.InventoryServiceStub:
    return inventory_pb2_grpc.InventoryServiceStub(channel)


@pytest.fixture(scope="session")
def health(channel: grpc.Channel) -> health_pb2_grpc.HealthStub:
    return health_pb2_grpc.HealthStub(channel)
