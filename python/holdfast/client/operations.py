"""``OperationsClient``: the blocking client with the operator's face too.

It is a :class:`holdfast.client.Client` (every InventoryService call, on the
same channel, identity and retry policy) plus ``holdfast.v1.OperationsService``:
breakers, the consistency audit, overrides, the operator log, rule sets and
fault injection. Every mutating operator call needs an ``actor`` (not the server's
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

    # Rule sets (docs/rules.md).

    def validate_rule_set(
        self, text: str, *, timeout: float | None = None
    ) -> pb.ValidateRuleSetResponse:
        """Check a rule set's TOML text: valid, or every error with its line."""
        return self._call(
            self._operations.ValidateRuleSet,
            pb.ValidateRuleSetRequest(text=text),
            pb.ValidateRuleSetResponse,
            timeout,
        )

    def deploy_rule_set(
        self, text: str, *, comment: str, timeout: float | None = None
    ) -> pb.RuleSetVersion:
        """Store ``text`` as an immutable version. Repeating it returns the
        stored version; other text under a deployed version is refused
        (``Rejected``, RULE_SET_VERSION_EXISTS)."""
        return self._call(
            self._operations.DeployRuleSet,
            pb.DeployRuleSetRequest(text=text, comment=comment),
            pb.RuleSetVersion,
            timeout,
        )

    def list_rule_sets(self, *, timeout: float | None = None) -> pb.ListRuleSetsResponse:
        """Every version, newest first, with the active and shadowed ones."""
        return self._call(
            self._operations.ListRuleSets,
            pb.ListRuleSetsRequest(),
            pb.ListRuleSetsResponse,
            timeout,
        )

    def get_rule_set(self, version: str, *, timeout: float | None = None) -> pb.RuleSetVersion:
        """One version with its text (``NotFound`` if never deployed)."""
        return self._call(
            self._operations.GetRuleSet,
            pb.GetRuleSetRequest(version=version),
            pb.RuleSetVersion,
            timeout,
        )

    def diff_rule_sets(
        self, from_version: str, to_version: str, *, timeout: float | None = None
    ) -> pb.DiffRuleSetsResponse:
        """A unified diff of two versions' texts."""
        return self._call(
            self._operations.DiffRuleSets,
            pb.DiffRuleSetsRequest(from_version=from_version, to_version=to_version),
            pb.DiffRuleSetsResponse,
            timeout,
        )

    def start_shadow(
        self, version: str, *, reason: str, timeout: float | None = None
    ) -> pb.ShadowReport:
        """Decide live traffic under ``version`` too, with no effect (replaces any shadow)."""
        return self._call(
            self._operations.StartShadow,
            pb.StartShadowRequest(version=version, reason=reason),
            pb.ShadowReport,
            timeout,
        )

    def stop_shadow(self, *, reason: str, timeout: float | None = None) -> pb.ShadowReport:
        """Stop shadowing; the final report."""
        return self._call(
            self._operations.StopShadow,
            pb.StopShadowRequest(reason=reason),
            pb.ShadowReport,
            timeout,
        )

    def get_shadow_report(self, *, timeout: float | None = None) -> pb.ShadowReport:
        """The shadow's divergences by kind, with samples, newest first."""
        return self._call(
            self._operations.GetShadowReport,
            pb.GetShadowReportRequest(),
            pb.ShadowReport,
            timeout,
        )

    def activate_rule_set(
        self, version: str, *, reason: str, timeout: float | None = None
    ) -> pb.RuleSetVersion:
        """Decide under ``version`` from now on; durable when answered.
        Repeating it changes nothing (the version is already active)."""
        return self._call(
            self._operations.ActivateRuleSet,
            pb.ActivateRuleSetRequest(version=version, reason=reason),
            pb.RuleSetVersion,
            timeout,
        )

    def rollback_rule_set(self, *, reason: str, timeout: float | None = None) -> pb.RuleSetVersion:
        """Switch back to the version active before the current one. Sent
        once, never retried: a retry after a lost answer would roll back
        again, to the version just left."""
        request = pb.RollbackRuleSetRequest(reason=reason)
        return cast(
            pb.RuleSetVersion, self._once(self._operations.RollbackRuleSet, request, timeout)
        )

    def _once(self, rpc: Any, request: Any, timeout: float | None) -> Any:
        try:
            return rpc(
                request,
                timeout=self.timeout if timeout is None else timeout,
                metadata=self._metadata,
            )
        except grpc.RpcError as rpc_error:
            raise error_from_rpc_error(rpc_error, 1, aio=False) from rpc_error

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
        return cast(
            pb.InjectFaultResponse, self._once(self._operations.InjectFault, request, timeout)
        )
