"""Bearer tokens never leak: a real server with a credentials file is called
with known token strings (accepted, refused, outside their roles, unknown,
under the wrong scheme, with junk appended), and afterwards neither any token
nor its SHA-256 hex appears in the server's log, in any answer (message,
details, trailers, bodies) or in the /metrics text."""

from __future__ import annotations

import hashlib
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from grpc_status import rpc_status
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, operations_pb2, operations_pb2_grpc
from serverproc import SERVICE, ServerProcess, free_port, serve_command

SHOP = "tok-shop-" + secrets.token_urlsafe(24)
WAREHOUSE = "tok-warehouse-" + secrets.token_urlsafe(24)
OPERATOR = "tok-operator-" + secrets.token_urlsafe(24)
READER = "tok-reader-" + secrets.token_urlsafe(24)
UNKNOWN = "tok-unknown-" + secrets.token_urlsafe(24)  # in no credentials file
ISSUED = {"shop-user": SHOP, "dc-user": WAREHOUSE, "ops-user": OPERATOR, "read-user": READER}
ROLES = {"shop-user": "storefront", "dc-user": "warehouse", "ops-user": "operator"}
ROLES["read-user"] = "reader"
TENANT = "sec-shop"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def forbidden() -> dict[str, str]:
    """Every string that must never be shown: tokens and their digests."""
    found: dict[str, str] = {}
    for token in [*ISSUED.values(), UNKNOWN]:
        found[token] = f"token {token[:12]}..."
        found[digest(token)] = f"sha256 of {token[:12]}..."
        found[digest(token).upper()] = f"SHA256 of {token[:12]}..."
    return found


class AuthServer(ServerProcess):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory / "server.log", health_service=SERVICE)
        self.auth_file = directory / "credentials.toml"
        self.metrics_port = free_port()
        self.directory = directory

    def start(self) -> AuthServer:
        entries = [
            f'[[tokens]]\nname = "{name}"\ntenant = "{TENANT}"\n'
            f'roles = ["{ROLES[name]}"]\nsha256 = "{digest(token)}"\n'
            for name, token in ISSUED.items()
        ]
        self.auth_file.write_text("\n".join(entries))
        self.launch(
            serve_command(
                "--listen", self.target, "--database", str(self.directory / "holdfast.db"),
                "--auth-file", str(self.auth_file), "--log-level", "DEBUG",
                "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
            )
        )  # fmt: skip
        self.wait_serving()
        return self


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    process = AuthServer(tmp_path_factory.mktemp("auth-server")).start()
    try:
        yield process
    finally:
        process.stop()


