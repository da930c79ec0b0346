"""When to try a call again, and how long to wait: shared by both clients.

Retrying a mutating call is safe only because the client sends the same
idempotency key on every attempt: the server then decides once and replays
that outcome. So the client retries what is transient and says so:

- UNAVAILABLE (server not reached, or a dependency's breaker open) and
  ABORTED (the first request with this key is still in flight);
- RESOURCE_EXHAUSTED only when the server advised a delay, i.e. it asked
  for a retry later (a quota without advice is not retried).

The server's advice is ``RetryInfo`` in the rich status or, failing that,
gRPC's ``grpc-retry-pushback-ms`` trailer (gRFC A6); when both are there
``RetryInfo`` wins. A pushback that is negative (or not a number) without
``RetryInfo`` is the server asking not to retry: the call gives up at once,
whatever the code.

A business rejection (FAILED_PRECONDITION) is never retried: with the same
key it would replay the same rejection. Delays grow exponentially with
jitter, a server's advised delay is honoured (never shortened), and no
attempt starts or sleeps past the call's overall deadline.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import grpc

from holdfast.client.errors import HoldfastError

__all__ = ["RetryPolicy"]

_ALWAYS_RETRIED = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and by the deadline.

    The n-th retry waits ``min(max_backoff, initial_backoff * multiplier**(n-1))``
    scaled by a random factor in ``[1 - jitter, 1]`` (so many clients refused at
    once do not come back at once), or the server's advised delay (``RetryInfo``,
    else the pushback trailer) scaled by ``[1, 1 + jitter]`` when it gave one.

    Attributes:
        max_attempts: attempts in all, the first included (1 disables retries).
        initial_backoff: seconds before the first retry.
        max_backoff: the longest wait between two attempts, in seconds.
        multiplier: growth of the wait from one retry to the next.
        jitter: the random share of each wait, 0 to 1.
    """

    max_attempts: int = 8
    initial_backoff: float = 0.05
    max_backoff: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.5
    _random: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.multiplier < 1:
            raise ValueError("backoffs must be >= 0 and the multiplier >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that makes exactly one attempt."""
        return cls(max_attempts=1)

    def is_retryable(self, error: HoldfastError) -> bool:
        """Whether another attempt with the same key can change the answer."""
        advised = advised_delay(error)
        if advised is not None and advised < 0:
            return False  # the server asked for no retry (gRFC A6)
        if error.code in _ALWAYS_RETRIED:
            return True
        return error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and advised is not None

    def delay_before_retry(
        self, error: HoldfastError, attempt: int, remaining: float
    ) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up.

        ``attempt`` counts the attempts made so far (1 after the first);
        ``remaining`` is the time left before the call's deadline. The call
        gives up when the error is not transient, the attempts are used up,
        or the wait would end at or past the deadline.
        """
        if attempt >= self.max_attempts or not self.is_retryable(error):
            return None
        advised = advised_delay(error)
        if advised is not None:
            delay = advised * self._random.uniform(1.0, 1.0 + self.jitter)
        else:
            base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
            delay = base * self._random.uniform(1.0 - self.jitter, 1.0)
        if delay >= remaining:
            return None
        return delay


def advised_delay(error: HoldfastError) -> float | None:
    """The server's advised delay in seconds: ``RetryInfo``'s, else the
    pushback trailer's (negative: do not retry), else None."""
    return error.retry_after if error.retry_after is not None else error.retry_pushback
