"""The server's settings: defaults < TOML file < HOLDFAST_* environment < flags.

The defaults run out of the box: plaintext on loopback, state in an SQLite
file (``holdfast.db`` in the working directory; ``--in-memory`` for none). A
listen address off this machine is refused in plaintext unless ``--insecure``
says so explicitly: off loopback the gRPC port serves TLS (``tls_cert_file``,
``tls_key_file``; with ``tls_client_ca_file``, mutual TLS; docs/tls.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import ssl
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from holdfast.breakers import parse_overrides

ENV_PREFIX = "HOLDFAST_"
CONFIG_ENV = "HOLDFAST_CONFIG"


class ConfigError(ValueError):
    """Settings the server cannot start with; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    listen: str = "127.0.0.1:50051"
    # Plaintext off loopback: only when asked for by name (else TLS, below).
    insecure: bool = False
    # Seconds between expiry sweeps; requests also expire what is due first.
    sweep_interval: float = 1.0
    default_hold_seconds: int = 900
    max_hold_seconds: int = 86_400
    idempotency_retention_seconds: int = 86_400
    # Large enough for a full batch (10,000 operations) of small requests.
    max_message_bytes: int = 16 * 1024 * 1024
    # After SIGTERM, the longest the server goes on taking calls already sent
    # (it stops as soon as it is idle), then how long it waits for in-flight
    # calls before cancelling them.
    drain_seconds: float = 5.0
    grace_seconds: float = 10.0
    log_level: str = "INFO"
    # Part of every minted reservation id; distinct per replica.
    node_id: int = 0
    # The durable store. in_memory keeps nothing across restarts (tests,
    # benchmarks). NORMAL trades the last acknowledged transactions before an
    # OS crash or power cut for speed; FULL (the default) loses none.
    database: str = "holdfast.db"
    in_memory: bool = False
    synchronous: str = "FULL"
    # The shared state on Redis instead of the file: replicas with the same
    # URL and prefix serve one state (see docs/redis.md). The prefix is a
    # Redis Cluster hash tag: every key of a deployment lives in one slot.
    redis_url: str = ""
    redis_prefix: str = "holdfast"
    # Calls whose events await commit; past it new commitments are refused
    # (OVERLOADED) before the engine decides them.
    commit_queue_limit: int = 10_000
    # A snapshot after this many seconds and/or events (0 turns either off),
    # and one at graceful shutdown.
    snapshot_interval_seconds: float = 300.0
    snapshot_every_events: int = 100_000
    # Events stay (audit trail, feed) at least this long, snapshot or not.
    audit_retention_days: float = 30.0
    # While the journal cannot be written: how often a tiny write probes it.
    journal_probe_seconds: float = 1.0
    # How long a write waits for a lock held elsewhere before it counts as failed.
    journal_timeout_seconds: float = 5.0
    # How often expired idempotency keys are purged (journaled).
    idempotency_purge_seconds: float = 3600.0
    # Where Prometheus scrapes GET /metrics over HTTP; "" serves no endpoint.
    metrics_listen: str = "127.0.0.1:9464"
    # Unary RPCs served at once; past it, RESOURCE_EXHAUSTED (OVERLOADED) with
    # a retry delay instead of a queue that grows until deadlines pass.
    max_in_flight: int = 1_000
    # Abuse limits per tenant (0: none). Holds open at once and units held at
    # once are decided by the core (QUOTA_EXCEEDED, journaled); requests per
    # second by a token bucket in front of every call (holdfast.quota). All
    # refusals are RESOURCE_EXHAUSTED with a QuotaFailure.
    tenant_max_open_holds: int = 0
    tenant_max_held_units: int = 0
    tenant_max_requests_per_second: float = 0.0
    # Circuit breaker settings over holdfast's defaults (holdfast.breakers),
    # "NAME.SETTING=N,..." (in TOML: [breakers.NAME] tables).
    breakers: str = ""
    # The optional external feasibility check asked before stock is held
    # ("" for none): POST JSON to this http:// URL, within the timeout, behind
    # the "feasibility" breaker; while it is unavailable, "refuse" or
    # "accept_unverified" (the decision says it was not verified).
    feasibility_url: str = ""
    feasibility_timeout_ms: int = 200
    feasibility_when_unavailable: str = "refuse"
    # Where the outbox delivers committed events (JSON lines appended to this
    # file, behind the "events" breaker); "" delivers nowhere.
    events_sink: str = ""
    # Seconds between consistency audits (0: only on demand).
    audit_interval_seconds: float = 300.0
    # Accept OperationsService.InjectFault (drills, tests); never in production.
    fault_injection: bool = False
    # The credentials file (TOML, see docs/auth.md): bearer tokens and client
    # certificates mapped to principals (name, tenant, roles). "" serves every
    # caller anonymously, with the tenant it names: only on loopback or with
    # --insecure.
    auth_file: str = ""
    # TLS for the gRPC port (see docs/tls.md): the server's certificate chain
    # and key (PEM), both or neither. With a client CA, every caller must
    # present a certificate it signed (mutual TLS).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _breakers_text(value: Any) -> str:
    """The TOML tables ``{name: {setting: n}}`` or the text form, checked,
    as the text form."""
    if isinstance(value, dict):
        value = ",".join(
            f"{name}.{setting}={number}"
            for name, table in value.items()
            for setting, number in (table.items() if isinstance(table, dict) else [("", table)])
        )
    text = str(value)
    parse_overrides(text)
    return text


