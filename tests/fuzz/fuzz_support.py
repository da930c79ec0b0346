"""Hostile input for the fuzz tests: a real server, one channel, strategies that
build every InventoryService and OperationsService request with wild values,
byte mutations of serialized requests, and a tally of the status codes seen.

The fuzzer works in a tenant of its own. Stock positions are not owned by a
tenant (a SKU at a location is one position for everybody), so the SKUs the
fuzzer may name never start with ``VICTIM_PREFIX``: the victim tenant's
positions are out of the fuzzer's reach by name, its reservations by tenant.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import DecodeError, Message
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import operations_pb2 as ops
from hypothesis import strategies as st
from serverproc import SERVICE, ServerProcess, serve_command

INVENTORY = "holdfast.v1.InventoryService"
OPERATIONS = "holdfast.v1.OperationsService"
VICTIM_PREFIX = "victim-"
FUZZ_TENANT = f"fuzz-{uuid.uuid4().hex[:8]}"
FUZZ_METADATA = (("x-holdfast-tenant", FUZZ_TENANT), ("x-holdfast-actor", "fuzzer"))
CALL_TIMEOUT_S = 30.0
# Statuses a hostile request may end with. UNKNOWN and INTERNAL mean the
# server did not decide (an exception escaped, a bug): never acceptable.
UNCLEAN = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})


class FuzzServer(ServerProcess):
    """``holdfast serve`` on a SQLite database in ``directory``, /metrics off."""

    def __init__(self, directory: Path, *extra: str) -> None:
        super().__init__(directory / "server.log", health_service=SERVICE)
        self.database = directory / "holdfast.db"
        self.extra = extra

    def start(self) -> FuzzServer:
        self.launch(
            serve_command(
                "--listen", self.target, "--database", str(self.database),
                "--synchronous", "NORMAL", "--metrics-listen", "", *self.extra,
            )
        )  # fmt: skip
        self.wait_serving()
        return self


# --- the tally --------------------------------------------------------------


@dataclass
class Tally:
    """Every answer the fuzzer got: counts by (test kind, code), and the first
    request of each unclean (kind, method, code) kept to report it."""

    codes: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_method: Counter[tuple[str, str]] = field(default_factory=Counter)
    unclean: dict[tuple[str, str, str], tuple[bytes, str]] = field(default_factory=dict)
    # RESOURCE_EXHAUSTED with no limit configured: the smallest request per method.
    exhausted: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Calls made (a batch's operations inside its answer are not calls)."""
        return sum(n for (kind, _), n in self.codes.items() if kind != "batch-op")

    def record(
        self, kind: str, method: str, code: grpc.StatusCode, sent: bytes, detail: str
    ) -> None:
        self.codes[(kind, code.name)] += 1
        self.by_method[(method.rsplit("/", 1)[-1], code.name)] += 1
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            seen = self.exhausted.get(method)
            if seen is None or len(sent) < len(seen[0]):
                self.exhausted[method] = (sent, detail[:200])
        if code in UNCLEAN:
            key = (kind, method, code.name)
            previous = self.unclean.get(key)
            if previous is None or len(sent) < len(previous[0]):
                self.unclean[key] = (sent, detail[:300])

    def by_code(self) -> Counter[str]:
        merged: Counter[str] = Counter()
        for (_, code), count in self.codes.items():
            merged[code] += count
        return merged

    def report(self) -> str:
        lines = [f"calls: {self.total}"]
        for (kind, code), count in sorted(self.codes.items()):
            lines.append(f"  {kind:<12} {code:<22} {count}")
        methods = sorted({method for method, _ in self.by_method})
        for method in methods:
            codes = ", ".join(
                f"{code}={n}" for (m, code), n in sorted(self.by_method.items()) if m == method
            )
            lines.append(f"  {method}: {codes}")
        for method, (sent, detail) in sorted(self.exhausted.items()):
            shown = sent if len(sent) <= 80 else sent[:80] + b"..."
            lines.append(f"  EXHAUSTED {method} ({len(sent)} bytes) {shown!r}: {detail}")
        for (kind, method, code), (sent, detail) in sorted(self.unclean.items()):
            lines.append(f"  UNCLEAN {kind} {method} {code}: smallest sent {sent!r}: {detail}")
        return "\n".join(lines)


