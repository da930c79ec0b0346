"""Prometheus metrics: every metric holdfast exports, defined here and nowhere else.

Each server has its own :class:`Metrics` on its own ``CollectorRegistry`` (not
the library's global one), so tests can run servers side by side. Counters are
incremented where things happen (the call interceptor, the ledger); what the
engine holds (holds open, idempotency keys, OVERCOMMITTED exceptions) and what
the journal has done are read when Prometheus scrapes, by :class:`StateCollector`.

``/metrics`` is served by a small asyncio HTTP handler on the event loop, not
by prometheus_client's thread: reading the engine from another thread would
race the loop's decisions (the engine is never entered twice at once).

Labels are bounded: method, code, reason, action, outcome, breaker, state,
from_state, to_state, resource, answer, dependency, kind, ended, version (each from a
fixed list, the catalogue of reason codes or the proto's methods; a rule-set
version from the few an operator deploys). Never a
SKU, tenant, reservation id or idempotency key. docs/metrics.md lists them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

from holdfast import clock

if TYPE_CHECKING:
    from holdfast import Outcome
    from holdfast._core import BatchItem, ReservationView
    from holdfast.breakers import Breakers

log = logging.getLogger("holdfast.metrics")

BREAKER_STATES = ("CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN", "DISABLED")
# Label values known in advance. Their series are created at zero when the
# server starts, so a rate() or an alert has a series from the first scrape
# instead of appearing with the first refusal.
OVERLOAD_RESOURCES = ("in_flight", "commit_queue")
FEASIBILITY_ANSWERS = ("feasible", "infeasible", "unavailable")
UNVERIFIED_DEPENDENCIES = ("feasibility",)
# The core's kinds of divergence between the active rule set and a shadowed candidate.
DIVERGENCE_KINDS = ("outcome", "reason", "placement", "hold_time")  # rust/core rule_sets.rs

# How a hold ended: the history action of the transition that ended it, and
# its label. Their series are created at zero like the lists above.
HOLD_ENDINGS = {"allocate": "allocated", "release": "released", "expire": "expired"}
# The reservation state of a hold (a reservation with a line still held).
HELD = "RESERVED"

# Around the latency objective (a decision answered in milliseconds, durable):
# fine below 10 ms, coarse up to the deadlines callers set.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# How long holds last: checkouts in seconds to minutes, holds renewed or left
# to expire at the defaults (15 min) and up to max_hold_seconds (a day).
HOLD_DURATION_BUCKETS = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    21_600.0, 86_400.0,
)  # fmt: skip
# How old a warehouse fact is when it arrives: sub-second feeds to day-old files.
FACT_LAG_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 21_600.0, 86_400.0)

# Warehouse facts whose last argument is the source's ``as_of`` (None: "now").
_FACTS_WITH_AS_OF = frozenset({"set_stock", "confirm_pick", "confirm_shipment", "record_return"})
KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
STALE_UPDATE = "STALE_UPDATE"
PARTIALLY_RESERVED = "PARTIALLY_RESERVED"

# A scrape's request line and headers; anything longer is not a scraper.
MAX_REQUEST_BYTES = 16 * 1024
READ_TIMEOUT_S = 10.0


class Census(NamedTuple):
    """What the engine holds at scrape time."""

    open_holds: int
    reservations: int
    idempotency_keys: int
    overcommitted_positions: int
    # unix ms since the oldest open OVERCOMMITTED exception; None when none is open
    oldest_overcommitted_since: int | None
    # unix ms the oldest open hold was placed; None when none is open
    oldest_hold_placed_at: int | None
    # holds past their expiry that no sweep has expired yet (0 while sweeps keep up)
    overdue_holds: int
    # unix ms the longest-overdue of those was due; None when there are none
    oldest_overdue_due: int | None


class JournalState(NamedTuple):
    """The durable store's counters and health at scrape time."""

    healthy: bool
    transactions: int
    events: int
    queue_depth: int
    # commit_queue_limit: at this depth commitments are refused OVERLOADED
    queue_limit: int


