"""The one place a refusal becomes a gRPC status.

A refusal is either the core's :class:`holdfast.Rejection` or a
:class:`Refusal` raised before the core was asked (a field the core cannot
represent, a read the core answers with nothing). Both become the same rich
status, readable by any gRPC client (``grpc_status.rpc_status.from_call``):

- code: the reason catalogue's gRPC code (never re-typed here);
- message: the refusal's own sentence;
- details: one ``google.rpc.ErrorInfo{reason, domain, metadata: the facts}``
  (a business rejection's also name ``rule_version``, the rule set that
  refused it, when the caller knows it: a unary call's decision does),
  plus ``BadRequest`` for INVALID_ARGUMENT, ``PreconditionFailure`` for
  FAILED_PRECONDITION, ``QuotaFailure`` for QUOTA_EXCEEDED (subject
  ``tenant:NAME``, the limit reached) and ``RetryInfo`` when the reason is
  retryable and the refusal names a delay (overload, an open breaker, the
  request rate). A shortfall is retryable but no delay predicts a restock,
  so it carries none (nor does a cap on holds: they end when the tenant ends
  them).

The batch RPC puts the same ``google.rpc.Status`` in each refused operation's
result, so one refusal reads the same however the call was made.

A call ended by :func:`abort` also carries, in its trailing metadata beside
the status, ``grpc-retry-pushback-ms`` (the same delay as ``RetryInfo``, for
clients that read gRPC's own retry hint, gRFC A6) and, while a breaker is not
CLOSED, the ``holdfast-degraded`` trailer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

# A module import (not names): interceptors.py refuses calls with Refusal.
from holdfast import REASONS, Rejection, interceptors

DOMAIN = "holdfast.v1"

INVALID_ARGUMENT = "INVALID_ARGUMENT"
RESERVATION_NOT_FOUND = "RESERVATION_NOT_FOUND"


OVERLOADED = "OVERLOADED"
DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
QUOTA_EXCEEDED = "QUOTA_EXCEEDED"

# gRPC's server pushback trailer (gRFC A6): milliseconds before a retry.
PUSHBACK_KEY = "grpc-retry-pushback-ms"


class Refusal(Exception):  # noqa: N818 (a refusal is an answer, not a failure of ours)
    """A request refused before (or instead of) a decision, shaped like a Rejection."""

    def __init__(
        self,
        reason: str,
        message: str,
        facts: Mapping[str, Any],
        retry_after_s: float | None = None,
        violations: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.facts = dict(facts)
        self.retry_after_s = retry_after_s
        # For INVALID_ARGUMENT with many bad fields (a rule set's text): each
        # (field, description) in BadRequest; empty: the facts' one field.
        self.violations = list(violations)

    @classmethod
    def overloaded(cls, queue_limit: int, retry_after_s: float) -> Refusal:
        """The commit queue is full: refused before the engine decided anything."""
        return cls(
            OVERLOADED,
            f"the commit queue is full ({queue_limit} calls awaiting commit); retry later",
            {"resource": "commit_queue", "limit": queue_limit},
            retry_after_s,
        )

    @classmethod
    def in_flight_full(cls, limit: int, retry_after_s: float) -> Refusal:
        """max_in_flight unary calls are running: refused before any servicer ran."""
        return cls(
            OVERLOADED,
            f"the server is serving its maximum of {limit} calls at once; retry later",
            {"resource": "in_flight", "limit": limit},
            retry_after_s,
        )

    @classmethod
    def journal_unavailable(cls, retry_after_s: float, detail: str) -> Refusal:
        """The journal cannot be written: nothing is acknowledged from memory alone."""
        return cls(
            DEPENDENCY_UNAVAILABLE,
            f"the journal cannot be written ({detail}); nothing was committed, retry later",
            {"dependency": "journal", "detail": detail},
            retry_after_s,
        )

    @classmethod
    def breaker_open(cls, breaker: str, state: str, retry_after_s: float) -> Refusal:
        """A circuit breaker refused to call its dependency."""
        return cls(
            DEPENDENCY_UNAVAILABLE,
            f"the {breaker} circuit breaker is {state}; nothing was decided, "
            f"retry in {retry_after_s:g} s",
            {"dependency": breaker, "breaker": breaker, "state": state},
            retry_after_s,
        )

    @classmethod
    def invalid(cls, field: str, description: str) -> Refusal:
        """INVALID_ARGUMENT naming the field, worded as the core words its own."""
        return cls(
            INVALID_ARGUMENT,
            f"invalid {field}: {description}",
            {"field": field, "reason": description},
        )

    @classmethod
    def reservation_not_found(cls, reservation_id: str) -> Refusal:
        return cls(
            RESERVATION_NOT_FOUND,
            f"reservation {reservation_id} not found",
            {"reservation_id": reservation_id},
        )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _subject(facts: Mapping[str, str]) -> str:
    """What the failed guard was about, as a resource-like name."""
    if facts.get("reservation_id"):
        return f"reservations/{facts['reservation_id']}"
    if "sku" in facts and "location" in facts:
        return f"positions/{facts['sku']}@{facts['location']}"
    if "sku" in facts:
        return f"skus/{facts['sku']}"
    if "location" in facts:
        return f"locations/{facts['location']}"
    if "idempotency_key" in facts:
        return f"idempotency_keys/{facts['idempotency_key']}"
    return ""


def _quota_description(facts: Mapping[str, str]) -> str:
    """The limit a QUOTA_EXCEEDED refusal reached, in words: ``"open_holds:
    at most 2 (used 2, requested 1)"``."""
    text = f"{facts.get('quota', '')}: at most {facts.get('limit', '')}"
    if "used" in facts:
        text += f" (used {facts['used']}, requested {facts.get('requested', '')})"
    return text


