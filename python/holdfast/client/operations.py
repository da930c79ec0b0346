"""``OperationsClient``: the blocking client with the operator's face too.

It is a :class:`holdfast.client.Client` (every InventoryService call, on the
same channel, identity and retry policy) plus ``holdfast.v1.OperationsService``:
breakers, the consistency audit, overrides, the operator log and fault
injection. Every mutating operator call needs an ``actor`` (not the server's
default) and a ``reason``; the server refuses it otherwise (``InvalidArgument``).

    with OperationsClient(target, actor="alice") as ops:
        ops.set_circuit_breaker("feasibility", "force_open", reason="vendor outage")
        report = ops.run_audit()
"""

from __future__ import annotations

import functools
from typing import Any, cast

import grpc

from holdfast.client.calls import (
    error_from_rpc_error,
)
from holdfast.client.requests import mint_key
from holdfast.client.sync import Client
from holdfast.v1 import inventory_pb2 as inventory_pb
from holdfast.v1 import operations_pb2 as pb
from holdfast.v1 import operations_pb2_grpc

__all__ = ["BREAKER_ACTIONS", "OperationsClient"]

Action = pb.SetCircuitBreakerRequest.Action

# The words a person uses for SetCircuitBreaker's actions.
BREAKER_ACTIONS: dict[str, Action.ValueType] = {
    "force_open": pb.SetCircuitBreakerRequest.FORCE_OPEN,
    "disable": pb.SetCircuitBreakerRequest.DISABLE,
    "reset": pb.SetCircuitBreakerRequest.RESET,
}


class OperationsClient(Client):
    """A :class:`Client` that also calls ``holdfast.v1.OperationsService``."""

    @functools.cached_property
    def _operations(self) -> Any:
        # On the Client's own channel: one connection, identity and policy.
        return operations_pb2_grpc.OperationsServiceStub(self._channel)

    # Circuit breakers.

    def list_circuit_breakers(
        self, *, timeout: float | None = None
    ) -> pb.ListCircuitBreakersResponse:
        """Every named breaker with its state, window and settings."""
        return self._call(
            self._operations.ListCircuitBreakers,
            pb.ListCircuitBreakersRequest(),
            pb.ListCircuitBreakersResponse,
            timeout,
        )

    def set_circuit_breaker(
        self,
        name: str,
        action: str | Action.ValueType,
        *,
        reason: str,
        timeout: float | None = None,
    ) -> pb.CircuitBreaker:
        """``force_open``, ``disable`` or ``reset`` the breaker ``name``; its
        view afterwards. Repeating it is harmless (the breaker is already there)."""
        if isinstance(action, str):
            if action not in BREAKER_ACTIONS:
                raise ValueError(f"action must be one of {', '.join(BREAKER_ACTIONS)}")
            action = BREAKER_ACTIONS[action]
        request = pb.SetCircuitBreakerRequest(name=name, action=action, reason=reason)
        return self._call(self._operations.SetCircuitBreaker, request, pb.CircuitBreaker, timeout)

    # The consistency audit.

    def run_audit(self, *, timeout: float | None = None) -> pb.AuditReport:
        """Recompute every position's buckets from the reservation lines and
        compare; the differences (none when consistent), never repaired."""
        return self._call(self._operations.RunAudit, pb.RunAuditRequest(), pb.AuditReport, timeout)

    # Overrides: decided like the storefront's and warehouse's own calls.

    def override_release(
        self,
        reservation_id: str,
        *,
        tenant: str,
        reason: str,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> inventory_pb.ReservationResponse:
        """Release ``tenant``'s reservation on the operator's word; ``reason``
        becomes the note in its history."""
        request = pb.OverrideReleaseRequest(
            idempotency_key=mint_key() if idempotency_key is None else idempotency_key,
            tenant=tenant,
            reservation_id=reservation_id,
            reason=reason,
        )
        return self._call(
            self._operations.OverrideRelease, request, inventory_pb.ReservationResponse, timeout
        )

    def override_adjust(
        self,
        sku: str,
        location: str,
        delta: int,
        *,
        reason: str,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> inventory_pb.StockResponse:
        """Add (negative: remove) units on hand on the operator's word."""
        request = pb.OverrideAdjustRequest(
            idempotency_key=mint_key() if idempotency_key is None else idempotency_key,
            sku=sku,
            location=location,
            delta=delta,
            reason=reason,
        )
        return self._call(
            self._operations.OverrideAdjust, request, inventory_pb.StockResponse, timeout
        )

    # The operator log.

    def list_operator_actions(
        self, *, page_size: int = 0, timeout: float | None = None
    ) -> pb.ListOperatorActionsResponse:
        """The newest ``page_size`` operator actions (0: 100), newest first."""
        return self._call(
            self._operations.ListOperatorActions,
            pb.ListOperatorActionsRequest(page_size=page_size),
            pb.ListOperatorActionsResponse,
            timeout,
        )

    # Fault injection (servers started with --fault-injection only).

    def inject_bucket_drift(
        self,
        sku: str,
        location: str,
        bucket: str,
        delta: int,
        *,
        reason: str,
        timeout: float | None = None,
    ) -> pb.InjectFaultResponse:
        """Move a stored bucket without its lines, for an audit drill. Sent
        once, never retried: it carries no idempotency key, and a retry after
        a lost answer would inject it twice."""
        request = pb.InjectFaultRequest(
            bucket_drift=pb.InjectFaultRequest.BucketDrift(
                sku=sku, location=location, bucket=bucket, delta=delta
            ),
            reason=reason,
        )
        try:
            answer = self._operations.InjectFault(
                request,
                timeout=self.timeout if timeout is None else timeout,
                metadata=self._metadata,
            )
        except grpc.RpcError as rpc_error:
            raise error_from_rpc_error(rpc_error, 1, aio=False) from rpc_error
        return cast(pb.InjectFaultResponse, answer)
