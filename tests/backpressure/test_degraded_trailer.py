"""The ``holdfast-degraded`` trailer, over a real server: while an operator
holds breakers open (OperationsService.SetCircuitBreaker), every answer, OK
or refused, names them; a refusal by the journal breaker also carries its
retry delay as ``grpc-retry-pushback-ms``; once reset, answers carry nothing.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from bp_support import (
    DEGRADED_KEY,
    PUSHBACK_KEY,
    WAIT_S,
    Holdfast,
    error_info,
    reserve,
    retry_delay_ms,
    set_stock,
    trailers,
    unique,
)
from holdfast.client.operations import OperationsClient
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc


def _ok_trailers(stub: inventory_pb2_grpc.InventoryServiceStub, sku: str) -> dict[str, str]:
    _, call = stub.GetAvailability.with_call(pb.GetAvailabilityRequest(skus=[sku]), timeout=WAIT_S)
    return dict(call.trailing_metadata() or ())


def _refused(
    stub: inventory_pb2_grpc.InventoryServiceStub, request: pb.ReserveRequest
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        stub.Reserve(request, timeout=WAIT_S)
    return refused.value


def test_answers_name_the_breakers_not_closed(tmp_path: Path) -> None:
    server = Holdfast(tmp_path).start()
    try:
        sku = unique("sku")
        with (
            grpc.insecure_channel(server.target) as channel,
            OperationsClient(server.target, actor="sre-ana") as operator,
        ):
            stub = server.stub(channel)
            stub.SetStock(set_stock(sku, 10), timeout=WAIT_S)
            assert DEGRADED_KEY not in _ok_trailers(stub, sku)

            operator.set_circuit_breaker("feasibility", "force_open", reason="drill: degraded")
            assert _ok_trailers(stub, sku)[DEGRADED_KEY] == "feasibility=FORCED_OPEN"
            # Nothing needs the feasibility check here: decisions go on, degraded.
            _, call = stub.Reserve.with_call(reserve(sku), timeout=WAIT_S)
            assert dict(call.trailing_metadata())[DEGRADED_KEY] == "feasibility=FORCED_OPEN"
            # A refusal for the request's own fault says so too.
            invalid = _refused(stub, reserve(sku, quantity=0))
            assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert trailers(invalid)[DEGRADED_KEY] == "feasibility=FORCED_OPEN"
            assert PUSHBACK_KEY not in trailers(invalid)  # no delay helps a bad request

            operator.set_circuit_breaker("journal", "force_open", reason="drill: no commits")
            refused = _refused(stub, reserve(sku))
            assert refused.code() == grpc.StatusCode.UNAVAILABLE
            assert error_info(refused).reason == "DEPENDENCY_UNAVAILABLE"
            seen = trailers(refused)
            assert seen[DEGRADED_KEY] == "journal=FORCED_OPEN,feasibility=FORCED_OPEN"
            delay_ms = retry_delay_ms(refused)
            assert delay_ms is not None
            assert seen[PUSHBACK_KEY] == str(delay_ms)

            operator.set_circuit_breaker("journal", "reset", reason="drill over")
            operator.set_circuit_breaker("feasibility", "reset", reason="drill over")
            assert DEGRADED_KEY not in _ok_trailers(stub, sku)
            _, call = stub.Reserve.with_call(reserve(sku), timeout=WAIT_S)
            assert DEGRADED_KEY not in dict(call.trailing_metadata())
    finally:
        assert server.stop() == 0, server.log_text()