# A refusal's ``retry_after_s`` for a condition no retry to this server can
# change: no RetryInfo, and a negative pushback, which tells clients not to retry.
NEVER = -1.0


def retry_delay_s(refusal: Rejection | Refusal) -> float | None:
    """The delay advised before a retry: a retryable reason's named delay
    (NEVER: do not retry), or None."""
    if isinstance(refusal, Refusal) and REASONS[refusal.reason].retryable:
        return refusal.retry_after_s
    return None


def status_of(
    refusal: Rejection | Refusal,
    retry_after_s: float | None = None,
    *,
    rule_version: str = "",
) -> status_pb2.Status:
    """The ``google.rpc.Status`` of a refusal: code, message and rich details.
    ``rule_version``: the version that decided a business rejection (the
    core's Rejection does not carry it; its Outcome does), put in ErrorInfo."""
    reason = REASONS[refusal.reason]
    if retry_after_s is None and isinstance(refusal, Refusal):
        retry_after_s = refusal.retry_after_s
    facts = {key: _text(value) for key, value in refusal.facts.items()}
    if rule_version and isinstance(refusal, Rejection):
        # Which rule set refused, so a caller can tell a rule's answer from the next one's.
        facts.setdefault("rule_version", rule_version)
    status = status_pb2.Status(code=reason.grpc_code, message=refusal.message)
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(reason=reason.name, domain=DOMAIN, metadata=facts)
    )
    if reason.grpc_code == code_pb2.INVALID_ARGUMENT:
        bad_request = error_details_pb2.BadRequest()
        violations = refusal.violations if isinstance(refusal, Refusal) else []
        for field, description in violations or [
            (facts.get("field", ""), facts.get("reason", refusal.message))
        ]:
            bad_request.field_violations.add(field=field, description=description)
        status.details.add().Pack(bad_request)
    elif reason.grpc_code == code_pb2.FAILED_PRECONDITION:
        failure = error_details_pb2.PreconditionFailure()
        failure.violations.add(
            type=reason.name, subject=_subject(facts), description=refusal.message
        )
        status.details.add().Pack(failure)
    elif reason.name == QUOTA_EXCEEDED:
        # A tenant's abuse limit (holdfast.quota, the core's caps): which one.
        quota = error_details_pb2.QuotaFailure()
        quota.violations.add(
            subject=f"tenant:{facts.get('tenant', '')}", description=_quota_description(facts)
        )
        status.details.add().Pack(quota)
    if reason.retryable and retry_after_s is not None and retry_after_s >= 0:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(round(retry_after_s * 1e9))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status


async def abort(context: Any, refusal: Rejection | Refusal) -> NoReturn:
    """End the call with the refusal's rich status (raises, as grpc's abort
    does), its retry delay as gRPC's pushback trailer, and the degraded
    trailer while a breaker is not CLOSED."""
    call = interceptors.current_call()
    call.reason = refusal.reason
    if refusal.reason == OVERLOADED:
        # Counted by the interceptor when the call ends, by the bound reached.
        call.overloaded = _text(refusal.facts.get("resource"))
    # A decided call names the deciding version (holdfast.servicer sets it
    # from the outcome before it aborts with the rejection).
    status = rpc_status.to_status(status_of(refusal, rule_version=call.rule_version))
    trailers = [*status.trailing_metadata, *interceptors.degraded_trailer(call)]
    delay_s = retry_delay_s(refusal)
    if delay_s is not None:
        trailers.append((PUSHBACK_KEY, str(round(delay_s * 1000)) if delay_s >= 0 else "-1"))
    await context.abort(status.code, status.details, tuple(trailers))
    raise AssertionError("abort returned")  # pragma: no cover
