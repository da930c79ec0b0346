"""The gRPC server: InventoryService, health, reflection, the expiry sweeper.

Lifecycle: bind, start, report SERVING; on SIGTERM or SIGINT report
NOT_SERVING (so balancers stop sending), keep answering until the calls
already sent have been taken (see :func:`quiesce`), stop accepting, let
in-flight calls finish within the grace period, stop the sweeper, exit 0.

Health follows the journal breaker (:class:`Readiness`): NOT_SERVING while
it is OPEN or FORCED_OPEN, since every commitment would be refused, and
SERVING again when it leaves them; a timer moves OPEN to HALF_OPEN after its
wait, so the probes that close it can arrive.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import signal
import sqlite3
import urllib.parse

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from redis.exceptions import RedisError

from holdfast import FEASIBILITY, InvariantViolation, audit, clock
from holdfast.auth import Authority
from holdfast.breakers import EVENTS, JOURNAL, REDIS, Breakers, Change, parse_overrides
from holdfast.config import Settings, split_listen, tls_enabled
from holdfast.errors import Refusal
from holdfast.feasibility import FeasibilityCheck
from holdfast.interceptors import Activity, CallInterceptor
from holdfast.ledger import Ledger
from holdfast.logs import fields
from holdfast.metrics import Endpoint, Metrics
from holdfast.operations import OperationsServicer
from holdfast.outbox import configured as configured_outbox
from holdfast.outbox import deliver
from holdfast.quota import rate_limits
from holdfast.redis_ledger import RedisLedger
from holdfast.rule_control import RuleControl
from holdfast.rule_service import RuleService, open_rules
from holdfast.servicer import InventoryServicer
from holdfast.store.housekeeping import housekeep
from holdfast.store.rule_store import RuleStore
from holdfast.store.schema import SchemaError
from holdfast.v1 import inventory_pb2, inventory_pb2_grpc, operations_pb2, operations_pb2_grpc

log = logging.getLogger("holdfast.server")

SERVICE_NAME: str = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name
OPERATIONS_SERVICE_NAME: str = operations_pb2.DESCRIPTOR.services_by_name[
    "OperationsService"
].full_name
HEALTH_SERVICE_NAME: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
# The services whose gRPC health follows readiness ("" is the whole server).
HEALTH_SERVICES = ("", SERVICE_NAME)
# How often OPEN breakers are asked whether their wait has passed.
BREAKER_POLL_S = 0.1
# How long a stop waits for each background task to end once cancelled.
TASKS_STOP_S = 2.0
# Journal breaker states in which every commitment is refused.
JOURNAL_DOWN = ("OPEN", "FORCED_OPEN")


def build(
    settings: Settings,
    ledger: Ledger,
    health: HealthServicer,
    interceptor: CallInterceptor,
    breakers: Breakers,
    metrics: Metrics | None = None,
    rule_store: RuleStore | None = None,
) -> tuple[grpc.aio.Server, InventoryServicer]:
    limit = settings.max_message_bytes
    server = grpc.aio.server(
        # The rate limit runs inside the call the first one sets up (its tenant).
        interceptors=[interceptor, *rate_limits(settings)],
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            # A second server on a taken port must fail, not share the port.
            ("grpc.so_reuseport", 0),
        ],
    )
    feasibility = FeasibilityCheck.configured(
        settings, breakers, metrics, ledger.active_rules_summary
    )
    servicer = InventoryServicer(ledger, feasibility)
    inventory_pb2_grpc.add_InventoryServiceServicer_to_server(servicer, server)
    # ExecuteBatch answers encoded bytes (holdfast.batch_answer): registered
    # again with no response serializer, in place of the generated handler.
    batch = grpc.unary_unary_rpc_method_handler(
        servicer.ExecuteBatch, request_deserializer=inventory_pb2.BatchRequest.FromString
    )
    server.add_registered_method_handlers(SERVICE_NAME, {"ExecuteBatch": batch})
    rules = RuleService(ledger, RuleControl(ledger, metrics), rule_store or RuleStore.in_memory())
    operations = OperationsServicer(ledger, breakers, settings, metrics, servicer, rules)
    operations_pb2_grpc.add_OperationsServiceServicer_to_server(operations, server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, OPERATIONS_SERVICE_NAME, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME),
        server,
    )
    return server, servicer


async def sweep_expired(ledger: Ledger, interval_s: float) -> None:
    """Expire due holds every ``interval_s``, so stock comes back without a request."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            # Each expired hold gets its log line from the ledger (which also
            # sees the holds a decision expires before deciding).
            await ledger.sweep_due(clock.now_ms())
            if _cancelled():
                raise asyncio.CancelledError  # a cancel swallowed on the way (see stop_tasks)
        except Refusal:
            if _cancelled():
                raise asyncio.CancelledError from None
            continue  # the store is unavailable: the next sweep tries again
        except Exception:
            # A sweep that fails leaves the holds for the next one (and for the
            # next request, which expires what is due first): keep serving.
            log.exception("expiry sweep failed")


