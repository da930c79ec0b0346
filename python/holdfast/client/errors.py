"""Typed exceptions for refused calls, decoded from gRPC's rich error model.

The server answers a refused call with a status code and a ``google.rpc.Status``
in the trailing metadata (``grpc-status-details-bin``): one ``ErrorInfo``
(reason = a ReasonCode name, metadata = the facts), plus ``BadRequest``,
``PreconditionFailure``, ``QuotaFailure`` or ``RetryInfo`` where they fit; a refusal with a
retry delay also carries gRPC's own hint, the ``grpc-retry-pushback-ms``
trailer (gRFC A6), which is all some servers and proxies send. This module turns that
into one exception per category, so callers write ``except Rejected`` rather
than comparing status codes. The reason names themselves are the server's
(the core's catalogue); nothing here decides what a reason means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "DOMAIN",
    "STATUS_DETAILS_KEY",
    "Conflict",
    "DeadlineExceeded",
    "FieldViolation",
    "HoldfastError",
    "InvalidArgument",
    "NotFound",
    "Overloaded",
    "PreconditionViolation",
    "QuotaExceeded",
    "QuotaViolation",
    "Rejected",
    "Unavailable",
    "error_from_status",
]

DOMAIN = "holdfast.v1"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
PUSHBACK_KEY = "grpc-retry-pushback-ms"
REQUEST_ID_KEY = "x-request-id"
QUOTA_EXCEEDED = "QUOTA_EXCEEDED"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One field that made a request malformed (``lines[1].quantity``)."""

    field: str
    description: str


@dataclass(frozen=True, slots=True)
class PreconditionViolation:
    """One guard that refused a request: its reason name, subject and why."""

    type: str
    subject: str
    description: str


@dataclass(frozen=True, slots=True)
class QuotaViolation:
    """One abuse limit a call reached: whose (``tenant:NAME``) and which."""

    subject: str
    description: str


class HoldfastError(Exception):
    """A call that did not succeed.

    Attributes:
        code: the gRPC status code.
        message: the status message (the server's one-line explanation).
        reason: the ReasonCode name from the ``ErrorInfo`` (``"INSUFFICIENT_STOCK"``);
            empty when the failure did not come from holdfast (no server reached).
        facts: the rejection's facts (``{"requested": "5", "available": "3"}``),
            as the strings the server sent.
        field_violations: which fields were malformed (INVALID_ARGUMENT).
        precondition_violations: which guards refused (FAILED_PRECONDITION).
        quota_violations: which tenant limits were reached (QUOTA_EXCEEDED).
        retry_after: the server's advised delay in seconds (``RetryInfo``), or None.
        retry_pushback: the ``grpc-retry-pushback-ms`` trailer in seconds, or
            None; negative when the server asked the client not to retry.
        request_id: the server's ``x-request-id`` for this call, when it sent one.
        attempts: how many attempts the client made before giving up.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        facts: Mapping[str, str] | None = None,
        field_violations: Iterable[FieldViolation] = (),
        precondition_violations: Iterable[PreconditionViolation] = (),
        quota_violations: Iterable[QuotaViolation] = (),
        retry_after: float | None = None,
        retry_pushback: float | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.facts: dict[str, str] = dict(facts or {})
        self.field_violations: list[FieldViolation] = list(field_violations)
        self.precondition_violations: list[PreconditionViolation] = list(precondition_violations)
        self.quota_violations: list[QuotaViolation] = list(quota_violations)
        self.retry_after = retry_after
        self.retry_pushback = retry_pushback
        self.request_id = request_id
        self.attempts = attempts

    def __str__(self) -> str:
        head = self.reason or self.code.name
        text = f"{head}: {self.message}" if self.message else head
        if self.facts:
            text += " (" + ", ".join(f"{k}={v}" for k, v in sorted(self.facts.items())) + ")"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code.name}, reason={self.reason!r}, "
            f"message={self.message!r}, facts={self.facts!r})"
        )


class InvalidArgument(HoldfastError):  # noqa: N818 (names say the category, as gRPC's codes do)
    """INVALID_ARGUMENT: the request was malformed; nothing was decided or stored."""


class NotFound(HoldfastError):  # noqa: N818 (names say the category, as gRPC's codes do)
    """NOT_FOUND: no such reservation for this tenant."""


class Rejected(HoldfastError):  # noqa: N818 (names say the category, as gRPC's codes do)
    """FAILED_PRECONDITION: a business rule refused the request (see ``reason``)."""


class Unavailable(HoldfastError):  # noqa: N818 (names say the category, as gRPC's codes do)
    """UNAVAILABLE: the server could not be reached, or a dependency's breaker is open."""


