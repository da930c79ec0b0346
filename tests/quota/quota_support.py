"""Helpers for the abuse-limit tests: a real holdfast process with tenant
limits (in memory, or a replica on Redis), clients per tenant, and a reader
for what a QUOTA_EXCEEDED refusal carries (QuotaFailure, RetryInfo)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import grpc
import polling
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from holdfast.client import Client, RetryPolicy
from serverproc import SERVICE, ServerProcess, serve_command

T = TypeVar("T")
WAIT_S = 60.0  # a bound for a slow shared 2-core box, never a sleep
LOCATION = "W1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Holdfast(ServerProcess):
    """``holdfast serve --in-memory`` (or on Redis) with the given limits."""

    def __init__(self, directory: Path, *limits: str, redis: Sequence[str] = ()) -> None:
        super().__init__(directory / f"server-{uuid.uuid4().hex[:6]}.log", health_service=SERVICE)
        self.limits = limits
        self.redis = list(redis)

    def start(self) -> Holdfast:
        store = self.redis or ["--in-memory"]
        self.launch(serve_command("--listen", self.target, *store, *self.limits))
        self.wait_serving()
        return self

    def client(self, tenant: str, *, retry: RetryPolicy | None = None) -> Client:
        """A client of ``tenant`` that tries once unless told otherwise."""
        return Client(
            self.target,
            tenant=tenant,
            actor="quota-tests",
            timeout=30.0,
            retry=retry or RetryPolicy.never(),
        )


def refusal_details(error: grpc.RpcError) -> dict[str, object]:
    """The rich status of a refused raw-stub call: ErrorInfo reason,
    QuotaFailure violations and RetryInfo delay."""
    status = rpc_status.from_call(error)
    assert status is not None, "no rich status"
    found: dict[str, object] = {"violations": [], "retry_after": None, "reason": ""}
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            found["reason"] = info.reason
            found["facts"] = dict(info.metadata)
        elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            quota = error_details_pb2.QuotaFailure()
            detail.Unpack(quota)
            found["violations"] = [(v.subject, v.description) for v in quota.violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            found["retry_after"] = retry.retry_delay.ToTimedelta().total_seconds()
    return found


def until(what: str, probe: Callable[[], T | None], timeout: float = WAIT_S) -> T:
    """Poll ``probe`` until it returns something other than None, or fail naming ``what``."""
    return polling.until(probe, what, timeout)
