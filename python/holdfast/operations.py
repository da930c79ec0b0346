"""holdfast.v1.OperationsService: breakers, the audit, overrides, the operator
log, and rule sets (delegated to holdfast.rule_service).

Every mutating call needs an actor (not "anonymous") and a reason, and is
recorded: in the operator log, the log, a metric, and (for overrides of
reservations and stock) the journal's history like any decision.

A call refused for its own fields (no actor, no reason, an unknown breaker)
attempted nothing and is not recorded; once the action is attempted it is
recorded with the reason code it was answered with, refused or not.
"""

# The method names are the proto's RPC names.
# ruff: noqa: N802

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import grpc
from grpc.aio import ServicerContext as Context

from holdfast import MAX_NAME_BYTES, audit, clock, convert, errors
from holdfast.errors import Refusal
from holdfast.interceptors import DEFAULT_ACTOR, current_call
from holdfast.logs import fields
from holdfast.store.operator_log import (
    MemoryOperatorLog,
    OperatorAction,
    OperatorLog,
    SqliteOperatorLog,
)
from holdfast.v1 import inventory_pb2 as inventory_pb
from holdfast.v1 import operations_pb2 as pb
from holdfast.v1 import operations_pb2_grpc

if TYPE_CHECKING:
    from holdfast.breakers import Breakers
    from holdfast.config import Settings
    from holdfast.ledger import Ledger
    from holdfast.metrics import Metrics
    from holdfast.rule_service import RuleService
    from holdfast.servicer import InventoryServicer

log = logging.getLogger("holdfast.operations")

MAX_REASON = 1024
DEFAULT_PAGE = 100
MAX_PAGE = 1000
# The outcome recorded for an action answered without a reason code.
OK = "OK"

# SetCircuitBreakerRequest.Action -> (Breakers.operate's action, the log's action).
_BREAKER_ACTIONS = {
    pb.SetCircuitBreakerRequest.FORCE_OPEN: ("force_open", "breaker.force_open"),
    pb.SetCircuitBreakerRequest.DISABLE: ("disable", "breaker.disable"),
    pb.SetCircuitBreakerRequest.RESET: ("reset", "breaker.reset"),
}


T = TypeVar("T")