class Readiness:
    """Whether this process should be sent calls, and if not why: for /readyz
    and gRPC health. Not while starting or draining, nor while the breaker
    of the store (``journal``, or ``redis`` on the Redis backend) refuses
    every commitment (a durable server only)."""

    def __init__(self, breakers: Breakers, durable: bool, store: str = JOURNAL) -> None:
        self._breakers = breakers
        self._durable = durable
        self._store = store
        self.started = False
        self.draining = False
        # Set when the answer may have changed; :func:`follow_readiness` acts on it.
        self.changed = asyncio.Event()

    def reason(self) -> str | None:
        """None when ready, else why not ("journal breaker OPEN", "draining")."""
        if self.draining:
            return "draining"
        if not self.started:
            return "starting"
        if self._durable:
            state = self._breakers.state(self._store)
            if state in JOURNAL_DOWN:
                return f"{self._store} breaker {state}"
        return None

    def on_breaker(self, change: Change) -> None:
        if change.breaker == self._store:
            self.changed.set()


async def follow_readiness(readiness: Readiness, health: HealthServicer) -> None:
    """Keep gRPC health as readiness says (ignored by the health servicer
    once draining: it stays NOT_SERVING)."""
    while True:
        await readiness.changed.wait()
        readiness.changed.clear()
        ready = readiness.reason() is None
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in HEALTH_SERVICES:
            await health.set(service, status)


def _cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def stop_tasks(*tasks: asyncio.Task[None]) -> None:
    """Cancel the background tasks and wait (bounded) until they ended.

    Bounded because a cancellation can be lost: in Python 3.11 a timeout
    expiring as the cancel arrives swallows it (redis-py reads under one),
    and the task's loop would then go on; the stop must not wait on it.
    """
    for task in tasks:
        task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=TASKS_STOP_S)
    for task in pending:
        name = getattr(task.get_coro(), "__qualname__", task.get_name())
        log.warning("a background task did not stop", extra=fields(task=name))


async def poll_breakers(breakers: Breakers, interval_s: float = BREAKER_POLL_S) -> None:
    """Move OPEN breakers to HALF_OPEN once their wait has passed, with no
    traffic needed: a server reporting NOT_SERVING is sent no calls to ask with."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            breakers.poll()
        except Exception:
            log.exception("breaker poll failed")  # the next tick tries again


async def quiesce(activity: Activity, limit_s: float, tick_s: float = 0.05) -> None:
    """Wait until the server has been idle for two whole ticks.

    gRPC cancels, at shutdown, the calls that reached the process but were not
    yet taken by the event loop (CANCELLED, not even UNAVAILABLE): a client
    could not tell whether they ran. While the loop is busy they queue up, so
    the server keeps taking them until it is idle, for at most ``limit_s``.
    A tick counts as idle only if the loop was free to take calls during it:
    no call taken or running, and the tick did not overrun (a busy loop
    wakes late).
    """
    deadline = clock.monotonic_s() + limit_s
    idle_ticks = 0
    while idle_ticks < 2 and clock.monotonic_s() < deadline:
        taken = activity.taken
        started = clock.monotonic_s()
        await asyncio.sleep(tick_s)
        on_time = clock.monotonic_s() - started < 2 * tick_s
        idle = on_time and activity.taken == taken and activity.running == 0
        idle_ticks = idle_ticks + 1 if idle else 0


def redacted(url: str) -> str:
    """``url`` without its password, for logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{user}:***@{host}{port}").geturl()


