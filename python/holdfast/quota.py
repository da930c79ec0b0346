"""The per-tenant request rate (an abuse limit, OWASP API4).

Holding stock is capped in the core (``tenant_max_open_holds``,
``tenant_max_held_units``: decisions, journaled). How fast a tenant may call
is not a decision about stock, so it is enforced here, before any servicer
runs: each tenant has a token bucket holding up to one second's worth of
calls (``tenant_max_requests_per_second``, at least one), refilled at that
rate; a call finding it empty is refused ``RESOURCE_EXHAUSTED`` with reason
``QUOTA_EXCEEDED``, a ``QuotaFailure`` naming the tenant and the limit, and a
``RetryInfo`` saying when the next token comes.

The tenant is the call's (the principal's with credentials, the metadata's
without), as :class:`holdfast.interceptors.CallInterceptor` established it:
this interceptor is registered after that one, so its behaviour runs inside
the call that one set up. Health checks and reflection are never limited. A
call counts once whatever it carries (a batch is one call; what it may hold
is bounded by the caps in the core).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from holdfast import clock, errors, interceptors

if TYPE_CHECKING:
    from holdfast.config import Settings

QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
RATE_QUOTA = "requests_per_second"
# Never limited: a balancer's health checks and tool discovery.
UNLIMITED_SERVICES = ("/grpc.health.v1.", "/grpc.reflection.")
# Buckets kept before idle (full) ones are forgotten: a caller naming a new
# tenant per call (no credentials) must not grow memory without bound.
MAX_IDLE_BUCKETS = 10_000


@dataclass(slots=True)
class Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One token bucket per tenant: ``rate`` tokens a second, holding at most
    ``burst``. :meth:`take` spends a token or says how long until one comes."""

    def __init__(
        self, rate: float, burst: float | None = None, now: Callable[[], float] = clock.monotonic_s
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be greater than 0")
        self.rate = rate
        self.burst = max(1.0, rate if burst is None else burst)
        self._now = now
        self._buckets: dict[str, Bucket] = {}

    def take(self, tenant: str) -> float | None:
        """Spend one of the tenant's tokens: None when there was one, else the
        seconds until there will be."""
        now = self._now()
        bucket = self._buckets.get(tenant)
        if bucket is None:
            if len(self._buckets) >= MAX_IDLE_BUCKETS:
                self._forget_idle(now)
            bucket = self._buckets[tenant] = Bucket(self.burst, now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        """Drop the buckets that have refilled: forgetting them changes nothing."""
        full_after = self.burst / self.rate
        idle = [t for t, b in self._buckets.items() if now - b.updated >= full_after]
        for tenant in idle:
            del self._buckets[tenant]

    def __len__(self) -> int:
        return len(self._buckets)


def rate_exceeded(tenant: str, rate: float, retry_after_s: float) -> errors.Refusal:
    """The refusal of a call past the tenant's request rate."""
    return errors.Refusal(
        QUOTA_EXCEEDED,
        f"tenant {tenant!r} may make at most {rate:g} requests per second; "
        f"retry in {retry_after_s:.3g} s",
        {"tenant": tenant, "quota": RATE_QUOTA, "limit": f"{rate:g}"},
        retry_after_s,
    )


class RateLimitInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses a tenant's calls past its request rate (see the module)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.buckets = TokenBuckets(rate, burst)

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(UNLIMITED_SERVICES):
            return handler
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._wrap(handler.unary_unary))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=self._wrap(handler.unary_stream))
        if handler.stream_unary is not None:
            return handler._replace(stream_unary=self._wrap(handler.stream_unary))
        return handler._replace(stream_stream=self._wrap(handler.stream_stream))

    async def _admit(self, context: Any) -> None:
        tenant = interceptors.current_call().tenant
        delay = self.buckets.take(tenant)
        if delay is not None:
            await errors.abort(context, rate_exceeded(tenant, self.buckets.rate, delay))

    def _wrap(self, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        """The behaviour behind the admission check, keeping its shape."""
        if inspect.isasyncgenfunction(behaviour):

            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                await self._admit(context)
                async for response in behaviour(request, context):
                    yield response

            return stream

        async def unary(request: Any, context: Any) -> Any:
            await self._admit(context)
            return await behaviour(request, context)

        return unary


def rate_limits(settings: Settings) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors the settings ask for (none without a request rate)."""
    rate = settings.tenant_max_requests_per_second
    return [RateLimitInterceptor(rate)] if rate > 0 else []