TALLY = Tally()


# --- calling ----------------------------------------------------------------


def full_name(service: str, method: str) -> str:
    return f"/{service}/{method}"


class Caller:
    """Unary calls on one channel, typed and raw, every answer tallied."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self._raw: dict[str, Any] = {}

    def raw(self, path: str) -> Any:
        if path not in self._raw:
            self._raw[path] = self.channel.unary_unary(
                path, request_serializer=None, response_deserializer=None
            )
        return self._raw[path]

    def send(self, kind: str, path: str, payload: bytes) -> tuple[grpc.StatusCode, str, bytes]:
        """Send ``payload`` as is; the status code, details and answer, tallied."""
        answer = b""
        try:
            answer = self.raw(path)(payload, timeout=CALL_TIMEOUT_S, metadata=FUZZ_METADATA)
        except grpc.RpcError as error:
            code, detail = error.code(), error.details() or ""
        else:
            code, detail = grpc.StatusCode.OK, ""
        TALLY.record(kind, path, code, payload, detail)
        return code, detail, answer


# --- wild values ------------------------------------------------------------

INT64 = (-(2**63), 2**63 - 1)
EDGE_INTS = [
    0, 1, -1, 2, 99, 100, 101, 128, 129, 1024, 1025, 86_400, 86_401,
    1_000_000_000, 1_000_000_001, 1_000_000_000_000, 1_000_000_000_001,
    2**31 - 1, 2**31, -(2**31), 2**53, 2**63 - 1, -(2**63),
]  # fmt: skip
LONG_STRINGS = [
    "x" * 128, "x" * 129, "x" * 1024, "x" * 1025, "é" * 128, "é" * 129, "🙂" * 129,
    "line\n" * 2_000, "\x00" * 64, "\r\n" * 300, "x" * 70_000,
]  # fmt: skip
ODD_STRINGS = [
    "", " ", "\t", "\x00", "\x7f", "\u202e", "\ufeff", "\u200b", "a\x00b", "../../etc/passwd",
    "'; DROP TABLE positions; --", "%s%n%x", "${jndi:ldap://x}", "{{7*7}}", "null", "NaN",
    "-1", "0", "9" * 40, "DC1 ", " DC1", "dc1", "\U0010ffff", "🙂", "ﬁ", "İ",
]  # fmt: skip


def wild_int64() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(EDGE_INTS), st.integers(*INT64), st.integers(-5, 20))


def wild_uint64() -> st.SearchStrategy[int]:
    return st.one_of(
        st.sampled_from([0, 1, 2, 2**32, 2**63 - 1, 2**63, 2**64 - 1]),
        st.integers(0, 2**64 - 1),
        st.integers(0, 50),
    )


def wild_int32() -> st.SearchStrategy[int]:
    return st.one_of(
        st.sampled_from([0, 1, -1, 100, 1000, 1001, 2**31 - 1, -(2**31)]),
        st.integers(-(2**31), 2**31 - 1),
    )


def wild_enum() -> st.SearchStrategy[int]:
    """Known values and unknown ones (proto3 enums are open)."""
    return st.one_of(st.integers(0, 6), wild_int32())


def wild_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Unicode (control characters included, never surrogates: not UTF-8),
    empty, at and past the limits, many lines."""
    return st.one_of(
        st.text(max_size=max_size),
        st.text(st.characters(codec="utf-8"), max_size=max_size),
        st.sampled_from(ODD_STRINGS),
        st.sampled_from(LONG_STRINGS),
    )


def _no_victim(value: str) -> bool:
    return not value.startswith(VICTIM_PREFIX)


FUZZ_SKUS = [f"fz-sku-{n}" for n in range(4)]
LOCATIONS = ["DC1", "DC2", "", "LOC-🙂"]


