"""What every call gets, whatever its method: identity, a request id, a log line.

:class:`CallInterceptor` establishes who calls: with credentials
(``auth_file``, :mod:`holdfast.auth`) the principal named by the bearer token
or the client certificate, whose tenant and name the call takes whatever the
metadata says (UNAUTHENTICATED without one, PERMISSION_DENIED outside its
roles; health and reflection answer anyone); without, the tenant and actor
the metadata names. It takes or mints the request id and returns it in the
initial metadata, refuses a call whose deadline has already passed, and
writes one JSON log line per call with its method, status code, reason,
duration and request id (and, for a decision, its reservation, key and rule
version), never the token; a batch adds one line per decided operation
(:func:`log_decision`). Servicers read the identity with
:func:`current_call`.

Two more things every call gets:

- a bound on unary calls served at once (``max_in_flight``): past it a call
  is refused before any servicer runs, ``RESOURCE_EXHAUSTED``/``OVERLOADED``
  with a retry delay, so the calls admitted keep their latency instead of
  all of them queueing behind each other. Health checks and operators'
  calls are never refused by it (a balancer or an operator must still get
  through to an overloaded server), nor are streams (a feed lasts as long
  as its consumer, it is no load of the moment);
- while any circuit breaker is not CLOSED, the ``holdfast-degraded`` trailer
  naming them (``journal=OPEN,feasibility=HALF_OPEN``) on every answer, OK
  or not, so a caller can tell a degraded answer from a normal one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

# Module imports (not names): errors.py reads current_call from here.
from holdfast import auth, clock, errors
from holdfast.logs import fields

if TYPE_CHECKING:
    from holdfast import Outcome
    from holdfast.auth import Authority, Principal
    from holdfast.breakers import Breakers
    from holdfast.metrics import Metrics

TENANT_KEY = "x-holdfast-tenant"
ACTOR_KEY = "x-holdfast-actor"
REQUEST_ID_KEY = "x-request-id"
DEFAULT_TENANT = "default"
DEFAULT_ACTOR = "anonymous"
# A caller's request id is echoed in logs and metadata: keep it short and printable.
MAX_REQUEST_ID = 128
# The trailer naming the breakers not CLOSED while the service runs degraded.
DEGRADED_KEY = "holdfast-degraded"
# The delay advised to a call refused at max_in_flight. Slots free up as
# calls finish (milliseconds each), but a refused client coming straight
# back only adds to the load that refused it: a tenth of a second spreads
# the retries past the burst.
IN_FLIGHT_RETRY_S = 0.1
# Never refused at max_in_flight: the balancer's health checks and the
# operators' service (forcing a breaker is how load gets shed by hand).
UNBOUNDED_SERVICES = ("/grpc.health.v1.", "/holdfast.v1.OperationsService/")

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
    # A decision's facts for its log line (set by the servicer; cheap to
    # set, read only when the line is written).
    reservation_id: str = ""
    idempotency_key: str = ""
    rule_version: str = ""
    # The bound that refused the call OVERLOADED (in_flight, commit_queue),
    # counted when the call ends.
    overloaded: str = ""
    # The breakers not CLOSED, as the degraded trailer names them ("" when
    # none): asked when the answer is sent, since a call can open one.
    degraded: Callable[[], str] = lambda: ""
    # A journal breaker permit taken for this call and not yet reported (the
    # ledger reports it when the call's decisions settle, else gives it back).
    journal_permit: bool = False
    # Who the credentials say is calling (None: no auth_file, anonymous).
    principal: Principal | None = None


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


def degraded_names(breakers: Breakers) -> str:
    """The degraded trailer's value: ``"journal=OPEN,feasibility=HALF_OPEN"``."""
    return ",".join(f"{name}={state}" for name, state in breakers.degraded())


class CallInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        max_in_flight: int | None = None,
        breakers: Breakers | None = None,
        authority: Authority | None = None,
    ) -> None:
        """``max_in_flight``: unary calls served at once (None: unbounded);
        ``breakers``: whose degradation the trailer reports; ``authority``:
        who may call what (None: no credentials, every call anonymous)."""
        self.activity = Activity()
        self._metrics = metrics
        self._max_in_flight = max_in_flight
        self._degraded: Callable[[], str] = (
            (lambda: "") if breakers is None else (lambda: degraded_names(breakers))
        )
        self._authority = authority

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
        observe = _observer(
            method, metadata, self._metrics, streaming, self._degraded, self._authority
        )
        bound = None if method.startswith(UNBOUNDED_SERVICES) else self._max_in_flight
        if handler.request_deserializer is not None:
            handler = handler._replace(request_deserializer=_tolerant(handler.request_deserializer))
        if handler.unary_unary is not None:
            unary = _wrap(handler.unary_unary, observe, self.activity, bound)
            return handler._replace(unary_unary=unary)
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=_wrap(handler.unary_stream, observe, None))
        if handler.stream_unary is not None:
            unary = _wrap(handler.stream_unary, observe, self.activity, bound)
            return handler._replace(stream_unary=unary)
        return handler._replace(stream_stream=_wrap(handler.stream_stream, observe, None))


Observer = Callable[[Any], Any]


