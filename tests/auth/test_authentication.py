"""Who is calling: no identity and an unknown token are UNAUTHENTICATED, a
known token makes the call its principal's (tenant and actor, whatever the
metadata says), health and reflection answer anyone."""

from __future__ import annotations

import hashlib
import secrets
import subprocess

import grpc
import pytest
from auth_support import AuthServer, unique
from conftest import Connect, next_sequence
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from holdfast.client import HoldfastError
from serverproc import PYTHON, REPO


def stock(connect: Connect, tenant: str, units: int = 10) -> str:
    sku = unique("sku")
    connect(tenant, "warehouse").set_stock(sku, "dc1", units, source_sequence=next_sequence())
    return sku


def test_no_credentials_are_unauthenticated(connect: Connect) -> None:
    with pytest.raises(HoldfastError) as refused:
        connect().get_availability()
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.reason == "UNAUTHENTICATED"


def test_an_unknown_token_is_unauthenticated_and_not_repeated(connect: Connect) -> None:
    wrong = secrets.token_urlsafe(32)
    with pytest.raises(HoldfastError) as refused:
        connect(token=wrong).get_availability()
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.reason == "UNAUTHENTICATED"
    assert wrong not in str(refused.value)
    assert all(wrong not in value for value in refused.value.facts.values())


def test_a_malformed_authorization_header_is_unauthenticated(server: AuthServer) -> None:
    from holdfast.v1 import inventory_pb2, inventory_pb2_grpc

    with grpc.insecure_channel(server.target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "token-without-scheme"):
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetAvailability(
                    inventory_pb2.GetAvailabilityRequest(),
                    metadata=(("authorization", header),),
                    timeout=10,
                )
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_health_and_reflection_answer_without_credentials(server: AuthServer) -> None:
    with grpc.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = list(reflection.ServerReflectionInfo(iter([request]), timeout=10))
        names = {s.name for s in replies[0].list_services_response.service}
        assert "holdfast.v1.InventoryService" in names


def test_the_tenant_and_actor_are_the_principals_not_the_metadatas(connect: Connect) -> None:
    sku = stock(connect, "acme")
    # The storefront claims another tenant in metadata: it is ignored.
    shop = connect("acme", "storefront", metadata_tenant="globex")
    held = shop.reserve([(sku, "dc1", 1)]).reservation
    assert connect("acme", "reader").get_reservation(held.reservation_id).reservation_id
    with pytest.raises(HoldfastError) as refused:
        connect("globex", "reader").get_reservation(held.reservation_id)
    assert refused.value.code == grpc.StatusCode.NOT_FOUND
    events = connect("acme", "reader").list_events(reservation_id=held.reservation_id).events
    assert {e.tenant for e in events} == {"acme"}
    assert {e.actor for e in events} == {"acme-storefront"}


def test_hash_token_prints_the_line_for_the_file() -> None:
    token = secrets.token_urlsafe(24)
    done = subprocess.run(
        [PYTHON, "-m", "holdfast", "hash-token"],
        cwd=REPO,
        input=token + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f'sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\n'
    assert token not in done.stdout + done.stderr


def test_ctl_sends_the_token_from_the_environment(server: AuthServer, connect: Connect) -> None:
    import os

    def ctl(token: str | None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "HOLDFAST_TOKEN"}
        if token is not None:
            env["HOLDFAST_TOKEN"] = token
        return subprocess.run(
            [PYTHON, "-m", "holdfast", "ctl", "--target", server.target, "breakers", "list"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    token = server.credentials.token("acme", "operator")
    answered = ctl(token)
    assert answered.returncode == 0, answered.stderr
    assert "journal" in answered.stdout
    refused = ctl(None)
    assert refused.returncode != 0
    assert "UNAUTHENTICATED" in refused.stderr