class OperationsServicer(operations_pb2_grpc.OperationsServiceServicer):
    def __init__(
        self,
        ledger: Ledger,
        breakers: Breakers,
        settings: Settings,
        metrics: Metrics | None,
        inventory: InventoryServicer,
        rules: RuleService,
    ) -> None:
        self._ledger = ledger
        self._breakers = breakers
        self._settings = settings
        self._metrics = metrics
        # Overrides are decided exactly as InventoryService decides the same
        # requests: same item, same durability, same answer.
        self._inventory = inventory
        self.operator_log: OperatorLog = (
            SqliteOperatorLog(
                settings.database, settings.synchronous, settings.journal_timeout_seconds
            )
            if ledger.durable
            else MemoryOperatorLog()
        )
        # The rule-set calls (holdfast.rule_service), recorded here like every action.
        self._rules = rules
        rules.recorded = self._recorded

    # Circuit breakers ------------------------------------------------------------

    async def ListCircuitBreakers(
        self, request: pb.ListCircuitBreakersRequest, context: Context
    ) -> pb.ListCircuitBreakersResponse:
        return pb.ListCircuitBreakersResponse(
            breakers=[breaker_message(self._breakers.view(name)) for name in self._breakers.names]
        )

    async def SetCircuitBreaker(
        self, request: pb.SetCircuitBreakerRequest, context: Context
    ) -> pb.CircuitBreaker:
        try:
            actor = _actor()
            reason = _reason(request.reason)
            if len(request.name.encode("utf-8")) > MAX_NAME_BYTES:
                # No breaker is named so; not repeated back.
                raise Refusal.invalid("name", f"must be at most {MAX_NAME_BYTES} bytes")
            if request.name not in self._breakers.names:
                known = ", ".join(self._breakers.names)
                raise Refusal.invalid("name", f"no breaker {request.name!r} (known: {known})")
            if request.action not in _BREAKER_ACTIONS:
                raise Refusal.invalid("action", "must be FORCE_OPEN, DISABLE or RESET")
        except Refusal as refusal:
            await errors.abort(context, refusal)
        operation, action = _BREAKER_ACTIONS[request.action]

        async def operate(context: Context) -> pb.CircuitBreaker:
            self._breakers.operate(request.name, operation, actor, reason)
            return breaker_message(self._breakers.view(request.name))

        return await self._recorded(action, request.name, reason, context, operate)

    # The audit ---------------------------------------------------------------------

    async def RunAudit(self, request: pb.RunAuditRequest, context: Context) -> pb.AuditReport:
        try:
            # Settled first: the audit sees only state that is durable.
            await self._ledger.settle()
            report = audit.run(self._ledger, self._metrics, clock.now_ms())
        except Refusal as refusal:
            await errors.abort(context, refusal)
        return pb.AuditReport(
            audited_at=convert.timestamp(report.audited_at),
            positions_checked=report.positions_checked,
            differences=[
                pb.AuditDifference(
                    sku=d["sku"],
                    location=d["location"],
                    bucket=d["bucket"],
                    stored=d["stored"],
                    from_lines=d["from_lines"],
                )
                for d in report.differences
            ],
        )

    # Overrides ---------------------------------------------------------------------

    async def OverrideRelease(
        self, request: pb.OverrideReleaseRequest, context: Context
    ) -> inventory_pb.ReservationResponse:
        try:
            _actor()
            reason = _reason(request.reason)
            if not request.tenant:
                raise Refusal.invalid("tenant", "must name the tenant that owns the reservation")
            if current_call().principal is not None and request.tenant != current_call().tenant:
                # An authenticated operator acts in its own tenant only; another
                # tenant's reservation is not found, as anywhere else.
                raise Refusal.reservation_not_found(request.reservation_id)
        except Refusal as refusal:
            await errors.abort(context, refusal)
        # The call acts in the reservation's tenant: the decision, its history
        # and the call's log line all name the tenant whose stock moved.
        current_call().tenant = request.tenant
        release = inventory_pb.ReleaseRequest(
            idempotency_key=request.idempotency_key,
            reservation_id=request.reservation_id,
            note=reason,
        )
        return await self._recorded(
            "override.release",
            request.reservation_id,
            reason,
            context,
            lambda recording: self._inventory.Release(release, recording),
        )

    async def OverrideAdjust(
        self, request: pb.OverrideAdjustRequest, context: Context
    ) -> inventory_pb.StockResponse:
        try:
            _actor()
            reason = _reason(request.reason)
        except Refusal as refusal:
            await errors.abort(context, refusal)
        adjust = inventory_pb.AdjustStockRequest(
            idempotency_key=request.idempotency_key,
            sku=request.sku,
            location=request.location,
            delta=request.delta,
            adjustment_reason=reason,
        )
        return await self._recorded(
            "override.adjust",
            f"{request.sku}@{request.location}",
            reason,
            context,
            lambda recording: self._inventory.AdjustStock(adjust, recording),
        )

    # The operator log ----------------------------------------------------------------

    async def ListOperatorActions(
        self, request: pb.ListOperatorActionsRequest, context: Context
    ) -> pb.ListOperatorActionsResponse:
        size = request.page_size or DEFAULT_PAGE
        if not 1 <= size <= MAX_PAGE:
            await errors.abort(
                context, Refusal.invalid("page_size", f"must be between 0 and {MAX_PAGE}")
            )
        actions = await self.operator_log.newest(size)
        return pb.ListOperatorActionsResponse(
            actions=[
                pb.OperatorAction(
                    at=convert.timestamp(a.at),
                    actor=a.actor,
                    action=a.action,
                    target=a.target,
                    reason=a.reason,
                    request_id=a.request_id,
                    outcome=a.outcome,
                )
                for a in actions
            ]
        )

    # Fault injection ----------------------------------------------------------------

    async def InjectFault(
        self, request: pb.InjectFaultRequest, context: Context
    ) -> pb.InjectFaultResponse:
        try:
            _actor()
            reason = _reason(request.reason)
            if request.WhichOneof("fault") != "bucket_drift":
                raise Refusal.invalid("fault", "name a fault: bucket_drift")
        except Refusal as refusal:
            await errors.abort(context, refusal)
        drift = request.bucket_drift

        async def inject(context: Context) -> pb.InjectFaultResponse:
            try:
                self._inject_bucket_drift(drift)
            except Refusal as refusal:
                await errors.abort(context, refusal)
            return pb.InjectFaultResponse()

        return await self._recorded(
            "fault.bucket_drift", f"{drift.sku}@{drift.location}", reason, context, inject
        )

    def _inject_bucket_drift(self, drift: pb.InjectFaultRequest.BucketDrift) -> None:
        if not self._settings.fault_injection:
            # Refused on the server's word, whoever asks: drills only where enabled.
            raise Refusal(
                "PERMISSION_DENIED",
                "fault injection is not enabled on this server (start it with --fault-injection)",
                {"setting": "fault_injection"},
            )
        try:
            moved = self._ledger.inject_bucket_drift(
                drift.sku, drift.location, drift.bucket, drift.delta
            )
        except ValueError:
            raise Refusal.invalid(
                "bucket_drift.bucket", "must be reserved, allocated or picked"
            ) from None
        if not moved:
            raise Refusal.invalid(
                "bucket_drift",
                f"no position {drift.sku}@{drift.location}, or the delta takes its "
                f"{drift.bucket} bucket out of range",
            )

    # Rule sets (holdfast.rule_service) -------------------------------------------------

    async def ValidateRuleSet(
        self, request: pb.ValidateRuleSetRequest, context: Context
    ) -> pb.ValidateRuleSetResponse:
        return await self._rules.ValidateRuleSet(request, context)

    async def DeployRuleSet(
        self, request: pb.DeployRuleSetRequest, context: Context
    ) -> pb.RuleSetVersion:
        return await self._rules.DeployRuleSet(request, context)

    async def ListRuleSets(
        self, request: pb.ListRuleSetsRequest, context: Context
    ) -> pb.ListRuleSetsResponse:
        return await self._rules.ListRuleSets(request, context)

    async def GetRuleSet(
        self, request: pb.GetRuleSetRequest, context: Context
    ) -> pb.RuleSetVersion:
        return await self._rules.GetRuleSet(request, context)

    async def DiffRuleSets(
        self, request: pb.DiffRuleSetsRequest, context: Context
    ) -> pb.DiffRuleSetsResponse:
        return await self._rules.DiffRuleSets(request, context)

    async def StartShadow(
        self, request: pb.StartShadowRequest, context: Context
    ) -> pb.ShadowReport:
        return await self._rules.StartShadow(request, context)

    async def StopShadow(self, request: pb.StopShadowRequest, context: Context) -> pb.ShadowReport:
        return await self._rules.StopShadow(request, context)

    async def GetShadowReport(
        self, request: pb.GetShadowReportRequest, context: Context
    ) -> pb.ShadowReport:
        return await self._rules.GetShadowReport(request, context)

    async def ActivateRuleSet(
        self, request: pb.ActivateRuleSetRequest, context: Context
    ) -> pb.RuleSetVersion:
        return await self._rules.ActivateRuleSet(request, context)

    async def RollbackRuleSet(
        self, request: pb.RollbackRuleSetRequest, context: Context
    ) -> pb.RuleSetVersion:
        return await self._rules.RollbackRuleSet(request, context)

    # Shared ------------------------------------------------------------------------

    async def _recorded(
        self,
        action: str,
        target: str | Callable[[], str],
        reason: str,
        context: Context,
        act: Callable[[Context], Awaitable[T]],
    ) -> T:
        """Run ``act`` and record it with the reason code it was answered with,
        whether it answered or refused, before the caller hears the answer.
        ``target`` may be known only once ``act`` has run (then a callable)."""
        call = current_call()
        recorded = False

        async def record(outcome: str) -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                await self._record(
                    OperatorAction(
                        at=clock.now_ms(),
                        actor=call.actor,
                        action=action,
                        target=target() if callable(target) else target,
                        reason=reason,
                        request_id=call.request_id,
                        outcome=outcome,
                    )
                )

        # errors.abort names the refusal's reason before the status goes out.
        refusing = _RecordedBeforeRefusal(context, lambda: record(call.reason or "INTERNAL"))
        try:
            answer = await act(cast(Context, refusing))
        except BaseException:
            # Neither answered nor refused (cancelled, or a bug the interceptor
            # reports): still recorded, so the log shows the attempt.
            await record(call.reason or "INTERNAL")
            raise
        await record(call.reason or OK)
        return answer

    async def _record(self, action: OperatorAction) -> None:
        if self._metrics is not None:
            self._metrics.operator_acted(action.action, action.outcome)
        log.warning(
            f"operator {action.actor}: {action.action} {action.target} -> {action.outcome}",
            extra=fields(
                actor=action.actor,
                action=action.action,
                target=action.target,
                operator_reason=action.reason,
                request_id=action.request_id,
                outcome=action.outcome,
            ),
        )
        try:
            await self.operator_log.record(action)
        except Exception:
            # The action itself has happened (and is in the log line above and
            # the journal): failing to record it must not hide its answer.
            log.exception("cannot write the operator log", extra=fields(action=action.action))