class Undecodable:
    """A request whose bytes are not its message: refused INVALID_ARGUMENT
    inside the call (grpc's own deserializer failing answers UNKNOWN and logs
    a traceback per call)."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def tolerant(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as e:  # DecodeError, and whatever a parser raises on garbage
            return Undecodable(e)

    return tolerant


async def _refuse_undecodable(context: Any) -> None:
    refusal = errors.Refusal.invalid("request", "is not a valid message of this method")
    await errors.abort(context, refusal)


def _wrap(
    behaviour: Callable[..., Any],
    observe: Observer,
    activity: Activity | None,
    bound: int | None = None,
) -> Callable[..., Any]:
    """The behaviour run inside ``observe``, keeping its shape (coroutine or
    generator); a unary one refused at once when ``bound`` calls are running."""
    if inspect.isasyncgenfunction(behaviour):

        async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
            async with observe(context):
                if isinstance(request, Undecodable):
                    await _refuse_undecodable(context)
                async for response in behaviour(request, context):
                    yield response

        return stream

    async def unary(request: Any, context: Any) -> Any:
        if activity is not None and bound is not None and activity.running >= bound:
            async with observe(context):
                await errors.abort(context, errors.Refusal.in_flight_full(bound, IN_FLIGHT_RETRY_S))
        if activity is not None:
            activity.running += 1
        try:
            async with observe(context):
                if isinstance(request, Undecodable):
                    await _refuse_undecodable(context)
                return await behaviour(request, context)
        finally:
            if activity is not None:
                activity.running -= 1

    return unary


def degraded_trailer(call: Call) -> tuple[tuple[str, str], ...]:
    """The trailing metadata naming the breakers not CLOSED (empty when none)."""
    degraded = call.degraded()
    return ((DEGRADED_KEY, degraded),) if degraded else ()


def _observer(
    method: str,
    metadata: dict[str, Any],
    metrics: Metrics | None,
    streaming: bool,
    degraded: Callable[[], str],
    authority: Authority | None = None,
) -> Observer:
    # Health and reflection answer anyone; every other call needs an identity.
    checked = authority if authority is not None and not auth.is_open(method) else None

    @asynccontextmanager
    async def observe(context: Any) -> AsyncIterator[Call]:
        call = Call(
            method=method,
            request_id=_request_id(metadata.get(REQUEST_ID_KEY)),
            tenant=str(metadata.get(TENANT_KEY) or DEFAULT_TENANT),
            actor=str(metadata.get(ACTOR_KEY) or DEFAULT_ACTOR),
            degraded=degraded,
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
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    "the deadline passed before the call ran",
                    degraded_trailer(call),
                )
            if checked is not None:
                await _authenticate(call, checked, metadata, context)
            yield call
            trailer = degraded_trailer(call)
            if trailer:
                context.set_trailing_metadata((*context.trailing_metadata(), *trailer))
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
                grpc.StatusCode.INTERNAL,
                f"internal error (request id {call.request_id})",
                degraded_trailer(call),
            )
        finally:
            # A stream the client closed early is finalized in another
            # context (the generator's athrow task): nothing to restore there.
            with contextlib.suppress(ValueError):
                _current.reset(token)
            seconds = clock.monotonic_s() - started
            if metrics is not None:
                # The RPC's path (/package.Service/Method) without its slash.
                name = method.lstrip("/")
                metrics.called(name, code, call.reason, seconds, streaming=streaming)
                if call.overloaded:
                    metrics.refused_overload(call.overloaded)
            # Nobody reads the line below INFO: do not build it.
            if log.isEnabledFor(logging.INFO):
                log.info("call", extra=_line(call, code, seconds))

    return observe


async def _authenticate(
    call: Call, authority: Authority, metadata: dict[str, Any], context: Any
) -> None:
    """Make the call the principal's (its tenant and actor, whatever the
    metadata says), or refuse it: UNAUTHENTICATED without a known identity,
    PERMISSION_DENIED when its roles do not cover the method."""
    principal = authority.identify(metadata, context)
    if principal is None:
        await errors.abort(context, auth.unauthenticated())
    call.principal = principal
    call.tenant = principal.tenant
    call.actor = principal.name
    if not principal.may(call.method):
        await errors.abort(context, auth.permission_denied(principal, call.method))


def _line(call: Call, code: str, seconds: float) -> dict[str, Any]:
    """The call's log line: what was asked, by whom, how it ended; a decision's
    reservation, key and rule version. Never the metadata as a whole (it
    may carry credentials)."""
    facts: dict[str, Any] = {
        "method": call.method,
        "code": code,
        "reason": call.reason,
        "duration_ms": round(seconds * 1000, 3),
        "request_id": call.request_id,
        "tenant": call.tenant,
        "actor": call.actor,
    }
    if call.idempotency_key or call.rule_version:
        facts["reservation_id"] = call.reservation_id
        facts["idempotency_key"] = call.idempotency_key
        facts["rule_version"] = call.rule_version
    return fields(**facts)


def decisions_logged() -> bool:
    """Whether decision lines are read (INFO enabled): asked once per batch,
    so a batch nobody logs builds no line."""
    return log.isEnabledFor(logging.INFO)


def log_decision(call: Call, index: int, kind: str, key: str, outcome: Outcome) -> None:
    """One decided operation of a batch as its own line (the call's line
    says only how the batch as a whole ended): which operation, by whom, under
    which request id, and the core's decision."""
    facts = fields(
        method=call.method,
        operation=index,
        kind=kind,
        tenant=call.tenant,
        actor=call.actor,
        request_id=call.request_id,
        reservation_id=outcome.reservation_id or "",
        idempotency_key=key,
        reason=outcome.reason,
        rule_version=outcome.rule_version,
        replayed=outcome.replayed,
    )
    log.info("decision", extra=facts)


def _code_name(code: Any) -> str:
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return "UNKNOWN" if code is None else str(code)
