"""The optional external feasibility check, asked before a reserve is decided.

The protocol (docs/dependencies.md): ``POST`` the URL with
``{"tenant", "channel", "lines": [{"sku", "location", "quantity"}]}``; a
``200`` with ``{"feasible": true}`` lets the reserve be decided, ``{"feasible":
false, "detail": "...", "skus": [...]}`` refuses it. Anything else (an error,
another status, a malformed answer, the timeout, a breaker that refuses to
call) is "unavailable", and the core's verdict
(:func:`holdfast._core.feasibility_verdict`) says what that means under the
policy: refuse, or decide and say the check was not made.

The policy is the active rule set's ``feasibility.when_unavailable``, read
when the check answers (so a switch of rule sets applies from the next
answer). The built-in rule set, which decides until one is activated, has
none of its own: the setting ``feasibility_when_unavailable`` is its policy.

Every call goes through the ``feasibility`` breaker with the configured
timeout; an infeasible answer is a working dependency (a success for the
breaker). The HTTP client is a minimal HTTP/1.1 one over asyncio streams (one
request per connection): the check is one small POST, not worth a dependency.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from holdfast import FEASIBILITY
from holdfast._core import feasibility_verdict
from holdfast.breakers import Breakers
from holdfast.errors import DEPENDENCY_UNAVAILABLE, Refusal
from holdfast.logs import fields

if TYPE_CHECKING:
    from holdfast._core import RuleSetSummary
    from holdfast.config import Settings
    from holdfast.metrics import Metrics

# A reserve in the engine's batch-item form (holdfast._core.BatchItem).
ReserveItem = (
    tuple[Literal["reserve"], str, str, str, int, str, str, list[tuple[str, str, int]], int, bool]
    | tuple[
        Literal["reserve"], str, str, str, int, str, str, list[tuple[str, str, int]], int, bool, str
    ]
    | tuple[
        Literal["reserve"],
        str,
        str,
        str,
        int,
        str,
        str,
        list[tuple[str, str, int]],
        int,
        bool,
        str,
        bool,
    ]
)

log = logging.getLogger("holdfast.feasibility")

INFEASIBLE = "INFEASIBLE"
# The version of the rule set an engine decides under before any is activated
# (the core's default; rust/core/src/engine/mod.rs).
BUILTIN_RULE_VERSION = "builtin-1"
# The largest request head or answer body read from (or by) the check.
MAX_MESSAGE_BYTES = 64 * 1024


class UnusableAnswerError(Exception):
    """The check gave no usable answer (counted as a failure by the breaker)."""


@dataclass(frozen=True, slots=True)
class Answer:
    feasible: bool
    detail: str = ""
    skus: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Checked:
    """The verdict on one reserve: decide it (``unverified`` lists the checks
    that could not be made), or ``refusal`` instead."""

    unverified: list[str] = field(default_factory=list)
    refusal: Refusal | None = None


VERIFIED = Checked()


class FeasibilityCheck:
    """Asks the check for reserve batch items, through the breaker."""

    def __init__(
        self,
        url: str,
        timeout_ms: int,
        when_unavailable: Callable[[], str],
        breakers: Breakers,
        metrics: Metrics | None = None,
    ) -> None:
        """``when_unavailable`` gives the policy in force when a check answers."""
        parts = urlsplit(url)
        self._host = parts.hostname or ""
        self._port = parts.port or 80
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._host_header = parts.netloc
        self._timeout_s = timeout_ms / 1000
        self._when_unavailable = when_unavailable
        self._breakers = breakers
        self._metrics = metrics

    @classmethod
    def configured(
        cls,
        settings: Settings,
        breakers: Breakers,
        metrics: Metrics | None,
        active_rules: Callable[[], RuleSetSummary] | None = None,
    ) -> FeasibilityCheck | None:
        """The check the settings ask for; None when no URL is set. The
        policy is ``active_rules()``'s (None: the setting's, always)."""
        if not settings.feasibility_url:
            return None
        configured = settings.feasibility_when_unavailable

        def policy() -> str:
            if active_rules is None:
                return configured
            return when_unavailable(active_rules(), configured)

        return cls(
            settings.feasibility_url,
            settings.feasibility_timeout_ms,
            policy,
            breakers,
            metrics,
        )

    async def check(self, item: ReserveItem) -> Checked:
        """The verdict on a reserve item ``("reserve", tenant, key, actor, now,
        order_ref, channel, lines, ...)``."""
        lines = item[7]
        question = {
            "tenant": item[1],
            "channel": item[6],
            "lines": [{"sku": s, "location": loc, "quantity": q} for s, loc, q in lines],
        }
        refused: Refusal | None = None
        answer: Answer | None = None
        error = ""
        try:
            answer = await self._breakers.call(
                FEASIBILITY, lambda: self._ask(question), self._timeout_s
            )
        except Refusal as refusal:  # the breaker would not call
            refused = refusal
            error = refusal.message
        except Exception as e:  # any failure of the dependency is "unavailable"
            error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        name = "unavailable" if answer is None else _answer_name(answer)
        if self._metrics is not None:
            self._metrics.feasibility_checked(name)
        verdict, reason = feasibility_verdict(name, self._when_unavailable())
        if verdict == "VERIFIED":
            return VERIFIED
        if verdict == "UNVERIFIED":
            log.warning(
                "feasibility check unavailable; deciding unverified",
                extra=fields(dependency=FEASIBILITY, error=error, idempotency_key=item[2]),
            )
            return Checked(unverified=[FEASIBILITY])
        if reason == INFEASIBLE and answer is not None:
            return Checked(refusal=_infeasible(answer, [s for s, _, _ in lines]))
        if refused is not None:
            return Checked(refusal=refused)
        return Checked(refusal=self._unavailable(error))

    def _unavailable(self, error: str) -> Refusal:
        retry_s = self._breakers.view(FEASIBILITY)["settings"]["retry_hint_ms"] / 1000
        return Refusal(
            DEPENDENCY_UNAVAILABLE,
            f"the feasibility check is unavailable ({error}); nothing was held, "
            f"retry in {retry_s:g} s",
            {"dependency": FEASIBILITY, "detail": error},
            retry_s,
        )

    async def _ask(self, question: dict[str, Any]) -> Answer:
        body = json.dumps(question, separators=(",", ":")).encode()
        reader, writer = await asyncio.open_connection(self._host, self._port)
        try:
            writer.write(
                f"POST {self._path} HTTP/1.1\r\nHost: {self._host_header}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            head, answer = await read_message(reader)
        finally:
            writer.close()
        status = head.split(b"\r\n", 1)[0].split(b" ")
        if len(status) < 2 or status[1] != b"200":
            raise UnusableAnswerError(f"answered {b' '.join(status[1:]).decode(errors='replace')}")
        return parse_answer(answer)


def when_unavailable(active: RuleSetSummary, configured: str) -> str:
    """The policy while the check is unavailable: the active rule set's, or
    the setting's while the built-in rule set decides."""
    if active["version"] == BUILTIN_RULE_VERSION:
        return configured
    return active["feasibility_when_unavailable"]