class Metrics:
    """The metric families of one server, and the hooks that feed them."""

    def __init__(self, version: str = "") -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # RED per RPC.
        self.rpc_requests = Counter(
            "holdfast_rpc_requests",
            "RPCs answered, by method and status code.",
            ["method", "code"],
            registry=r,
        )
        self.rpc_errors = Counter(
            "holdfast_rpc_errors",
            "RPCs answered with a status other than OK, by method, code and reason code.",
            ["method", "code", "reason"],
            registry=r,
        )
        self.rpc_duration = Histogram(
            "holdfast_rpc_duration_seconds",
            "Time to answer a unary RPC (durable answer included), by method.",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Business outcomes, from the ledger (unary calls and batch operations alike).
        self.decisions = Counter(
            "holdfast_decisions",
            "New decisions of the engine, by action, outcome (accepted/rejected) and reason.",
            ["action", "outcome", "reason"],
            registry=r,
        )
        self.reserve_requested_units = Counter(
            "holdfast_reserve_requested_units",
            "Units asked for by new reserve decisions, by outcome and reason.",
            ["outcome", "reason"],
            registry=r,
        )
        self.reserved_units = Counter(
            "holdfast_reserved_units",
            "Units put on hold by accepted reserve decisions.",
            registry=r,
        )
        self.replays = Counter(
            "holdfast_idempotent_replays",
            "Retries answered with the first decision of their idempotency key, by action.",
            ["action"],
            registry=r,
        )
        self.key_conflicts = Counter(
            "holdfast_idempotency_key_conflicts",
            "Calls refused because their key was used with a different request, by action.",
            ["action"],
            registry=r,
        )
        self.expirations = Counter(
            "holdfast_holds_expired", "Holds that reached their expiry unconverted.", registry=r
        )
        self.hold_duration = Histogram(
            "holdfast_hold_duration_seconds",
            "How long holds lasted, placed to ended, by how they ended "
            "(allocated, released, expired).",
            ["ended"],
            buckets=HOLD_DURATION_BUCKETS,
            registry=r,
        )
        for ended in HOLD_ENDINGS.values():
            self.hold_duration.labels(ended)
        self.stale_updates = Counter(
            "holdfast_stale_updates",
            "Warehouse facts refused as older than the one applied, by action.",
            ["action"],
            registry=r,
        )
        self.fact_lag = Histogram(
            "holdfast_warehouse_fact_lag_seconds",
            "received_at - as_of of warehouse facts applied (those that carry as_of), by action.",
            ["action"],
            buckets=FACT_LAG_BUCKETS,
            registry=r,
        )
        self.commit_wait = Histogram(
            "holdfast_journal_commit_wait_seconds",
            "Time a call waited for its decisions to be durable (queue and transaction).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Saturation: refusals at the bounds, and the group commit.
        self.overload_refusals = Counter(
            "holdfast_overload_refusals",
            "Calls refused with OVERLOADED, by the bound reached (in_flight, commit_queue).",
            ["resource"],
            registry=r,
        )
        for resource in OVERLOAD_RESOURCES:
            self.overload_refusals.labels(resource)
        self.group_commit_calls = Histogram(
            "holdfast_journal_group_commit_calls",
            "Calls whose decisions one group-commit transaction made durable.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
            registry=r,
        )
        self.group_commit_duration = Histogram(
            "holdfast_journal_group_commit_duration_seconds",
            "Time to write and commit one group-commit transaction.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Breakers (their states are read at scrape time from the registry).
        self.breaker_transitions = Counter(
            "holdfast_circuit_breaker_transitions",
            "Circuit breaker transitions, by breaker, from and to state: every state "
            "change, and every operator reset (a reset of a CLOSED breaker empties its "
            "window and counts as CLOSED to CLOSED).",
            ["breaker", "from_state", "to_state"],
            registry=r,
        )
        # Operators and the audit.
        self.operator_actions = Counter(
            "holdfast_operator_actions",
            "Audited operator actions (breakers, overrides, faults), by action and outcome.",
            ["action", "outcome"],
            registry=r,
        )
        self.audit_runs = Counter(
            "holdfast_audit_runs", "Consistency audits run (periodic and on demand).", registry=r
        )
        self.audit_differences = Gauge(
            "holdfast_audit_differences",
            "Buckets that disagreed with their reservation lines at the last audit.",
            registry=r,
        )
        self.audit_last_run = Gauge(
            "holdfast_audit_last_run_timestamp_seconds",
            "Unix time of the last consistency audit (0: none yet).",
            registry=r,
        )
        # Dependencies: the feasibility check and the outbox.
        self.feasibility_checks = Counter(
            "holdfast_feasibility_checks",
            "Feasibility checks by answer (feasible, infeasible, unavailable).",
            ["answer"],
            registry=r,
        )
        for answer in FEASIBILITY_ANSWERS:
            self.feasibility_checks.labels(answer)
        self.unverified_decisions = Counter(
            "holdfast_unverified_decisions",
            "Decisions made without a check whose dependency was unavailable, by dependency.",
            ["dependency"],
            registry=r,
        )
        for dependency in UNVERIFIED_DEPENDENCIES:
            self.unverified_decisions.labels(dependency)
        self.outbox_delivered = Counter(
            "holdfast_outbox_delivered_events",
            "Committed events delivered to the events sink.",
            registry=r,
        )
        # Rule sets: which version decides, and how a shadowed candidate would differ.
        self.rule_set_active = Gauge(
            "holdfast_rule_set_active_info",
            "Always 1, for the rule-set version deciding now (one series; the label is "
            "bounded by the few versions an operator deploys).",
            ["version"],
            registry=r,
        )
        self.shadow_decisions = Counter(
            "holdfast_shadow_decisions",
            "New decisions also decided under a shadowed candidate rule set.",
            registry=r,
        )
        self.shadow_divergences = Counter(
            "holdfast_shadow_divergences",
            "Shadowed decisions the candidate decided otherwise, by kind "
            "(outcome, reason, placement, hold_time).",
            ["kind"],
            registry=r,
        )
        for kind in DIVERGENCE_KINDS:
            self.shadow_divergences.labels(kind)
        build = Gauge(
            "holdfast_build_info", "Always 1; the version in a label.", ["version"], registry=r
        )
        build.labels(version=version).set(1)
        # Label lookups cached: a batch of 10,000 operations counts each one.
        self._decided: dict[tuple[str, bool, str], Any] = {}

    # Hooks -----------------------------------------------------------------------

    def called(
        self, method: str, code: str, reason: str, seconds: float, *, streaming: bool
    ) -> None:
        """One RPC answered (a stream's length says nothing of latency: not timed)."""
        self.rpc_requests.labels(method, code).inc()
        if code != "OK":
            self.rpc_errors.labels(method, code, reason).inc()
        if not streaming:
            self.rpc_duration.labels(method).observe(seconds)

    def decided(self, item: BatchItem, outcome: Outcome, held_units: int | None) -> None:
        """One engine decision; ``held_units`` for an accepted partial reserve."""
        action = item[0]
        if outcome.replayed:
            self.replays.labels(action).inc()
            return
        reason = outcome.reason
        accepted = outcome.accepted
        key = (action, accepted, reason)
        child = self._decided.get(key)
        if child is None:
            child = self._decided[key] = self.decisions.labels(
                action, "accepted" if accepted else "rejected", reason
            )
        child.inc()
        if not accepted:
            if reason == KEY_REUSED:
                self.key_conflicts.labels(action).inc()
            elif reason == STALE_UPDATE:
                self.stale_updates.labels(action).inc()
        if item[0] == "reserve":
            requested = sum(line[2] for line in item[7])
            outcome_label = "accepted" if accepted else "rejected"
            self.reserve_requested_units.labels(outcome_label, reason).inc(requested)
            if accepted:
                self.reserved_units.inc(requested if held_units is None else held_units)
        elif accepted and action in _FACTS_WITH_AS_OF:
            as_of = item[-1]
            if isinstance(as_of, int) and not isinstance(as_of, bool):
                self.fact_lag.labels(action).observe(max(0, item[4] - as_of) / 1000)

    def expired(self, count: int) -> None:
        if count:
            self.expirations.inc(count)

    def hold_ended(self, view: ReservationView | None, action: str, at: int) -> None:
        """Observe the hold of ``view`` if the ``action`` decided at ``at`` (unix
        ms) ended it: the reservation's history has that transition out of
        RESERVED. A decision that leaves lines held (a partial allocate) or
        that follows the hold's end (releasing an allocation) ended none."""
        ended = HOLD_ENDINGS.get(action)
        if view is None or ended is None:
            return
        for entry in reversed(view["history"]):
            if entry["at"] < at:
                return
            if (
                entry["action"] == action
                and entry["at"] == at
                and entry["from_state"] == HELD
                and entry["to_state"] != HELD
            ):
                seconds = max(0, at - view["created_at"]) / 1000
                self.hold_duration.labels(ended).observe(seconds)
                return

    def waited_for_commit(self, seconds: float) -> None:
        self.commit_wait.observe(seconds)

    def refused_overload(self, resource: str) -> None:
        self.overload_refusals.labels(resource).inc()

    def group_committed(self, calls: int, seconds: float) -> None:
        self.group_commit_calls.observe(calls)
        self.group_commit_duration.observe(seconds)

    def breaker_changed(self, breaker: str, from_state: str, to_state: str) -> None:
        self.breaker_transitions.labels(breaker, from_state, to_state).inc()

    def operator_acted(self, action: str, outcome: str) -> None:
        """``action`` from the fixed list in operations.proto; ``outcome`` a reason code."""
        self.operator_actions.labels(action, outcome).inc()

    def audited(self, differences: int, at_ms: int) -> None:
        self.audit_runs.inc()
        self.audit_differences.set(differences)
        self.audit_last_run.set(at_ms / 1000)

    def feasibility_checked(self, answer: str) -> None:
        self.feasibility_checks.labels(answer).inc()

    def decided_unverified(self, dependency: str) -> None:
        self.unverified_decisions.labels(dependency).inc()

    def rule_set_activated(self, version: str) -> None:
        """``version`` decides from now on (the previous version's series goes)."""
        self.rule_set_active.clear()
        self.rule_set_active.labels(version).set(1)

    def shadow_compared(self, decisions: int) -> None:
        if decisions:
            self.shadow_decisions.inc(decisions)

    def shadow_diverged(self, kind: str) -> None:
        self.shadow_divergences.labels(kind).inc()

    def delivered(self, events: int) -> None:
        self.outbox_delivered.inc(events)

    def watch_breakers(self, breakers: Breakers) -> None:
        """Export every breaker's state (one series per state, 1 for the current one)."""
        self.registry.register(BreakerCollector(breakers))

    def watch_outbox(self, backlog: Callable[[], int | None]) -> None:
        """Export the events committed but not yet delivered (None: no sink)."""
        self.registry.register(OutboxCollector(backlog))

    def watch(
        self,
        census: Callable[[], Census | None],
        journal: Callable[[], JournalState | None],
        in_flight: Callable[[], int],
    ) -> None:
        """Read these at every scrape."""
        self.registry.register(StateCollector(census, journal, in_flight))

    def render(self) -> bytes:
        """The exposition text (on the event loop: it reads the engine)."""
        return generate_latest(self.registry)


class StateCollector(Collector):
    """Gauges and counters read from the engine and the journal at scrape time."""

    def __init__(
        self,
        census: Callable[[], Census | None],
        journal: Callable[[], JournalState | None],
        in_flight: Callable[[], int],
    ) -> None:
        self._census = census
        self._journal = journal
        self._in_flight = in_flight

    def describe(self) -> Iterable[Metric]:
        # Nothing to describe up front: collect() must not run at registration.
        return []

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "holdfast_rpc_in_flight", "Unary RPCs being served now.", value=self._in_flight()
        )
        census = self._census()
        if census is not None:  # None while the engine is rebuilt after a failed commit
            yield from _census_metrics(census)
        journal = self._journal()
        if journal is not None:  # None in memory mode: there is no journal
            yield from _journal_metrics(journal)


class BreakerCollector(Collector):
    """``holdfast_circuit_breaker_state{breaker, state}``: 1 for the current state."""

    def __init__(self, breakers: Breakers) -> None:
        self._breakers = breakers

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "holdfast_circuit_breaker_state",
            "1 for each breaker's current state, 0 for the others.",
            labels=["breaker", "state"],
        )
        refused = CounterMetricFamily(
            "holdfast_circuit_breaker_not_permitted_calls",
            "Calls a breaker refused since it entered its current state.",
            labels=["breaker"],
        )
        for name in self._breakers.names:
            current = self._breakers.state(name)
            for state in BREAKER_STATES:
                family.add_metric([name, state], 1 if state == current else 0)
            refused.add_metric([name], self._breakers.view(name)["not_permitted_calls"])
        yield family
        yield refused


class OutboxCollector(Collector):
    def __init__(self, backlog: Callable[[], int | None]) -> None:
        self._backlog = backlog

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        backlog = self._backlog()
        if backlog is not None:
            yield GaugeMetricFamily(
                "holdfast_outbox_backlog_events",
                "Committed events not yet delivered to the events sink.",
                value=backlog,
            )


def _census_metrics(census: Census) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "holdfast_holds_open", "Reservations holding stock now.", value=census.open_holds
    )
    yield GaugeMetricFamily(
        "holdfast_reservations", "Reservations the engine keeps.", value=census.reservations
    )
    yield GaugeMetricFamily(
        "holdfast_idempotency_keys",
        "Idempotency keys remembered (until their retention ends).",
        value=census.idempotency_keys,
    )
    yield GaugeMetricFamily(
        "holdfast_overcommitted_positions",
        "Positions whose commitments exceed on hand (open OVERCOMMITTED exceptions).",
        value=census.overcommitted_positions,
    )
    now = clock.now_ms()
    since = census.oldest_overcommitted_since
    age = 0.0 if since is None else max(0, now - since) / 1000
    yield GaugeMetricFamily(
        "holdfast_overcommitted_oldest_age_seconds",
        "Age of the oldest open OVERCOMMITTED exception (0 when none is open).",
        value=age,
    )
    placed = census.oldest_hold_placed_at
    hold_age = 0.0 if placed is None else max(0, now - placed) / 1000
    yield GaugeMetricFamily(
        "holdfast_holds_oldest_age_seconds",
        "Age of the oldest open hold (0 when none is open).",
        value=hold_age,
    )
    yield GaugeMetricFamily(
        "holdfast_holds_expiry_backlog",
        "Holds past their expiry not yet expired (0 while expiry sweeps keep up).",
        value=census.overdue_holds,
    )
    due = census.oldest_overdue_due
    yield GaugeMetricFamily(
        "holdfast_holds_expiry_lag_seconds",
        "How long the longest-overdue hold has waited past its expiry (0 when none).",
        value=0.0 if due is None else max(0, now - due) / 1000,
    )


