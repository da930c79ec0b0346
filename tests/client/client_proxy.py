"""A real gRPC server in front of holdfast that fails the attempts we choose.

It stands between the client and the real server on loopback, records every
attempt (method and idempotency key), and per attempt either forwards the
bytes untouched or answers with a failure: exactly what a flaky network or an
overloaded server would make the client see. No mock library is involved;
the client speaks gRPC to a gRPC server.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2, message_factory
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from holdfast.v1 import inventory_pb2 as pb

_SERVICE = pb.DESCRIPTOR.services_by_name["InventoryService"]


@dataclass(frozen=True)
class Fail:
    """Answer one attempt with this status instead of forwarding it.

    ``after_forwarding``: forward first (the server decides), then lose the
    answer: the client sees only the failure.
    """

    code: grpc.StatusCode
    retry_after: float | None = None
    after_forwarding: bool = False


@dataclass(frozen=True)
class Attempt:
    method: str
    idempotency_key: str


def _key_of(method: str, payload: bytes) -> str:
    descriptor = _SERVICE.methods_by_name[method.rsplit("/", 1)[1]].input_type
    request = message_factory.GetMessageClass(descriptor).FromString(payload)
    return str(getattr(request, "idempotency_key", ""))


def _status(failure: Fail) -> Any:
    detail = None
    if failure.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(failure.retry_after * 1e9))
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    status = status_pb2.Status(
        code=getattr(code_pb2, failure.code.name),
        message=f"proxy says {failure.code.name}",
        details=[detail] if detail is not None else [],
    )
    return rpc_status.to_status(status)


class FlakyProxy:
    """Forwards to ``upstream`` (if any) after applying the scripted failures.

    ``script``: failures for the first attempts, in order; afterwards every
    attempt is forwarded, or answered with ``always`` when it is set.
    """

    def __init__(
        self, upstream: str | None, script: Iterable[Fail] = (), always: Fail | None = None
    ) -> None:
        self._script = deque(script)
        self._always = always
        self._lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self._upstream = grpc.insecure_channel(upstream) if upstream is not None else None
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers([_Handler(self)])
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> FlakyProxy:
        self._server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop(grace=None).wait()
        if self._upstream is not None:
            self._upstream.close()

    def keys(self) -> list[str]:
        with self._lock:
            return [attempt.idempotency_key for attempt in self.attempts]

    def handle(self, method: str, payload: bytes, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.attempts.append(Attempt(method, _key_of(method, payload)))
            failure = self._script.popleft() if self._script else self._always
        if failure is not None and not failure.after_forwarding:
            context.abort_with_status(_status(failure))
        answer = self._forward(method, payload, context)
        if failure is not None:
            context.abort_with_status(_status(failure))
        return answer

    def _forward(self, method: str, payload: bytes, context: grpc.ServicerContext) -> bytes:
        if self._upstream is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "no upstream")
        metadata = [(k, v) for k, v in context.invocation_metadata() if k.startswith("x-")]
        call = self._upstream.unary_unary(method)  # bytes in, bytes out
        try:
            return bytes(call(payload, metadata=metadata, timeout=context.time_remaining()))
        except grpc.RpcError as error:  # pass the server's answer on as it was
            context.set_trailing_metadata(error.trailing_metadata())
            context.abort(error.code(), error.details())
            raise  # unreachable: abort raises


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, proxy: FlakyProxy) -> None:
        self._proxy = proxy

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method

        def unary(payload: bytes, context: grpc.ServicerContext) -> bytes:
            return self._proxy.handle(method, payload, context)

        return grpc.unary_unary_rpc_method_handler(unary)