async def open_ledger(settings: Settings) -> Ledger | int:
    """The ledger the settings ask for, or the exit code when it cannot be had."""
    try:
        if settings.in_memory:
            return Ledger.in_memory(settings)
        if settings.redis_url:
            return await RedisLedger.open_redis(settings)
        return await Ledger.open(settings)
    except (sqlite3.Error, SchemaError, InvariantViolation, OSError) as e:
        log.error(
            f"cannot open the database {settings.database}: {e}",
            extra=fields(database=settings.database),
        )
        return 1
    except (RedisError, ConnectionError) as e:
        log.error(f"cannot reach Redis at {redacted(settings.redis_url)}: {e}")
        return 1
    except ValueError as e:  # settings the engine refuses (a node id past its bits)
        log.error(f"holdfast serve: {e}")
        return 2


def describe_state(settings: Settings, ledger: Ledger) -> tuple[str, dict[str, object]]:
    if not ledger.durable:
        return "state is in memory (lost on exit)", {"state": "memory"}
    if settings.redis_url:
        return (
            f"state is on Redis (prefix {settings.redis_prefix}); "
            f"replayed {ledger.loaded['replayed_events']} events "
            f"in {ledger.loaded['startup_s']} s",
            {"state": "redis", **ledger.loaded},
        )
    return (
        f"state is in {settings.database} (synchronous={settings.synchronous}); "
        f"replayed {ledger.loaded['replayed_events']} events "
        f"in {ledger.loaded['startup_s']} s",
        {"state": "sqlite", **ledger.loaded},
    )


def version() -> str:
    try:
        return importlib.metadata.version("holdfast")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "unknown"


async def start_metrics(
    settings: Settings, metrics: Metrics, readiness: Readiness
) -> tuple[Endpoint | None, str, OSError | None]:
    """Serve /metrics if asked: the endpoint, its URL ("" when none), and
    why it could not be served.

    A port that cannot be bound is not fatal (the caller logs it as an
    error): commitments matter more than their graphs, and Prometheus sees
    the target down.
    """
    if not settings.metrics_listen:
        return None, "", None
    host, port = split_listen(settings.metrics_listen)
    endpoint = Endpoint(metrics)
    endpoint.ready = readiness.reason
    try:
        bound = await endpoint.start(host, port)
    except OSError as e:
        return None, "", e
    shown = f"[{host}]" if ":" in host else host
    return endpoint, f"http://{shown}:{bound}/metrics", None


def bind(server: grpc.aio.Server, settings: Settings) -> int:
    """Add the listening port, in TLS when the settings give a certificate
    (and mutual TLS, client certificates required, with a client CA); the
    port bound. Raises OSError when a TLS file cannot be read."""
    if not tls_enabled(settings):
        return int(server.add_insecure_port(settings.listen))
    with open(settings.tls_key_file, "rb") as key, open(settings.tls_cert_file, "rb") as cert:
        pair = (key.read(), cert.read())
    client_ca = None
    if settings.tls_client_ca_file:
        with open(settings.tls_client_ca_file, "rb") as ca:
            client_ca = ca.read()
    credentials = grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
    return int(server.add_secure_port(settings.listen, credentials))


def describe_tls(settings: Settings) -> str:
    """How the gRPC port is served: "plaintext", "tls" or "mtls"."""
    if not tls_enabled(settings):
        return "plaintext"
    return "mtls" if settings.tls_client_ca_file else "tls"