def skus() -> st.SearchStrategy[str]:
    """Mostly the fuzzer's own SKUs, so some calls are accepted; never the victim's."""
    return st.one_of(st.sampled_from(FUZZ_SKUS), wild_text()).filter(_no_victim)


def locations() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(LOCATIONS), wild_text())


_key_counter = iter(range(10**12))


def keys() -> st.SearchStrategy[str]:
    """A fresh valid key (so the call gets past key checks), a reused one, or junk."""
    fresh = st.builds(lambda: f"fz-{uuid.uuid4().hex}")
    return st.one_of(fresh, fresh, st.sampled_from(["fz-reused-1", "fz-reused-2"]), wild_text())


@dataclass
class Known:
    """Ids the fuzzer tries: the victim's real reservation ids (another
    tenant's: must be NOT_FOUND to the fuzzer) and the fuzzer's own."""

    victim_ids: list[str] = field(default_factory=list)
    own_ids: list[str] = field(default_factory=lambda: [str(uuid.uuid4())])
    victim_tenant: str = ""


KNOWN = Known()


def own_ids() -> st.SearchStrategy[str]:
    """One of the fuzzer's own reservations (real ones, once some are made)."""
    return st.integers(0, 1 << 20).map(lambda i: KNOWN.own_ids[i % len(KNOWN.own_ids)])


def victim_ids() -> st.SearchStrategy[str]:
    """One of the victim's real reservation ids (another tenant's)."""
    return st.integers(0, 1 << 20).map(
        lambda i: KNOWN.victim_ids[i % len(KNOWN.victim_ids)] if KNOWN.victim_ids else ""
    )


def reservation_ids() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda: str(uuid.uuid4())),
        victim_ids(),
        own_ids(),
        own_ids(),
        st.sampled_from(
            ["", "00000000-0000-0000-0000-000000000000", "0190a000-0000-7000-8000-000000000000"]
        ),
        wild_text(),
    )


def timestamps() -> st.SearchStrategy[timestamp_pb2.Timestamp | None]:
    """Unset, now-ish, far past and future, out of Timestamp's range, bad nanos."""
    seconds = st.one_of(
        st.integers(1_600_000_000, 1_900_000_000),
        st.sampled_from(
            [0, -1, 253_402_300_799, 253_402_300_800, -62_135_596_800, -62_135_596_801]
        ),
        st.integers(*INT64),
    )
    nanos = st.one_of(
        st.just(0), st.integers(-(2**31), 2**31 - 1), st.sampled_from([999_999_999, 10**9])
    )
    stamp = st.builds(timestamp_pb2.Timestamp, seconds=seconds, nanos=nanos)
    return st.one_of(st.none(), stamp)


def line_requests() -> st.SearchStrategy[list[pb.LineRequest]]:
    line = st.builds(pb.LineRequest, sku=skus(), location=locations(), quantity=wild_int64())
    duplicated = line.map(lambda one: [one] * 3)
    # At and past the 100-line limit: one drawn line, numbered apart by SKU.
    many = st.tuples(line, st.sampled_from([100, 101, 150])).map(
        lambda drawn: [
            pb.LineRequest(sku=f"{drawn[0].sku}{n}", location=drawn[0].location, quantity=1)
            for n in range(drawn[1])
        ]
    )
    return st.one_of(st.lists(line, max_size=5), duplicated, many)


