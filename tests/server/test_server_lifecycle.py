"""The process: health, reflection, start-up log, request ids, refusing to start."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc
from server_support import SERVICE, ServerProcess, free_port, unique, wait_for_log


def test_health_reports_serving_for_the_server_and_the_service(
    health: health_pb2_grpc.HealthStub,
) -> None:
    for service in ("", SERVICE):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_and_describes_the_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
    ]
    listed, described = list(stub.ServerReflectionInfo(iter(requests), timeout=10))
    names = {s.name for s in listed.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names
    assert described.file_descriptor_response.file_descriptor_proto


def test_startup_log_says_where_it_listens_and_where_state_is(server: ServerProcess) -> None:
    first = server.log_records()[0]
    assert first["level"] == "INFO"
    assert first["listen"] == server.target
    assert first["state"] == "sqlite"
    assert first["durable"] is True
    assert first["database"] in first["msg"]


def test_request_id_is_echoed_or_minted_and_logged(
    inventory: inventory_pb2_grpc.InventoryServiceStub, server: ServerProcess
) -> None:
    given = unique("req")
    request = pb.GetAvailabilityRequest(skus=[unique("nothing")])
    _, call = inventory.GetAvailability.with_call(
        request, metadata=[("x-request-id", given)], timeout=10
    )
    assert dict(call.initial_metadata())["x-request-id"] == given
    _, call = inventory.GetAvailability.with_call(request, timeout=10)
    minted = dict(call.initial_metadata())["x-request-id"]
    assert minted
    assert minted != given

    lines = wait_for_log(server, lambda r: r.get("request_id") == given)
    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "/holdfast.v1.InventoryService/GetAvailability"
    assert line["code"] == "OK"
    assert isinstance(line["duration_ms"], float | int)
    assert line["tenant"] == "default"
    assert line["actor"] == "anonymous"


def test_refused_call_log_line_names_code_and_reason(
    inventory: inventory_pb2_grpc.InventoryServiceStub, server: ServerProcess
) -> None:
    request_id = unique("req")
    with pytest.raises(grpc.RpcError):
        inventory.GetReservation(
            pb.GetReservationRequest(reservation_id="not-an-id"),
            metadata=[("x-request-id", request_id), ("x-holdfast-tenant", "acme")],
            timeout=10,
        )
    (line,) = wait_for_log(server, lambda r: r.get("request_id") == request_id)
    assert line["code"] == "INVALID_ARGUMENT"
    assert line["reason"] == "INVALID_ARGUMENT"
    assert line["tenant"] == "acme"


def test_non_loopback_listen_without_insecure_is_refused_at_start(tmp_path: Path) -> None:
    process = ServerProcess(["--listen", f"0.0.0.0:{free_port()}"], tmp_path / "refused.log")
    code = process.run_to_exit()
    assert code == 2
    text = process.log_text()
    assert "refusing to listen on 0.0.0.0" in text
    assert "--insecure" in text
    assert "listening on" not in text


def test_a_taken_port_is_refused_at_start(server: ServerProcess, tmp_path: Path) -> None:
    second = ServerProcess(["--listen", server.target], tmp_path / "second.log")
    assert second.run_to_exit() == 1
    assert f"cannot listen on {server.target}" in second.log_text()