async def serve(settings: Settings) -> int:
    try:
        # The settings' syntax was checked when loaded; the values, by the core here.
        names = (JOURNAL, EVENTS, FEASIBILITY, *([REDIS] if settings.redis_url else []))
        breakers = Breakers(names, overrides=parse_overrides(settings.breakers))
        # Who may call what (holdfast.auth); None: every caller anonymous.
        authority = Authority.load(settings.auth_file) if settings.auth_file else None
    except ValueError as e:  # CredentialsError too: the message names the file and entry
        log.error(f"holdfast serve: {e}")
        return 2
    opened = await open_ledger(settings)
    if isinstance(opened, int):
        return opened
    ledger = opened
    # The active rule set's body, from the store beside the journal naming it.
    rule_store = await open_rules(settings, ledger)
    if isinstance(rule_store, int):
        await ledger.close()
        return rule_store
    metrics = Metrics(version())
    ledger.metrics = metrics
    breakers.listen(lambda c: metrics.breaker_changed(c.breaker, c.from_state, c.to_state))
    metrics.watch_breakers(breakers)
    ledger.breakers = breakers
    # Before any decision, so compaction never passes the undelivered events.
    outbox = configured_outbox(settings, ledger, breakers, metrics)
    readiness = Readiness(breakers, ledger.durable, REDIS if settings.redis_url else JOURNAL)
    breakers.listen(readiness.on_breaker)
    health = HealthServicer()
    interceptor = CallInterceptor(
        metrics, max_in_flight=settings.max_in_flight, breakers=breakers, authority=authority
    )
    metrics.watch(ledger.census, ledger.journal_state, lambda: interceptor.activity.running)
    server, servicer = build(settings, ledger, health, interceptor, breakers, metrics, rule_store)
    try:
        port = bind(server, settings)
    except OSError as e:  # a TLS file gone or unreadable since the settings were checked
        log.error(f"holdfast serve: cannot read the TLS files: {e}")
        await ledger.close()
        return 2
    except RuntimeError as e:
        log.error(f"cannot listen on {settings.listen}: {e}", extra=fields(listen=settings.listen))
        await ledger.close()
        return 1
    await server.start()
    # Scrapable before SERVING, so a healthy server is never an unwatched one.
    endpoint, metrics_url, unserved = await start_metrics(settings, metrics, readiness)
    readiness.started = True
    for service in HEALTH_SERVICES:
        await health.set(service, health_pb2.HealthCheckResponse.SERVING)
    # From now on health follows the journal breaker.
    follower = asyncio.create_task(follow_readiness(readiness, health))
    poller = asyncio.create_task(poll_breakers(breakers))
    listen = f"{settings.listen.rpartition(':')[0]}:{port}"
    tls = describe_tls(settings)
    state, facts = describe_state(settings, ledger)
    scraped = f"; metrics on {metrics_url}" if metrics_url else "; no metrics endpoint"
    log.info(
        f"holdfast listening on {listen} ({tls}); {state}{scraped}",
        extra=fields(
            listen=listen,
            port=port,
            tls=tls,
            metrics_url=metrics_url,
            **facts,
            durable=ledger.durable,
            rule_version=ledger.rule_version,
            sweep_interval_s=settings.sweep_interval,
        ),
    )
    if unserved is not None:
        log.error(
            f"cannot serve metrics on {settings.metrics_listen}: {unserved}; "
            "serving without /metrics",
            extra=fields(metrics_listen=settings.metrics_listen),
        )
    sweeper = asyncio.create_task(sweep_expired(ledger, settings.sweep_interval))
    keeper = asyncio.create_task(housekeep(ledger, settings))
    auditor = asyncio.create_task(
        audit.periodically(ledger, metrics, settings.audit_interval_seconds)
    )
    deliverer = asyncio.create_task(deliver(outbox))

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    stops: set[asyncio.Task[None]] = set()

    def on_signal(signum: signal.Signals) -> None:
        if stopping.is_set():
            # A second signal: stop waiting for in-flight calls.
            log.info("second signal, stopping now", extra=fields(signal=signum.name))
            stops.add(loop.create_task(server.stop(0)))
            return
        log.info("draining", extra=fields(signal=signum.name, grace_s=settings.grace_seconds))
        readiness.draining = True
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    await stopping.wait()
    await health.enter_graceful_shutdown()
    await quiesce(interceptor.activity, settings.drain_seconds)
    # Feed consumers would otherwise hold the stop for its whole grace: end
    # their streams cleanly; they resume from their last sequence elsewhere.
    servicer.end_watches()
    await server.stop(settings.grace_seconds)
    await stop_tasks(sweeper, keeper, follower, poller, auditor, deliverer)
    if endpoint is not None:
        await endpoint.stop()
    if outbox is not None:
        # Every call is answered: hand the sink what they committed.
        await outbox.drain(settings.drain_seconds)
    # In-flight calls are done: the last snapshot covers every decision.
    await ledger.close()
    log.info("stopped", extra=fields(open_holds=ledger.open_holds()))
    return 0
