"""A real gRPC server in front of holdfast that answers the attempts we
script with RESOURCE_EXHAUSTED and only a ``grpc-retry-pushback-ms`` trailer
(no RetryInfo), as a proxy or another gRPC server might, and forwards the
rest untouched. It records every attempt's idempotency key."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import duration_pb2, message_factory
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from holdfast.v1 import inventory_pb2 as pb

_SERVICE = pb.DESCRIPTOR.services_by_name["InventoryService"]


@dataclass(frozen=True)
class Pushback:
    """Refuse one attempt with this trailer value (and RetryInfo, if given)."""

    value: str
    code: grpc.StatusCode = grpc.StatusCode.RESOURCE_EXHAUSTED
    retry_info_s: float | None = None


def _key_of(method: str, payload: bytes) -> str:
    descriptor = _SERVICE.methods_by_name[method.rsplit("/", 1)[1]].input_type
    request = message_factory.GetMessageClass(descriptor).FromString(payload)
    return str(getattr(request, "idempotency_key", ""))


class PushbackProxy:
    """Forwards to ``upstream`` once the scripted refusals are used up."""

    def __init__(self, upstream: str, script: Iterable[Pushback]) -> None:
        self._script = deque(script)
        self._lock = threading.Lock()
        self.keys: list[str] = []
        self._upstream = grpc.insecure_channel(upstream)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers([_Handler(self)])
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> PushbackProxy:
        self._server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop(grace=None).wait()
        self._upstream.close()

    def handle(self, method: str, payload: bytes, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.keys.append(_key_of(method, payload))
            refusal = self._script.popleft() if self._script else None
        if refusal is not None:
            _refuse(context, refusal)
        metadata = [(k, v) for k, v in context.invocation_metadata() if k.startswith("x-")]
        call = self._upstream.unary_unary(method)  # bytes in, bytes out
        try:
            answer: bytes = call(payload, metadata=metadata, timeout=context.time_remaining())
        except grpc.RpcError as e:
            context.abort(e.code(), e.details() or "")  # type: ignore[attr-defined]
        return answer


def _refuse(context: grpc.ServicerContext, refusal: Pushback) -> None:
    status = status_pb2.Status(code=getattr(code_pb2, refusal.code.name), message="pushed back")
    if refusal.retry_info_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(round(refusal.retry_info_s * 1e9))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    rich = rpc_status.to_status(status)
    context.set_trailing_metadata(
        (*rich.trailing_metadata, ("grpc-retry-pushback-ms", refusal.value))
    )
    context.abort(rich.code, rich.details)


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, proxy: PushbackProxy) -> None:
        self._proxy = proxy

    def service(self, handler_call_details: Any) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method

        def behaviour(payload: bytes, context: grpc.ServicerContext) -> bytes:
            return self._proxy.handle(method, payload, context)

        return grpc.unary_unary_rpc_method_handler(behaviour)
