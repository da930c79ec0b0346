"""One server with credentials shared by the suite; each test names its own
SKUs, so tests do not see each other's stock."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from auth_support import AuthServer, Credentials, write_credentials
from holdfast.client import OperationsClient
from serverproc import serving


@pytest.fixture(scope="session")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    return write_credentials(tmp_path_factory.mktemp("auth-credentials"))


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, credentials: Credentials
) -> Iterator[AuthServer]:
    yield from serving(AuthServer(tmp_path_factory.mktemp("auth-server"), credentials).start())


Connect = Callable[..., OperationsClient]


@pytest.fixture
def connect(server: AuthServer, credentials: Credentials) -> Iterator[Connect]:
    """``connect(tenant, role)``: a client with that principal's token;
    ``connect(token=...)`` any token; ``connect()`` none. Closed after the test."""
    made: list[OperationsClient] = []

    def open_client(
        tenant: str | None = None,
        role: str | None = None,
        *,
        token: str | None = None,
        metadata_tenant: str | None = None,
    ) -> OperationsClient:
        if tenant is not None and role is not None:
            token = credentials.token(tenant, role)
        client = OperationsClient(
            server.target, token=token, tenant=metadata_tenant, actor=None, timeout=10.0
        )
        made.append(client)
        return client

    yield open_client
    for client in made:
        client.close()


_sequence = itertools.count(1)


def next_sequence() -> int:
    return next(_sequence)
