"""The typed holdfast client: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

    from holdfast.client import Client, Rejected

    with Client("127.0.0.1:50051", tenant="shop-eu", actor="checkout") as holdfast:
        try:
            answer = holdfast.reserve([("SKU-1", "", 2)], order_ref="order-42")
        except Rejected as refused:
            print(refused.reason, refused.facts)  # INSUFFICIENT_STOCK {'available': '1', ...}
        else:
            print(answer.reservation.reservation_id, answer.decision.reason)

Every mutating call carries an idempotency key (minted when not given) that
stays the same on every retry, so a retried call is decided once. Transient
failures (UNAVAILABLE, ABORTED, RESOURCE_EXHAUSTED with retry advice) are
retried with backoff inside the call's deadline; other failures raise at once.
"""

from holdfast.client.aio import AsyncClient
from holdfast.client.calls import DEFAULT_TARGET, DEFAULT_TIMEOUT
from holdfast.client.errors import (
    Conflict,
    DeadlineExceeded,
    FieldViolation,
    HoldfastError,
    InvalidArgument,
    NotFound,
    Overloaded,
    PreconditionViolation,
    QuotaExceeded,
    QuotaViolation,
    Rejected,
    Unavailable,
    error_from_rpc_status,
)
from holdfast.client.operations import OperationsClient
from holdfast.client.requests import DayLike, LineLike, TimeLike, mint_key
from holdfast.client.retry import RetryPolicy
from holdfast.client.sync import Client

__all__ = [
    "DEFAULT_TARGET",
    "DEFAULT_TIMEOUT",
    "AsyncClient",
    "Client",
    "Conflict",
    "DayLike",
    "DeadlineExceeded",
    "FieldViolation",
    "HoldfastError",
    "InvalidArgument",
    "LineLike",
    "NotFound",
    "OperationsClient",
    "Overloaded",
    "PreconditionViolation",
    "QuotaExceeded",
    "QuotaViolation",
    "Rejected",
    "RetryPolicy",
    "TimeLike",
    "Unavailable",
    "error_from_rpc_status",
    "mint_key",
]