class _RecordedBeforeRefusal:
    """The call's context, recording the action before a refusal goes out.

    grpc sends an aborted call's status at once, so recording after the
    abort would let the caller read the operator log before its own refusal
    is in it. Everything but aborting is the context's own.
    """

    def __init__(self, context: Context, record: Callable[[], Awaitable[None]]) -> None:
        self._context = context
        self._record = record

    async def abort_with_status(self, status: Any) -> None:
        await self._record()
        await self._context.abort_with_status(status)

    async def abort(self, code: grpc.StatusCode, details: str = "", *rest: Any) -> None:
        await self._record()
        await self._context.abort(code, details, *rest)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _actor() -> str:
    actor = current_call().actor
    if not actor or actor == DEFAULT_ACTOR:
        raise Refusal.invalid(
            "actor", "operator calls must name their actor in x-holdfast-actor metadata"
        )
    return actor


def _reason(reason: str) -> str:
    if not reason.strip():
        raise Refusal.invalid("reason", "must say why (1-1024 characters)")
    if len(reason) > MAX_REASON:
        raise Refusal.invalid("reason", f"must be at most {MAX_REASON} characters")
    return reason


def _percent(basis_points: int | None) -> float:
    return -1.0 if basis_points is None else basis_points / 100


def breaker_message(view: dict[str, Any]) -> pb.CircuitBreaker:
    """A breaker's view (holdfast.breakers.Breakers.view) as the proto says it."""
    settings = view["settings"]
    return pb.CircuitBreaker(
        name=view["name"],
        state=pb.BreakerState.Value(view["state"]),
        since=convert.timestamp(view["since"]),
        cause=view["cause"],
        buffered_calls=view["buffered_calls"],
        failed_calls=view["failed_calls"],
        slow_calls=view["slow_calls"],
        failure_rate_percent=_percent(view["failure_rate_bp"]),
        slow_call_rate_percent=_percent(view["slow_call_rate_bp"]),
        not_permitted_calls=view["not_permitted_calls"],
        failure_rate_threshold_percent=settings["failure_rate_threshold"],
        slow_call_rate_threshold_percent=settings["slow_call_rate_threshold"],
        slow_call_duration_ms=settings["slow_call_duration_ms"],
        sliding_window_size=settings["sliding_window_size"],
        minimum_number_of_calls=settings["minimum_number_of_calls"],
        wait_in_open_ms=settings["wait_in_open_ms"],
        permitted_calls_in_half_open=settings["permitted_calls_in_half_open"],
    )
