"""Certificates made once per session, and two TLS servers: one with a
server certificate only, one that requires client certificates (mTLS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serverproc import serving
from tls_pki import Pki, make_pki
from tls_support import TlsServer


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _running(server: TlsServer) -> Iterator[TlsServer]:
    server.start()
    yield from serving(server)


@pytest.fixture(scope="session")
def tls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    log = tmp_path_factory.mktemp("tls") / "server.log"
    flags = ("--tls-cert-file", str(pki.server.cert), "--tls-key-file", str(pki.server.key))
    yield from _running(TlsServer(log, pki, *flags, client=None))


@pytest.fixture(scope="session")
def mtls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    log = tmp_path_factory.mktemp("mtls") / "server.log"
    flags = (
        "--tls-cert-file",
        str(pki.server.cert),
        "--tls-key-file",
        str(pki.server.key),
        "--tls-client-ca-file",
        str(pki.ca),
    )
    yield from _running(TlsServer(log, pki, *flags, client=pki.client))