class Seen:
    """Everything the server answered, as text."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.codes: list[str] = []

    def add_error(self, error: grpc.RpcError) -> None:
        self.codes.append(error.code().name)
        self.texts.append(error.details() or "")
        self._metadata(error.trailing_metadata())
        self._metadata(error.initial_metadata())
        status = rpc_status.from_call(error)
        if status is not None:
            self.texts.append(str(status))
            self.texts.extend(str(detail) for detail in status.details)

    def add_answer(self, answer: Any) -> None:
        self.codes.append("OK")
        self.texts.append(str(answer))

    def _metadata(self, metadata: Any) -> None:
        for key, value in metadata or ():
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            self.texts.append(f"{key}={text}")

    def call(self, method: Any, request: Any, header: str | None) -> str:
        metadata = [("x-holdfast-tenant", "someone-else"), ("x-holdfast-actor", "mallory")]
        if header is not None:
            metadata.append(("authorization", header))
        try:
            self.add_answer(method(request, metadata=metadata, timeout=10))
        except grpc.RpcError as error:
            self.add_error(error)
        return self.codes[-1]


def _now() -> timestamp_pb2.Timestamp:
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    return now


def test_tokens_and_digests_never_shown(server: AuthServer) -> None:
    seen = Seen()
    with grpc.insecure_channel(server.target) as channel:
        inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
        operations = operations_pb2_grpc.OperationsServiceStub(channel)
        stock = pb.SetStockRequest(
            idempotency_key="sec-stock-1", sku="sec-sku", location="DC1", on_hand=10,
            source_sequence=1, as_of=_now(),
        )  # fmt: skip
        reserve = pb.ReserveRequest(
            idempotency_key="sec-hold-1",
            lines=[pb.LineRequest(sku="sec-sku", location="DC1", quantity=1)],
        )
        bad_reserve = pb.ReserveRequest(idempotency_key="", lines=[])
        audit = operations_pb2.RunAuditRequest()
        batch = pb.BatchRequest(
            operations=[pb.Operation(set_stock=stock), pb.Operation(reserve=reserve)]
        )

        # Accepted, each within its role.
        assert seen.call(inventory.SetStock, stock, f"Bearer {WAREHOUSE}") == "OK"
        assert seen.call(inventory.Reserve, reserve, f"Bearer {SHOP}") == "OK"
        assert seen.call(inventory.Reserve, reserve, f"bearer {SHOP}") == "OK"  # a replay
        assert seen.call(operations.RunAudit, audit, f"Bearer {OPERATOR}") == "OK"
        assert (
            seen.call(inventory.GetAvailability, pb.GetAvailabilityRequest(), f"Bearer {READER}")
            == "OK"
        )
        # Known token, outside its role (unary, and inside a batch).
        assert seen.call(inventory.SetStock, stock, f"Bearer {SHOP}") == "PERMISSION_DENIED"
        assert seen.call(operations.RunAudit, audit, f"Bearer {SHOP}") == "PERMISSION_DENIED"
        assert seen.call(inventory.Reserve, reserve, f"Bearer {READER}") == "PERMISSION_DENIED"
        seen.call(inventory.ExecuteBatch, batch, f"Bearer {SHOP}")
        # Known token, a request the server refuses.
        assert seen.call(inventory.Reserve, bad_reserve, f"Bearer {SHOP}") == "INVALID_ARGUMENT"
        # No identity, an unknown token, the right token said wrongly.
        wrong_headers = [
            None, f"Bearer {UNKNOWN}", f"Basic {SHOP}", SHOP, f"Bearer {SHOP}x",
            f"Bearer {SHOP[:-1]}", f"Bearer {digest(SHOP)}", f"Token {OPERATOR}",
        ]  # fmt: skip
        for header in wrong_headers:
            assert seen.call(inventory.Reserve, reserve, header) == "UNAUTHENTICATED", header
            assert seen.call(operations.RunAudit, audit, header) == "UNAUTHENTICATED", header
        # The event feed, refused and (cut short by our deadline) accepted.
        for header in (f"Bearer {UNKNOWN}", f"Bearer {OPERATOR}"):
            stream = inventory.WatchEvents(
                pb.WatchEventsRequest(from_sequence=1),
                metadata=[("authorization", header)],
                timeout=1.0,
            )
            try:
                for event in stream:
                    seen.add_answer(event)
            except grpc.RpcError as error:
                seen.add_error(error)
    with urllib.request.urlopen(
        f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10
    ) as answer:
        metrics_text = answer.read().decode()
    assert server.stop() == 0
    log = server.log_text()

    # The checks look where the calls left traces.
    assert "UNAUTHENTICATED" in seen.codes
    assert "PERMISSION_DENIED" in seen.codes
    assert "shop-user" in log, "the calls were logged with their principal"
    assert "UNAUTHENTICATED" in log, "the refused calls were logged"
    assert "grpc_server_handled_total" in metrics_text or "holdfast_" in metrics_text

    print("codes:", sorted(set(seen.codes)), len(seen.codes), "calls")
    answers = "\n".join(seen.texts)
    places = {"server log": log, "answers": answers, "/metrics": metrics_text}
    leaks = [
        f"{what} in {place}"
        for secret, what in forbidden().items()
        for place, text in places.items()
        if secret in text
    ]
    assert leaks == []


def test_redis_password_not_logged(tmp_path: Path) -> None:
    """A redis_url's password stays out of the log when Redis cannot be reached."""
    password = "pw-" + secrets.token_urlsafe(16)
    process = ServerProcess(tmp_path / "server.log")
    process.launch(
        serve_command(
            "--listen", f"127.0.0.1:{free_port()}",
            "--redis-url", f"redis://:{password}@127.0.0.1:{free_port()}/0",
        )
    )  # fmt: skip
    assert process.wait() == 1, process.log_text()  # nobody listens there
    log = process.log_text()
    assert "Redis" in log
    assert password not in log
