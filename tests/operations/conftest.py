"""One durable server (no fault injection) shared by the module's tests; each
test names its own SKUs and tenant, so they do not see each other's stock."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from holdfast.client import Client, OperationsClient
from holdfast.v1 import inventory_pb2 as pb
from operations_support import OpsServer, unique
from serverproc import serving


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsServer]:
    yield from serving(OpsServer(tmp_path_factory.mktemp("ops-server")).start())


@pytest.fixture
def tenant() -> str:
    return unique("t")


@pytest.fixture
def ops(server: OpsServer) -> Iterator[OperationsClient]:
    """An operator: named, in a tenant of their own."""
    with OperationsClient(server.target, tenant=unique("ops"), actor="ops-alice") as made:
        yield made


@pytest.fixture
def shop(server: OpsServer, tenant: str) -> Iterator[Client]:
    """A storefront in ``tenant``."""
    with Client(server.target, tenant=tenant, actor="checkout") as made:
        yield made


_sequence = itertools.count(1)


@pytest.fixture
def stock(shop: Client) -> Callable[[str, str, int], pb.StockResponse]:
    def count(sku: str, location: str, on_hand: int) -> pb.StockResponse:
        return shop.set_stock(sku, location, on_hand, source_sequence=next(_sequence))

    return count
