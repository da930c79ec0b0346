"""Mutual TLS as identity: with a credentials file (docs/auth.md), a client
certificate's subject CN is mapped to its ``[[clients]]`` principal, whose
tenant, name and roles the call then has (the tenant metadata is ignored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from holdfast.client import Client, HoldfastError
from tls_pki import CLIENT_CN, WAREHOUSE_CN, Pair, Pki
from tls_support import TlsServer

CREDENTIALS = f"""
[[clients]]
name = "shop-eu"
tenant = "eu"
roles = ["storefront"]
common_name = "{CLIENT_CN}"

[[clients]]
name = "dc-1"
tenant = "eu"
roles = ["warehouse"]
common_name = "{WAREHOUSE_CN}"
"""


@pytest.fixture(scope="module")
def server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    directory = tmp_path_factory.mktemp("mtls-identity")
    credentials = directory / "credentials.toml"
    credentials.write_text(CREDENTIALS)
    flags = (
        "--tls-cert-file", str(pki.server.cert), "--tls-key-file", str(pki.server.key),
        "--tls-client-ca-file", str(pki.ca), "--auth-file", str(credentials),
        "--database", str(directory / "holdfast.db"),  # the event feed needs the journal
    )  # fmt: skip
    process = TlsServer(directory / "server.log", pki, *flags, client=pki.client)
    process.start()
    try:
        process.wait_serving()  # health needs no identity
    except BaseException:
        process.kill()
        raise
    yield process
    assert process.stop() == 0, process.log_text()


def client(server: TlsServer, pki: Pki, pair: Pair, tenant: str | None = None) -> Client:
    return Client(server.target, tenant=tenant, tls_ca=pki.ca, tls_cert=pair.cert, tls_key=pair.key)


def test_a_client_certificate_is_its_principal(server: TlsServer, pki: Pki, tmp_path: Path) -> None:
    sku = f"cn-{tmp_path.name}"
    # The warehouse's certificate may count stock; the tenant it names is ignored.
    with client(server, pki, pki.warehouse, tenant="someone-else") as warehouse:
        warehouse.set_stock(sku, "DC1", 4, source_sequence=1)
    with client(server, pki, pki.client) as shop:
        # The storefront's may not.
        with pytest.raises(HoldfastError) as denied:
            shop.set_stock(sku, "DC1", 9, source_sequence=2)
        assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert denied.value.reason == "PERMISSION_DENIED"
        # It holds in tenant eu (where the warehouse counted), as shop-eu.
        held = shop.reserve([(sku, "DC1", 3)])
        reservation = shop.get_reservation(held.reservation.reservation_id)
        assert [entry.actor for entry in reservation.history][:1] == ["shop-eu"]
        events = shop.list_events(reservation_id=held.reservation.reservation_id).events
        assert {(e.tenant, e.actor) for e in events} == {("eu", "shop-eu")}


def test_a_certificate_in_no_entry_is_unauthenticated(server: TlsServer, pki: Pki) -> None:
    # Signed by the client CA, so the handshake succeeds; but it names nobody.
    with client(server, pki, pki.stranger) as stranger, pytest.raises(HoldfastError) as refused:
        stranger.get_availability(["anything"])
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.reason == "UNAUTHENTICATED"
