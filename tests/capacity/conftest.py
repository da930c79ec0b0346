"""A real server process with a rule set that gives one location a daily
pick capacity and a carrier cutoff, activated through OperationsService."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from holdfast.client import OperationsClient
from holdfast.v1 import inventory_pb2_grpc
from serverproc import SERVICE, ServerProcess, serve_command

# UTC, so the promised date can be checked against the decision time the
# answer reports; a cutoff of 00:00 makes every allocation ship the next day.
RULES = """version = "capacity-1"
author = "ana@shop"
description = "pick capacity and cutoffs"

[[capacity]]
location = "CAP-UTC"
time_zone = "UTC"
daily_pick_units = 1000
cutoff = "00:00"
"""


class CapacityServer(ServerProcess):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory / "server.log", health_service=SERVICE)
        self.database = directory / "holdfast.db"

    def start(self) -> CapacityServer:
        self.launch(serve_command("--listen", self.target, "--database", str(self.database)))
        self.wait_serving()
        return self


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CapacityServer]:
    process = CapacityServer(tmp_path_factory.mktemp("capacity")).start()
    try:
        with OperationsClient(process.target, actor="ops-ana") as ops:
            ops.deploy_rule_set(RULES, comment="capacity tests")
            ops.activate_rule_set("capacity-1", reason="capacity tests")
        yield process
    finally:
        code = process.stop()
    assert code == 0, process.log_text()


@pytest.fixture(scope="module")
def inventory(server: CapacityServer) -> Iterator[inventory_pb2_grpc.InventoryServiceStub]:
    with grpc.insecure_channel(server.target) as channel:
        yield inventory_pb2_grpc.InventoryServiceStub(channel)