# How a setting's text (environment) or TOML value becomes its Python value.
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "listen": str,
    "insecure": lambda v: v if isinstance(v, bool) else _boolean(str(v)),
    "sweep_interval": float,
    "default_hold_seconds": int,
    "max_hold_seconds": int,
    "idempotency_retention_seconds": int,
    "max_message_bytes": int,
    "drain_seconds": float,
    "grace_seconds": float,
    "log_level": str,
    "node_id": int,
    "database": str,
    "in_memory": lambda v: v if isinstance(v, bool) else _boolean(str(v)),
    "synchronous": lambda v: str(v).upper(),
    "redis_url": str,
    "redis_prefix": str,
    "commit_queue_limit": int,
    "snapshot_interval_seconds": float,
    "snapshot_every_events": int,
    "audit_retention_days": float,
    "journal_probe_seconds": float,
    "journal_timeout_seconds": float,
    "idempotency_purge_seconds": float,
    "metrics_listen": str,
    "max_in_flight": int,
    "tenant_max_open_holds": int,
    "tenant_max_held_units": int,
    "tenant_max_requests_per_second": float,
    "breakers": lambda v: _breakers_text(v),
    "feasibility_url": str,
    "feasibility_timeout_ms": int,
    "feasibility_when_unavailable": str,
    "events_sink": str,
    "audit_interval_seconds": float,
    "fault_injection": lambda v: v if isinstance(v, bool) else _boolean(str(v)),
    "auth_file": str,
    "tls_cert_file": str,
    "tls_key_file": str,
    "tls_client_ca_file": str,
}
_NAMES = tuple(f.name for f in dataclasses.fields(Settings))
assert set(_PARSERS) == set(_NAMES), "every setting needs a parser"

