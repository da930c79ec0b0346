"""The process's named circuit breakers, one per dependency.

The state machine is the core's (:class:`holdfast.CircuitBreaker`); this file
keeps one per name, passes it the time, and tells the rest of the service
what happened: a refusal becomes :meth:`Refusal.breaker_open` (the breaker's
name, state and a retry delay), every transition goes to the listeners
(metrics, logs, health) with who caused it and why.

How a dependency call is guarded::

    permit = breakers.acquire("feasibility")      # raises Refusal when refused
    started = clock.monotonic_s()
    try:
        answer = await call()
    except Exception:
        breakers.failed("feasibility", clock.monotonic_s() - started)
        raise
    breakers.succeeded("feasibility", clock.monotonic_s() - started)

or simply ``await breakers.call("feasibility", call, timeout_s)``. A permit
whose call never reached the dependency is given back with :meth:`release`,
so HALF_OPEN never waits for a result that cannot come.

Everything here runs on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from holdfast import FEASIBILITY, CircuitBreaker, clock
from holdfast.errors import Refusal
from holdfast.logs import fields

log = logging.getLogger("holdfast.breakers")

JOURNAL = "journal"
EVENTS = "events"
# FEASIBILITY (the core's name for the check, as unverified decisions list it).
REDIS = "redis"

# The settings a breaker takes (the core's names), for configuration.
SETTING_NAMES = (
    "failure_rate_threshold",
    "slow_call_rate_threshold",
    "slow_call_duration_ms",
    "sliding_window_size",
    "minimum_number_of_calls",
    "wait_in_open_ms",
    "permitted_calls_in_half_open",
    "retry_hint_ms",
)

# The store that commitments are durable in (the journal file, or Redis for
# replicas): it must stop commitments within seconds and come back as quickly.
_STORE: Mapping[str, int] = {
    "failure_rate_threshold": 50,
    "slow_call_rate_threshold": 80,
    "slow_call_duration_ms": 1_000,
    "sliding_window_size": 100,
    "minimum_number_of_calls": 20,
    "wait_in_open_ms": 5_000,
    "permitted_calls_in_half_open": 5,
    "retry_hint_ms": 1_000,
}

# holdfast's defaults per dependency. resilience4j's own (a minute in OPEN, 100
# calls before judging) suit a remote service, not the store.
DEFAULTS: Mapping[str, Mapping[str, int]] = {
    JOURNAL: _STORE,
    REDIS: _STORE,
    EVENTS: {
        "failure_rate_threshold": 50,
        "slow_call_rate_threshold": 100,
        "slow_call_duration_ms": 5_000,
        "sliding_window_size": 20,
        "minimum_number_of_calls": 5,
        "wait_in_open_ms": 10_000,
        "permitted_calls_in_half_open": 2,
        "retry_hint_ms": 5_000,
    },
    FEASIBILITY: {
        "failure_rate_threshold": 50,
        "slow_call_rate_threshold": 80,
        "slow_call_duration_ms": 250,
        "sliding_window_size": 50,
        "minimum_number_of_calls": 10,
        "wait_in_open_ms": 5_000,
        "permitted_calls_in_half_open": 3,
        "retry_hint_ms": 1_000,
    },
}

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Change:
    """One transition of one breaker, with who caused it."""

    breaker: str
    from_state: str
    to_state: str
    at: int  # unix ms
    cause: str
    # An operator's name and words for forced_open / disabled / reset; the
    # system's otherwise.
    actor: str = ""
    reason: str = ""


Listener = Callable[[Change], None]


@dataclass(slots=True)
class _Named:
    breaker: CircuitBreaker
    settings: Mapping[str, int]
    since: int
    cause: str = ""
    listeners: list[Listener] = field(default_factory=list)


class Breakers:
    """Every named breaker of the process."""

    def __init__(
        self,
        names: Iterable[str] = (JOURNAL, EVENTS, FEASIBILITY),
        overrides: Mapping[str, Mapping[str, int]] | None = None,
        now_ms: Callable[[], int] = clock.now_ms,
    ) -> None:
        """``overrides`` replaces defaults per name and setting; a bad value
        raises ValueError naming the breaker and the field."""
        self._now_ms = now_ms
        self._listeners: list[Listener] = []
        self._named: dict[str, _Named] = {}
        overrides = overrides or {}
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ValueError(f"breakers: unknown breaker {', '.join(unknown)}")
        for name in names:
            settings = {**DEFAULTS.get(name, DEFAULTS[FEASIBILITY]), **overrides.get(name, {})}
            try:
                breaker = CircuitBreaker(name, **settings)
            except (TypeError, ValueError) as e:
                raise ValueError(f"breakers.{name}: {e}") from None
            self._named[name] = _Named(breaker, settings, since=now_ms())

    # Observing -------------------------------------------------------------------

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with every transition from now on."""
        self._listeners.append(listener)

    @property
    def names(self) -> list[str]:
        return list(self._named)

    def state(self, name: str) -> str:
        return self._get(name).breaker.state()

    def degraded(self) -> list[tuple[str, str]]:
        """(name, state) of every breaker not CLOSED, for the response trailer."""
        return [
            (name, state)
            for name, named in self._named.items()
            if (state := named.breaker.state()) != "CLOSED"
        ]

    def view(self, name: str) -> dict[str, Any]:
        """Its state, since when and why, its window and its settings."""
        named = self._get(name)
        return {
            "name": name,
            **named.breaker.metrics(),
            "since": named.since,
            "cause": named.cause,
            "settings": dict(named.settings),
        }

    # Guarding a call -------------------------------------------------------------

    def acquire(self, name: str) -> str:
        """Leave to call the dependency once (the state that gave it), or
        :class:`Refusal` (DEPENDENCY_UNAVAILABLE naming the breaker)."""
        named = self._get(name)
        answer = named.breaker.try_acquire(self._now_ms())
        self._drain(name, named)
        if not answer.permitted:
            raise Refusal.breaker_open(name, answer.state, answer.retry_after_ms / 1000)
        return answer.state

    def succeeded(self, name: str, seconds: float) -> None:
        named = self._get(name)
        named.breaker.on_success(self._now_ms(), _ms(seconds))
        self._drain(name, named)

    def failed(self, name: str, seconds: float) -> None:
        named = self._get(name)
        named.breaker.on_failure(self._now_ms(), _ms(seconds))
        self._drain(name, named)

    def release(self, name: str) -> None:
        """Give back a permit whose call never reached the dependency."""
        self._get(name).breaker.release_permit()

    async def call(self, name: str, make_call: Callable[[], Awaitable[T]], timeout_s: float) -> T:
        """Call the dependency through its breaker; a timeout is a failure.
        Raises :class:`Refusal` when refused, else what the call raised."""
        self.acquire(name)
        started = clock.monotonic_s()
        try:
            result = await asyncio.wait_for(make_call(), timeout_s)
        except asyncio.CancelledError:
            self.release(name)  # our caller went away: says nothing of the dependency
            raise
        except BaseException:
            self.failed(name, clock.monotonic_s() - started)
            raise
        self.succeeded(name, clock.monotonic_s() - started)
        return result

    def poll(self) -> None:
        """Move every OPEN breaker whose wait has passed to HALF_OPEN (run
        on a timer: a service reporting NOT_SERVING gets no calls to ask with)."""
        now = self._now_ms()
        for name, named in self._named.items():
            named.breaker.poll(now)
            self._drain(name, named)

    # Operators -------------------------------------------------------------------

    def operate(self, name: str, action: str, actor: str, reason: str) -> Change | None:
        """``force_open``, ``disable`` or ``reset``; the transition, or None
        when the breaker was already there. Raises KeyError for an unknown
        breaker and ValueError for an unknown action."""
        named = self._get(name)
        now = self._now_ms()
        if action == "force_open":
            named.breaker.force_open(now)
        elif action == "disable":
            named.breaker.disable(now)
        elif action == "reset":
            named.breaker.reset(now)
        else:
            raise ValueError(f"unknown breaker action {action!r}")
        changes = self._drain(name, named, actor=actor, reason=reason)
        return changes[-1] if changes else None

    # Inside ----------------------------------------------------------------------

    def _get(self, name: str) -> _Named:
        try:
            return self._named[name]
        except KeyError:
            raise KeyError(f"no breaker named {name!r}") from None

    def _drain(self, name: str, named: _Named, actor: str = "", reason: str = "") -> list[Change]:
        transitions = named.breaker.drain_transitions()
        changes = []
        for t in transitions:
            change = Change(
                breaker=name,
                from_state=t["from_state"],
                to_state=t["to_state"],
                at=t["at"],
                cause=t["cause"],
                actor=actor,
                reason=reason,
            )
            named.since = change.at
            named.cause = change.cause
            changes.append(change)
            log.warning(
                f"breaker {name} {change.from_state} -> {change.to_state} ({change.cause})",
                extra=fields(
                    breaker=name,
                    from_state=change.from_state,
                    to_state=change.to_state,
                    cause=change.cause,
                    actor=actor,
                    operator_reason=reason,
                ),
            )
            for listener in self._listeners:
                listener(change)
        return changes


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def parse_overrides(text: str) -> dict[str, dict[str, int]]:
    """``"journal.wait_in_open_ms=1000,feasibility.minimum_number_of_calls=4"``
    (the environment / flag form of the TOML ``[breakers.NAME]`` tables)."""
    overrides: dict[str, dict[str, int]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        name, dot, setting = key.strip().partition(".")
        if not sep or not dot or setting not in SETTING_NAMES:
            raise ValueError(
                f"expected NAME.SETTING=INTEGER with SETTING one of {', '.join(SETTING_NAMES)}, "
                f"got {part!r}"
            )
        try:
            overrides.setdefault(name, {})[setting] = int(value)
        except ValueError:
            raise ValueError(f"{key.strip()}: not an integer: {value.strip()!r}") from None
    return overrides
