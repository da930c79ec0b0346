"""What every call gets, whatever its method: identity, a request id, a log line.

:class:`CallInterceptor` reads the caller's tenant and actor from metadata
(until authentication replaces them with verified identities), takes or
mints the request id and returns it in the initial metadata, refuses a call
whose deadline has already passed, and writes one JSON log line per call
with its method, status code, reason, duration and request id. Servicers
read the identity with :func:`current_call`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from holdfast import clock
from holdfast.logs import fields

if TYPE_CHECKING:
    from holdfast.metrics import Metrics

TENANT_KEY = "x-holdfast-tenant"
ACTOR_KEY = "x-holdfast-actor"
REQUEST_ID_KEY = "x-request-id"
DEFAULT_TENANT = "default"
DEFAULT_ACTOR = "anonymous"
# A caller's request id is echoed in logs and metadata: keep it short and printable.
MAX_REQUEST_ID = 128

log = logging.getLogger("holdfast.call")


@dataclass(slots=True)
class Call:
    """The call being served: who asks, under which request id, and why it ended."""

    method: str = ""
    request_id: str = ""
    tenant: str = DEFAULT_TENANT
    actor: str = DEFAULT_ACTOR
    # The reason code the call was answered with, for the log line.
    reason: str = ""
    # A journal breaker permit taken for this call and not yet reported (the
    # ledger reports it when the call's decisions settle, else gives it back).
    journal_permit: bool = False


_current: ContextVar[Call] = ContextVar("holdfast_call")


def current_call() -> Call:
    """The call this task serves (a default one outside an intercepted call)."""
    try:
        return _current.get()
    except LookupError:
        call = Call()
        _current.set(call)
        return call


def _request_id(given: str | None) -> str:
    if given and len(given) <= MAX_REQUEST_ID and given.isprintable():
        return given
    return str(uuid.uuid4())


@dataclass(slots=True)
class Activity:
    """How busy the server is, for draining: calls taken so far, and unary
    calls running now (streams such as a health watch never end by themselves)."""

    taken: int = 0
    running: int = 0


class CallInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, metrics: Metrics | None = None) -> None:
        self.activity = Activity()
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        self.activity.taken += 1
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        metadata = {m.key: m.value for m in handler_call_details.invocation_metadata or ()}
        # Whether the answer is a stream: its length says nothing of latency.
        streaming = handler.unary_stream is not None or handler.stream_stream is not None
        observe = _observer(method, metadata, self._metrics, streaming)
        if handler.unary_unary is not None:
            unary = _wrap(handler.unary_unary, observe, self.activity)
            return handler._replace(unary_unary=unary)
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=_wrap(handler.unary_stream, observe, None))
        if handler.stream_unary is not None:
            unary = _wrap(handler.stream_unary, observe, self.activity)
            return handler._replace(stream_unary=unary)
        return handler._replace(stream_stream=_wrap(handler.stream_stream, observe, None))


Observer = Callable[[Any], Any]


def _wrap(
    behaviour: Callable[..., Any], observe: Observer, activity: Activity | None
) -> Callable[..., Any]:
    """The behaviour run inside ``observe``, keeping its shape (coroutine or generator)."""
    if inspect.isasyncgenfunction(behaviour):

        async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
            async with observe(context):
                async for response in behaviour(request, context):
                    yield response

        return stream

    async def unary(request: Any, context: Any) -> Any:
        if activity is not None:
            activity.running += 1
        try:
            async with observe(context):
                return await behaviour(request, context)
        finally:
            if activity is not None:
                activity.running -= 1

    return unary


def _observer(
    method: str, metadata: dict[str, Any], metrics: Metrics | None, streaming: bool
) -> Observer:
    @asynccontextmanager
    async def observe(context: Any) -> AsyncIterator[Call]:
        call = Call(
            method=method,
            request_id=_request_id(metadata.get(REQUEST_ID_KEY)),
            tenant=str(metadata.get(TENANT_KEY) or DEFAULT_TENANT),
            actor=str(metadata.get(ACTOR_KEY) or DEFAULT_ACTOR),
        )
        token = _current.set(call)
        started = clock.monotonic_s()
        code = "OK"
        try:
            await context.send_initial_metadata(((REQUEST_ID_KEY, call.request_id),))
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                # The caller has given up: deciding now would commit stock
                # that nobody will hear about.
                await context.abort(
                    grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before the call ran"
                )
            yield call
        except grpc.aio.AbortError:
            code = _code_name(context.code())
            raise
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except Exception:
            code = "INTERNAL"
            log.exception("call failed", extra=fields(method=method, request_id=call.request_id))
            # Tell the caller nothing of internals: the request id finds the log line.
            await context.abort(
                grpc.StatusCode.INTERNAL, f"internal error (request id {call.request_id})"
            )
        finally:
            _current.reset(token)
            seconds = clock.monotonic_s() - started
            if metrics is not None:
                # The RPC's path (/package.Service/Method) without its slash.
                name = method.lstrip("/")
                metrics.called(name, code, call.reason, seconds, streaming=streaming)
            log.info(
                "call",
                extra=fields(
                    method=method,
                    code=code,
                    reason=call.reason,
                    duration_ms=round(seconds * 1000, 3),
                    request_id=call.request_id,
                    tenant=call.tenant,
                    actor=call.actor,
                ),
            )

    return observe


def _code_name(code: Any) -> str:
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return "UNKNOWN" if code is None else str(code)