_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` flags. Unset flags stay absent so lower layers show through."""
    s = argparse.SUPPRESS
    parser.add_argument("--config", metavar="FILE", default=s, help="TOML settings file")
    parser.add_argument("--listen", metavar="HOST:PORT", default=s, help="default 127.0.0.1:50051")
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=s,
        help="allow plaintext on a non-loopback address",
    )
    parser.add_argument("--sweep-interval", metavar="SECONDS", type=float, default=s)
    parser.add_argument("--default-hold-seconds", metavar="N", type=int, default=s)
    parser.add_argument("--max-hold-seconds", metavar="N", type=int, default=s)
    parser.add_argument("--idempotency-retention-seconds", metavar="N", type=int, default=s)
    parser.add_argument("--max-message-bytes", metavar="N", type=int, default=s)
    parser.add_argument("--drain-seconds", metavar="SECONDS", type=float, default=s)
    parser.add_argument("--grace-seconds", metavar="SECONDS", type=float, default=s)
    parser.add_argument("--log-level", metavar="LEVEL", default=s)
    parser.add_argument("--node-id", metavar="N", type=int, default=s)
    parser.add_argument("--database", metavar="PATH", default=s, help="default holdfast.db")
    parser.add_argument(
        "--in-memory", action="store_true", default=s, help="keep no state across restarts"
    )
    parser.add_argument("--synchronous", metavar="FULL|NORMAL", default=s)
    parser.add_argument(
        "--redis-url", metavar="URL", default=s, help="share state on Redis (redis://HOST:PORT/DB)"
    )
    parser.add_argument("--redis-prefix", metavar="NAME", default=s, help="default holdfast")
    parser.add_argument("--commit-queue-limit", metavar="N", type=int, default=s)
    parser.add_argument("--snapshot-interval-seconds", metavar="SECONDS", type=float, default=s)
    parser.add_argument("--snapshot-every-events", metavar="N", type=int, default=s)
    parser.add_argument("--audit-retention-days", metavar="DAYS", type=float, default=s)
    parser.add_argument("--journal-probe-seconds", metavar="SECONDS", type=float, default=s)
    parser.add_argument("--journal-timeout-seconds", metavar="SECONDS", type=float, default=s)
    parser.add_argument("--idempotency-purge-seconds", metavar="SECONDS", type=float, default=s)
    parser.add_argument("--max-in-flight", metavar="N", type=int, default=s)
    parser.add_argument("--tenant-max-open-holds", metavar="N", type=int, default=s)
    parser.add_argument("--tenant-max-held-units", metavar="N", type=int, default=s)
    parser.add_argument("--tenant-max-requests-per-second", metavar="N", type=float, default=s)
    parser.add_argument("--breakers", metavar="NAME.SETTING=N,...", default=s)
    parser.add_argument("--feasibility-url", metavar="URL", default=s)
    parser.add_argument("--feasibility-timeout-ms", metavar="MS", type=int, default=s)
    parser.add_argument(
        "--feasibility-when-unavailable", metavar="refuse|accept_unverified", default=s
    )
    parser.add_argument("--events-sink", metavar="PATH", default=s)
    parser.add_argument("--audit-interval-seconds", metavar="SECONDS", type=float, default=s)
    parser.add_argument("--fault-injection", action="store_true", default=s)
    parser.add_argument(
        "--auth-file",
        metavar="TOML",
        default=s,
        help="credentials: tokens and client certificates with their tenant and roles",
    )
    parser.add_argument(
        "--tls-cert-file", metavar="PEM", default=s, help="serve TLS: certificate chain"
    )
    parser.add_argument("--tls-key-file", metavar="PEM", default=s, help="serve TLS: private key")
    parser.add_argument(
        "--tls-client-ca-file",
        metavar="PEM",
        default=s,
        help="require client certificates signed by this CA (mutual TLS)",
    )
    parser.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        default=s,
        help='Prometheus /metrics over HTTP, default 127.0.0.1:9464; "" for none',
    )


def load(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the layers, lowest first: defaults, TOML, environment, flags.

    ``flags`` holds only the flags given (``vars(namespace)`` of a parser built
    with :func:`add_arguments`). Raises :class:`ConfigError`.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = flags.get("config") or environ.get(CONFIG_ENV)
    if config_file:
        values.update(_from_toml(Path(config_file)))
    values.update(_from_environment(environ))
    values.update({k: _parse(k, v, "flag") for k, v in flags.items() if k in _NAMES})
    settings = Settings(**values)
    validate(settings)
    return settings


def _parse(name: str, value: Any, source: str) -> Any:
    try:
        return _PARSERS[name](value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{source} {name}: {e}") from None


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            table = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    unknown = sorted(set(table) - set(_NAMES))
    if unknown:
        raise ConfigError(f"config file {path}: unknown settings {', '.join(unknown)}")
    return {k: _parse(k, v, f"config file {path}:") for k, v in table.items()}


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for name in _NAMES:
        text = environ.get(ENV_PREFIX + name.upper())
        if text is not None:
            values[name] = _parse(name, text, f"environment {ENV_PREFIX}{name.upper()}:")
    return values


def split_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6HOST]:PORT`` -> (host, port)."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(f"listen {listen!r}: expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if port > 65_535:
        raise ConfigError(f"listen {listen!r}: port must be 0-65535")
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate(settings: Settings) -> None:
    host, _ = split_listen(settings.listen)
    _validate_tls(settings)
    # Two rules off loopback, transport and identities, each with its own
    # message; when both are broken, both are said at once.
    refusals = []
    if not settings.insecure and not tls_enabled(settings) and not is_loopback(host):
        refusals.append(
            f"refusing to listen on {settings.listen} in plaintext: off loopback "
            "(127.0.0.1, ::1, localhost) the gRPC port needs TLS (tls_cert_file and "
            "tls_key_file, flags --tls-cert-file and --tls-key-file); "
            "pass --insecure (or HOLDFAST_INSECURE=1) to accept plaintext on this address"
        )
    if not settings.auth_file and not settings.insecure and not is_loopback(host):
        refusals.append(
            f"refusing to listen on {settings.listen} without credentials: auth_file is not set "
            "(flag --auth-file, env HOLDFAST_AUTH_FILE), so every caller would be anonymous "
            "with every role; set auth_file (docs/auth.md), listen on loopback, or pass "
            "--insecure (HOLDFAST_INSECURE=1) to accept anonymous callers on this address"
        )
    if refusals:
        raise ConfigError("; and ".join(refusals))
    if settings.metrics_listen:
        try:
            metrics_host, _ = split_listen(settings.metrics_listen)
        except ConfigError as e:
            raise ConfigError(f"metrics_{e}") from None
        if not settings.insecure and not is_loopback(metrics_host):
            raise ConfigError(
                f"refusing to serve metrics on {settings.metrics_listen} in plaintext: "
                "only loopback addresses are allowed without --insecure (HOLDFAST_INSECURE=1)"
            )
    if settings.sweep_interval <= 0:
        raise ConfigError("sweep_interval must be greater than 0 seconds")
    if settings.grace_seconds < 0 or settings.drain_seconds < 0:
        raise ConfigError("drain_seconds and grace_seconds must not be negative")
    if settings.max_hold_seconds < 1:
        raise ConfigError("max_hold_seconds must be at least 1")
    if not 1 <= settings.default_hold_seconds <= settings.max_hold_seconds:
        raise ConfigError("default_hold_seconds must be between 1 and max_hold_seconds")
    if settings.idempotency_retention_seconds < 1:
        raise ConfigError("idempotency_retention_seconds must be at least 1")
    if settings.max_message_bytes < 1024:
        raise ConfigError("max_message_bytes must be at least 1024")
    if settings.log_level.upper() not in _LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(sorted(_LOG_LEVELS))}")
    if settings.node_id < 0:
        # The upper bound is the core's (how many bits of an id it gives the node).
        raise ConfigError("node_id must not be negative")
    _validate_store(settings)
    _validate_operations(settings)


def _validate_store(settings: Settings) -> None:
    if not settings.in_memory and not settings.database:
        raise ConfigError("database must name a file (or pass --in-memory)")
    if settings.redis_url:
        if settings.in_memory:
            raise ConfigError("redis_url and in_memory exclude each other: choose one store")
        if not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("redis_url must be a redis://, rediss:// or unix:// URL")
        prefix = settings.redis_prefix
        if not prefix or len(prefix) > 64 or any(c in prefix for c in "{}: \t\n"):
            raise ConfigError(
                "redis_prefix must be 1 to 64 characters without braces, colons or spaces"
            )
    if settings.synchronous not in {"FULL", "NORMAL"}:
        raise ConfigError("synchronous must be FULL or NORMAL")
    if settings.commit_queue_limit < 1:
        raise ConfigError("commit_queue_limit must be at least 1")
    if settings.snapshot_interval_seconds < 0 or settings.snapshot_every_events < 0:
        raise ConfigError("snapshot_interval_seconds and snapshot_every_events must be >= 0")
    if settings.audit_retention_days < 0:
        raise ConfigError("audit_retention_days must not be negative")
    positive = ("journal_probe_seconds", "journal_timeout_seconds", "idempotency_purge_seconds")
    for name in positive:
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{name} must be greater than 0 seconds")


def _validate_operations(settings: Settings) -> None:
    if settings.max_in_flight < 1:
        raise ConfigError("max_in_flight must be at least 1")
    quotas = ("tenant_max_open_holds", "tenant_max_held_units", "tenant_max_requests_per_second")
    for name in quotas:
        if getattr(settings, name) < 0:
            raise ConfigError(f"{name} must not be negative (0: no limit)")
    if settings.feasibility_url and not settings.feasibility_url.startswith("http://"):
        raise ConfigError("feasibility_url must be an http:// URL (or empty for none)")
    if settings.feasibility_timeout_ms < 1:
        raise ConfigError("feasibility_timeout_ms must be at least 1")
    if settings.feasibility_when_unavailable not in {"refuse", "accept_unverified"}:
        raise ConfigError("feasibility_when_unavailable must be refuse or accept_unverified")
    if settings.audit_interval_seconds < 0:
        raise ConfigError("audit_interval_seconds must not be negative")


def tls_enabled(settings: Settings) -> bool:
    """Whether the gRPC port serves TLS (both files are then set: see validate)."""
    return bool(settings.tls_cert_file)


def _readable(name: str, path: str) -> None:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        raise ConfigError(f"{name} {path}: cannot read it: {e.strerror or e}") from None


def _validate_tls(settings: Settings) -> None:
    """Both or neither of the server's certificate and key; every file given
    readable PEM; the key the certificate's. Checked with the standard
    library's ssl module, which reads the same PEM as gRPC."""
    cert, key, client_ca = (
        settings.tls_cert_file,
        settings.tls_key_file,
        settings.tls_client_ca_file,
    )
    if bool(cert) != bool(key):
        raise ConfigError(
            "tls_cert_file and tls_key_file go together: set both to serve TLS, or neither"
        )
    if client_ca and not cert:
        raise ConfigError(
            "tls_client_ca_file needs tls_cert_file and tls_key_file: "
            "client certificates are asked for only over TLS"
        )
    if not cert:
        return
    _readable("tls_cert_file", cert)
    _readable("tls_key_file", key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as e:
        if "KEY_VALUES_MISMATCH" in str(e) or "key values mismatch" in str(e):
            raise ConfigError(
                f"tls_key_file {key} is not the key of the certificate in tls_cert_file {cert}"
            ) from None
        raise ConfigError(
            f"tls_cert_file {cert} / tls_key_file {key}: not a PEM certificate chain "
            f"and its private key ({e.reason or e})"
        ) from None
    if client_ca:
        _readable("tls_client_ca_file", client_ca)
        try:
            context.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as e:
            raise ConfigError(
                f"tls_client_ca_file {client_ca}: not PEM CA certificates ({e.reason or e})"
            ) from None