def _journal_metrics(journal: JournalState) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "holdfast_journal_healthy",
        "1 while the journal commits; 0 while commitments are refused.",
        value=1 if journal.healthy else 0,
    )
    yield CounterMetricFamily(
        "holdfast_journal_commit_transactions",
        "Group-commit transactions committed.",
        value=journal.transactions,
    )
    yield CounterMetricFamily(
        "holdfast_journal_events_committed",
        "Journal events committed (events / transactions = mean group size).",
        value=journal.events,
    )
    yield GaugeMetricFamily(
        "holdfast_journal_commit_queue_depth",
        "Calls whose events wait for a commit.",
        value=journal.queue_depth,
    )
    yield GaugeMetricFamily(
        "holdfast_journal_commit_queue_limit",
        "commit_queue_limit: at this queue depth commitments are refused OVERLOADED.",
        value=journal.queue_limit,
    )


# The /metrics endpoint ---------------------------------------------------------------


class Endpoint:
    """``GET /metrics``, ``/healthz`` (alive) and ``/readyz`` (200 when ready, else 503
    and why) over HTTP/1.1, one request per connection, on the event loop."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._server: asyncio.Server | None = None
        # For /readyz: None when ready, else why not (set by the server).
        self.ready: Callable[[], str | None] = lambda: None

    async def start(self, host: str, port: int) -> int:
        """Listen; the port bound (``port`` 0: any free one). Raises OSError."""
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_REQUEST_BYTES)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), READ_TIMEOUT_S)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            status, content_type, body = self._answer(head)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            )
            if not head.startswith(b"HEAD "):
                writer.write(body)
            await asyncio.wait_for(writer.drain(), READ_TIMEOUT_S)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the scraper went away or sent no request: nothing to answer
        finally:
            writer.close()

    def _answer(self, head: bytes) -> tuple[str, str, bytes]:
        method, _, rest = head.partition(b" ")
        target = rest.partition(b" ")[0].partition(b"?")[0]
        paths = b"GET /metrics, /healthz or /readyz\n"
        if method not in (b"GET", b"HEAD"):
            return "405 Method Not Allowed", "text/plain", paths
        if target == b"/healthz":
            # Alive: this answer comes from the event loop that serves the calls.
            return "200 OK", "text/plain", b"ok\n"
        if target == b"/readyz":
            not_ready = self.ready()
            if not_ready is None:
                return "200 OK", "text/plain", b"ready\n"
            return "503 Service Unavailable", "text/plain", f"{not_ready}\n".encode()
        if target != b"/metrics":
            return "404 Not Found", "text/plain", paths
        try:
            return "200 OK", CONTENT_TYPE_PLAIN_0_0_4, self._metrics.render()
        except Exception:
            log.exception("metrics collection failed")
            return "500 Internal Server Error", "text/plain", b"collection failed\n"