class Overloaded(HoldfastError):  # noqa: N818 (names say the category, as gRPC's codes do)
    """RESOURCE_EXHAUSTED: the server is at capacity or a quota is used up."""


class QuotaExceeded(Overloaded):
    """RESOURCE_EXHAUSTED/QUOTA_EXCEEDED: the tenant reached one of its abuse
    limits (open holds, held units or request rate); ``quota_violations``
    says which. Holds come back as the tenant releases, allocates or lets
    them expire; a rate refusal says when to retry (``retry_after``)."""

    def __str__(self) -> str:
        text = super().__str__()
        limits = "; ".join(f"{v.subject} {v.description}" for v in self.quota_violations)
        return f"{text} [quota: {limits}]" if limits else text


class Conflict(HoldfastError):  # noqa: N818 (names say the category, as gRPC's codes do)
    """ABORTED: a concurrent request holds the same idempotency key; retry later."""


class DeadlineExceeded(HoldfastError):  # noqa: N818 (names say the category, as gRPC's codes do)
    """DEADLINE_EXCEEDED: no answer within the call's deadline."""


_CATEGORY: dict[grpc.StatusCode, type[HoldfastError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: Rejected,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Overloaded,
    grpc.StatusCode.ABORTED: Conflict,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def error_from_status(
    code: grpc.StatusCode,
    message: str,
    status: status_pb2.Status | None,
    *,
    retry_pushback: float | None = None,
    request_id: str | None = None,
    attempts: int = 1,
) -> HoldfastError:
    """Build the typed exception for a failed call from its code and rich status.

    ``status`` is the decoded ``google.rpc.Status`` (None when the failure has
    no details, e.g. the server was never reached). The same function decodes
    a batch item's ``OperationResult.error``. ``retry_pushback``: see
    :func:`pushback_from`.
    """
    reason = ""
    facts: dict[str, str] = {}
    fields: list[FieldViolation] = []
    guards: list[PreconditionViolation] = []
    quotas: list[QuotaViolation] = []
    retry_after: float | None = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
            facts = dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
        elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            guards.extend(
                PreconditionViolation(v.type, v.subject, v.description) for v in failure.violations
            )
        elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            quota = error_details_pb2.QuotaFailure()
            detail.Unpack(quota)
            quotas.extend(QuotaViolation(v.subject, v.description) for v in quota.violations)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info_retry = error_details_pb2.RetryInfo()
            detail.Unpack(info_retry)
            retry_after = info_retry.retry_delay.ToTimedelta().total_seconds()
    category = _CATEGORY.get(code, HoldfastError)
    if reason == QUOTA_EXCEEDED and code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        category = QuotaExceeded
    return category(
        code,
        message,
        reason=reason,
        facts=facts,
        field_violations=fields,
        precondition_violations=guards,
        quota_violations=quotas,
        retry_after=retry_after,
        retry_pushback=retry_pushback,
        request_id=request_id,
        attempts=attempts,
    )


def status_code_of(number: int) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` for a numeric code (as in ``google.rpc.Status.code``)."""
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN


def error_from_rpc_status(status: status_pb2.Status) -> HoldfastError:
    """The typed exception a ``google.rpc.Status`` stands for (batch results)."""
    return error_from_status(status_code_of(status.code), status.message, status)


def status_from_trailers(
    trailers: Iterable[tuple[str, str | bytes]] | None,
) -> status_pb2.Status | None:
    """Find and parse ``grpc-status-details-bin`` in trailing metadata."""
    for key, value in trailers or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def pushback_from(trailers: Iterable[tuple[str, str | bytes]] | None) -> float | None:
    """The ``grpc-retry-pushback-ms`` trailer in seconds, or None when absent.

    As gRFC A6 reads it: a value that is negative or not an integer is the
    server asking the client not to retry at all (returned as -1.0).
    """
    for key, value in trailers or ():
        if key == PUSHBACK_KEY:
            text = value if isinstance(value, str) else value.decode("ascii", "replace")
            try:
                millis = int(text.strip())
            except ValueError:
                return -1.0
            return -1.0 if millis < 0 else millis / 1000
    return None


def request_id_from(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The server's ``x-request-id`` from (initial) metadata, if present."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None