def _answer_name(answer: Answer) -> str:
    return "feasible" if answer.feasible else "infeasible"


def _infeasible(answer: Answer, asked: list[str]) -> Refusal:
    skus = answer.skus or sorted(set(asked))
    detail = answer.detail or "not feasible"
    return Refusal(
        INFEASIBLE,
        f"the feasibility check refused the reserve: {detail}; nothing was held",
        {"dependency": FEASIBILITY, "detail": detail, "skus": ",".join(skus)},
    )


def parse_answer(body: bytes) -> Answer:
    """``{"feasible": bool, "detail": str?, "skus": [str]?}``; UnusableAnswerError otherwise."""
    try:
        parsed = json.loads(body)
    except ValueError as e:
        raise UnusableAnswerError(f"answer is not JSON: {e}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("feasible"), bool):
        raise UnusableAnswerError('answer has no boolean "feasible"')
    detail = parsed.get("detail", "")
    skus = parsed.get("skus", [])
    if not isinstance(skus, list) or not all(isinstance(s, str) for s in skus):
        skus = []
    return Answer(parsed["feasible"], detail if isinstance(detail, str) else "", skus)


async def read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 message: its head (start line and headers) and its body,
    by Content-Length, else to the end of the connection. Raises UnusableAnswerError."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise UnusableAnswerError("message head too large") from None
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise UnusableAnswerError("bad Content-Length") from None
    if length is not None and not 0 <= length <= MAX_MESSAGE_BYTES:
        raise UnusableAnswerError("message body too large")
    if length is None:
        body = b""
        while chunk := await reader.read(MAX_MESSAGE_BYTES + 1 - len(body)):
            body += chunk
            if len(body) > MAX_MESSAGE_BYTES:
                raise UnusableAnswerError("message body too large")
    else:
        body = await reader.readexactly(length)
    return head, body