def _build(cls: type[Message], **strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``cls(**drawn)``, leaving out message fields drawn as None (unset)."""

    def make(**values: Any) -> Any:
        return cls(**{k: v for k, v in values.items() if v is not None})

    return st.builds(make, **strategies)


def reserve() -> st.SearchStrategy[pb.ReserveRequest]:
    return _build(
        pb.ReserveRequest,
        idempotency_key=keys(),
        order_ref=wild_text(),
        channel=st.one_of(st.sampled_from(["web", "app", ""]), wild_text()),
        lines=line_requests(),
        hold_seconds=wild_int64(),
        allow_partial=st.booleans(),
        destination_region=wild_text(),
    )


def allocate() -> st.SearchStrategy[pb.AllocateRequest]:
    ship_by = st.one_of(
        st.sampled_from(["", "2026-01-01", "2026-02-30", "9999-12-31", "0000-00-00", "2026-1-1"]),
        wild_text(),
    )
    return _build(
        pb.AllocateRequest,
        idempotency_key=keys(),
        reservation_id=reservation_ids(),
        lines=line_requests(),
        ship_by=ship_by,
    )


def release() -> st.SearchStrategy[pb.ReleaseRequest]:
    return _build(
        pb.ReleaseRequest,
        idempotency_key=keys(),
        reservation_id=reservation_ids(),
        note=wild_text(),
    )


def renew_hold() -> st.SearchStrategy[pb.RenewHoldRequest]:
    return _build(
        pb.RenewHoldRequest,
        idempotency_key=keys(),
        reservation_id=reservation_ids(),
        hold_seconds=wild_int64(),
    )


def _lines_as_of(cls: type[Message], **extra: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return _build(
        cls,
        idempotency_key=keys(),
        reservation_id=reservation_ids(),
        lines=line_requests(),
        **extra,
    )


def set_stock() -> st.SearchStrategy[pb.SetStockRequest]:
    return _build(
        pb.SetStockRequest,
        idempotency_key=keys(),
        sku=skus(),
        location=locations(),
        on_hand=wild_int64(),
        source_sequence=wild_uint64(),
        as_of=timestamps(),
    )


def adjust_stock() -> st.SearchStrategy[pb.AdjustStockRequest]:
    return _build(
        pb.AdjustStockRequest,
        idempotency_key=keys(),
        sku=skus(),
        location=locations(),
        delta=wild_int64(),
        adjustment_reason=wild_text(),
    )


def operations() -> st.SearchStrategy[pb.Operation]:
    return st.one_of(
        reserve().map(lambda r: pb.Operation(reserve=r)),
        allocate().map(lambda r: pb.Operation(allocate=r)),
        release().map(lambda r: pb.Operation(release=r)),
        renew_hold().map(lambda r: pb.Operation(renew_hold=r)),
        _lines_as_of(pb.ConfirmPickRequest, as_of=timestamps()).map(
            lambda r: pb.Operation(confirm_pick=r)
        ),
        _lines_as_of(pb.UnpickRequest).map(lambda r: pb.Operation(unpick=r)),
        _lines_as_of(pb.ConfirmShipmentRequest, as_of=timestamps()).map(
            lambda r: pb.Operation(confirm_shipment=r)
        ),
        _lines_as_of(pb.RecordReturnRequest, as_of=timestamps(), restock=st.booleans()).map(
            lambda r: pb.Operation(record_return=r)
        ),
        set_stock().map(lambda r: pb.Operation(set_stock=r)),
        adjust_stock().map(lambda r: pb.Operation(adjust_stock=r)),
        st.just(pb.Operation()),  # no operation set at all
    )


def breaker_names() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["journal", "events", "feasibility", "redis"]), wild_text())


def set_circuit_breaker() -> st.SearchStrategy[ops.SetCircuitBreakerRequest]:
    """Every action on made-up names and unknown actions on any name; on the real
    breakers only RESET (an operator forcing the journal open is not hostile
    input: it is the operator's job, and would take health to NOT_SERVING)."""
    made_up = _build(
        ops.SetCircuitBreakerRequest,
        name=wild_text().filter(lambda n: n not in ("journal", "events", "feasibility", "redis")),
        action=wild_enum(),
        reason=wild_text(),
    )
    real = _build(
        ops.SetCircuitBreakerRequest,
        name=breaker_names(),
        action=st.one_of(
            st.sampled_from([0, 3]), st.integers(4, 2**31 - 1), st.integers(-(2**31), -1)
        ),
        reason=wild_text(),
    )
    return st.one_of(made_up, real)


def override_release() -> st.SearchStrategy[ops.OverrideReleaseRequest]:
    """Any tenant (the victim's too) with made-up ids; the victim's real ids
    only under other tenants. (An operator releasing a real reservation of
    its tenant is the call's purpose, not an attack the server could refuse.)"""
    made_up_id = st.one_of(st.builds(lambda: str(uuid.uuid4())), wild_text())
    with_victim_tenant = _build(
        ops.OverrideReleaseRequest,
        idempotency_key=keys(),
        tenant=st.builds(lambda: KNOWN.victim_tenant),
        reservation_id=made_up_id,
        reason=wild_text(),
    )
    other = _build(
        ops.OverrideReleaseRequest,
        idempotency_key=keys(),
        tenant=st.one_of(st.just(FUZZ_TENANT), wild_text()).filter(
            lambda t: t != KNOWN.victim_tenant
        ),
        reservation_id=reservation_ids(),
        reason=wild_text(),
    )
    return st.one_of(with_victim_tenant, other)


def _fault() -> st.SearchStrategy[ops.InjectFaultRequest]:
    drift = _build(
        ops.InjectFaultRequest.BucketDrift,
        sku=skus(),
        location=locations(),
        bucket=st.one_of(st.sampled_from(["reserved", "allocated", "picked"]), wild_text()),
        delta=wild_int64(),
    )
    return st.one_of(
        _build(ops.InjectFaultRequest, bucket_drift=drift, reason=wild_text()),
        _build(ops.InjectFaultRequest, reason=wild_text()),
    )


RULE_TEXTS = [
    "", "version = 1", 'version = "x"\n[[channels]]', "[[[", "a = 1\n" * 5000, "x" * (1 << 20),
    "x" * ((1 << 20) + 1), 'version = "fz"\nauthor = "fuzz"\n', "\x00", "🙂 = 1",
]  # fmt: skip


def rule_texts() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(RULE_TEXTS), wild_text(200))


def versions() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["", "default", "builtin", "1", "v1"]), wild_text())


# At and past GetAvailability's 1,000-SKU bound.
MANY_SKUS = [[f"fz-many-{n}" for n in range(count)] for count in (1000, 1001, 5000)]

# method name -> (service, request strategy)
REQUESTS: dict[str, tuple[str, Callable[[], st.SearchStrategy[Any]]]] = {
    "Reserve": (INVENTORY, reserve),
    "Allocate": (INVENTORY, allocate),
    "Release": (INVENTORY, release),
    "RenewHold": (INVENTORY, renew_hold),
    "ConfirmPick": (INVENTORY, lambda: _lines_as_of(pb.ConfirmPickRequest, as_of=timestamps())),
    "Unpick": (INVENTORY, lambda: _lines_as_of(pb.UnpickRequest)),
    "ConfirmShipment": (
        INVENTORY,
        lambda: _lines_as_of(pb.ConfirmShipmentRequest, as_of=timestamps()),
    ),
    "RecordReturn": (
        INVENTORY,
        lambda: _lines_as_of(pb.RecordReturnRequest, as_of=timestamps(), restock=st.booleans()),
    ),
    "SetStock": (INVENTORY, set_stock),
    "AdjustStock": (INVENTORY, adjust_stock),
    "GetAvailability": (
        INVENTORY,
        lambda: _build(
            pb.GetAvailabilityRequest,
            skus=st.one_of(st.lists(skus(), max_size=5), st.sampled_from(MANY_SKUS)),
            locations=st.lists(locations(), max_size=5),
        ),
    ),
    "GetReservation": (
        INVENTORY,
        lambda: _build(pb.GetReservationRequest, reservation_id=reservation_ids()),
    ),
    "ExecuteBatch": (
        INVENTORY,
        lambda: _build(pb.BatchRequest, operations=st.lists(operations(), max_size=8)),
    ),
    "ListEvents": (
        INVENTORY,
        lambda: _build(
            pb.ListEventsRequest,
            reservation_id=reservation_ids(),
            sku=st.one_of(st.just(""), skus()),
            since=timestamps(),
            until=timestamps(),
            page_size=wild_int32(),
            page_token=st.one_of(
                st.just(""), wild_text(), st.sampled_from(["MTA=", "-1", "9" * 30])
            ),
        ),
    ),
    "ListCircuitBreakers": (OPERATIONS, lambda: st.just(ops.ListCircuitBreakersRequest())),
    "SetCircuitBreaker": (OPERATIONS, set_circuit_breaker),
    "RunAudit": (OPERATIONS, lambda: st.just(ops.RunAuditRequest())),
    "OverrideRelease": (OPERATIONS, override_release),
    "OverrideAdjust": (
        OPERATIONS,
        lambda: _build(
            ops.OverrideAdjustRequest,
            idempotency_key=keys(),
            sku=skus(),
            location=locations(),
            delta=wild_int64(),
            reason=wild_text(),
        ),
    ),
    "ListOperatorActions": (
        OPERATIONS,
        lambda: _build(ops.ListOperatorActionsRequest, page_size=wild_int32()),
    ),
    "InjectFault": (OPERATIONS, _fault),
    "ValidateRuleSet": (OPERATIONS, lambda: _build(ops.ValidateRuleSetRequest, text=rule_texts())),
    "DeployRuleSet": (
        OPERATIONS,
        lambda: _build(ops.DeployRuleSetRequest, text=rule_texts(), comment=wild_text()),
    ),
    "ListRuleSets": (OPERATIONS, lambda: st.just(ops.ListRuleSetsRequest())),
    "GetRuleSet": (OPERATIONS, lambda: _build(ops.GetRuleSetRequest, version=versions())),
    "DiffRuleSets": (
        OPERATIONS,
        lambda: _build(ops.DiffRuleSetsRequest, from_version=versions(), to_version=versions()),
    ),
    "StartShadow": (
        OPERATIONS,
        lambda: _build(ops.StartShadowRequest, version=versions(), reason=wild_text()),
    ),
    "StopShadow": (OPERATIONS, lambda: _build(ops.StopShadowRequest, reason=wild_text())),
    "GetShadowReport": (OPERATIONS, lambda: st.just(ops.GetShadowReportRequest())),
    "ActivateRuleSet": (
        OPERATIONS,
        lambda: _build(ops.ActivateRuleSetRequest, version=versions(), reason=wild_text()),
    ),
    "RollbackRuleSet": (
        OPERATIONS,
        lambda: _build(ops.RollbackRuleSetRequest, reason=wild_text()),
    ),
}


def request_class(service: str, method: str) -> type[Message]:
    module = pb if service == INVENTORY else ops
    descriptor = module.DESCRIPTOR.services_by_name[service.rsplit(".", 1)[1]]
    name = descriptor.methods_by_name[method].input_type.name
    cls: type[Message] = getattr(module, name, None) or getattr(pb, name)
    return cls


def unary_methods() -> list[tuple[str, str]]:
    """Every unary method of both services, as (service, method)."""
    found = []
    for module, service in ((pb, INVENTORY), (ops, OPERATIONS)):
        descriptor = module.DESCRIPTOR.services_by_name[service.rsplit(".", 1)[1]]
        for method in descriptor.methods:
            if not method.server_streaming and not method.client_streaming:
                found.append((service, method.name))
    return found


def parses(cls: type[Message], payload: bytes) -> bool:
    """Whether the server's deserializer (``cls.FromString``) accepts ``payload``."""
    try:
        cls.FromString(payload)
    except DecodeError:
        return False
    return True


# --- byte mutations ---------------------------------------------------------


def mutate(payload: bytes, how: str, at: int, extra: bytes) -> bytes:
    """One mutation of a serialized request."""
    if how == "flip":
        if not payload:
            return extra[:1]
        index = at % len(payload)
        return payload[:index] + bytes([payload[index] ^ (1 << (at % 8))]) + payload[index + 1 :]
    if how == "truncate":
        return payload[: at % (len(payload) + 1)]
    if how == "append":
        return payload + extra
    if how == "insert":
        index = at % (len(payload) + 1)
        return payload[:index] + extra + payload[index:]
    if how == "repeat":  # every field twice: scalars last-wins, messages merged
        return payload + payload
    raise ValueError(how)


MUTATIONS = ["flip", "truncate", "append", "insert", "repeat"]


# --- plausible requests -------------------------------------------------------
# Wild values alone are nearly always refused at the first field checked. Half
# the requests of the mutating calls are plausible instead (fresh keys, the
# fuzzer's own SKUs and reservations, sane numbers; free text still wild), so
# holds are placed, allocated, picked, shipped and returned while the fuzzing
# goes on, and the audit at the end has real lines to check.

_sequence = itertools.count(1_000)


def _fresh_key() -> st.SearchStrategy[str]:
    return st.builds(lambda: f"fz-{uuid.uuid4().hex}")


def _now() -> timestamp_pb2.Timestamp:
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    return now


def _good_lines(min_size: int = 1) -> st.SearchStrategy[list[pb.LineRequest]]:
    line = st.builds(
        pb.LineRequest,
        sku=st.sampled_from(FUZZ_SKUS),
        location=st.sampled_from(["DC1", "DC2"]),
        quantity=st.integers(1, 5),
    )
    return st.lists(line, min_size=min_size, max_size=3)


def _on_own(cls: type[Message], **extra: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return _build(cls, idempotency_key=_fresh_key(), reservation_id=own_ids(), **extra)


_maybe_lines: st.SearchStrategy[list[pb.LineRequest]] = st.one_of(st.just([]), _good_lines())
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "Reserve": _build(
        pb.ReserveRequest,
        idempotency_key=_fresh_key(),
        order_ref=wild_text(),
        channel=st.sampled_from(["web", "app", ""]),
        lines=_good_lines(),
        hold_seconds=st.integers(0, 3600),
        allow_partial=st.booleans(),
    ),
    "Allocate": _on_own(pb.AllocateRequest, lines=_maybe_lines),
    "Release": _on_own(pb.ReleaseRequest, note=wild_text()),
    "RenewHold": _on_own(pb.RenewHoldRequest, hold_seconds=st.integers(0, 3600)),
    "ConfirmPick": _on_own(pb.ConfirmPickRequest, lines=_maybe_lines),
    "Unpick": _on_own(pb.UnpickRequest, lines=_maybe_lines),
    "ConfirmShipment": _on_own(pb.ConfirmShipmentRequest, lines=_maybe_lines),
    "RecordReturn": _on_own(pb.RecordReturnRequest, lines=_maybe_lines, restock=st.booleans()),
    "SetStock": _build(
        pb.SetStockRequest,
        idempotency_key=_fresh_key(),
        sku=st.sampled_from(FUZZ_SKUS),
        location=st.sampled_from(["DC1", "DC2"]),
        on_hand=st.integers(100_000, 1_000_000),
        source_sequence=st.builds(lambda: next(_sequence)),
        as_of=st.builds(_now),
    ),
    "AdjustStock": _build(
        pb.AdjustStockRequest,
        idempotency_key=_fresh_key(),
        sku=st.sampled_from(FUZZ_SKUS),
        location=st.sampled_from(["DC1", "DC2"]),
        delta=st.integers(-5, 100).filter(bool),
        adjustment_reason=st.sampled_from(["receipt", "damaged", "cycle count"]),
    ),
    "OverrideAdjust": _build(
        ops.OverrideAdjustRequest,
        idempotency_key=_fresh_key(),
        sku=st.sampled_from(FUZZ_SKUS),
        location=st.sampled_from(["DC1", "DC2"]),
        delta=st.integers(1, 100),
        reason=st.sampled_from(["fuzz", "recount"]),
    ),
    "OverrideRelease": _build(
        ops.OverrideReleaseRequest,
        idempotency_key=_fresh_key(),
        tenant=st.just(FUZZ_TENANT),
        reservation_id=own_ids(),
        reason=st.just("fuzz"),
    ),
}


def _with_plausible(
    wild: Callable[[], st.SearchStrategy[Any]], plausible: st.SearchStrategy[Any]
) -> Callable[[], st.SearchStrategy[Any]]:
    return lambda: st.one_of(wild(), plausible)


for _method, _plausible in PLAUSIBLE.items():
    _service, _wild = REQUESTS[_method]
    REQUESTS[_method] = (_service, _with_plausible(_wild, _plausible))
