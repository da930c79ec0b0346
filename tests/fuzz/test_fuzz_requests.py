"""Hostile input against a real server over loopback: every unary request type
of InventoryService and OperationsService with wild values, the same requests
mutated on the wire (bit flips, truncations, insertions, appended bytes,
every field repeated), pure garbage bytes, and the event feed with wild
starting points. Over 10,000 calls in all.

Every answer must be a decided gRPC status: never UNKNOWN or INTERNAL (an
exception escaped). Afterwards the server is still SERVING, the audit finds no
bucket that differs from its lines, and a victim tenant's positions and
reservations, made before the fuzzing, are byte for byte what they were.

The tests run in file order and share one server; the last one checks the
aftermath and prints the codes seen (``pytest -s`` shows them).
"""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
from fuzz_support import (
    FUZZ_METADATA,
    INVENTORY,
    KNOWN,
    MUTATIONS,
    OPERATIONS,
    REQUESTS,
    TALLY,
    UNCLEAN,
    Caller,
    full_name,
    mutate,
    parses,
    request_class,
    unary_methods,
    wild_uint64,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, operations_pb2, operations_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

METHODS = unary_methods()
VALID_EXAMPLES = 160  # per method
MUTATED_EXAMPLES = 80  # per method, two mutated payloads each
GARBAGE_EXAMPLES = 1500
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
STARTED = time.monotonic()
RAN: set[str] = set()


@pytest.fixture(scope="module")
def caller(channel: grpc.Channel, victim: Any, fuzz_stock: None) -> Caller:
    """A caller whose first call comes after the victim's data exists."""
    return Caller(channel)


def _remember(method: str, code: grpc.StatusCode, answer: bytes) -> None:
    """Keep the fuzzer's own reservation ids, so later calls act on real holds."""
    if method == "Reserve" and code == grpc.StatusCode.OK:
        reservation_id = pb.ReserveResponse.FromString(answer).reservation.reservation_id
        if reservation_id:
            KNOWN.own_ids.append(reservation_id)


def _check_batch(answer: bytes, payload: bytes) -> None:
    """Every operation's status inside a batch's answer is clean too."""
    for result in pb.BatchResponse.FromString(answer).results:
        if result.WhichOneof("result") == "error":
            code = _code(result.error.code)
            TALLY.record("batch-op", "ExecuteBatch", code, payload, result.error.message)
            assert code not in UNCLEAN, f"batch operation {code}: {result.error.message}"


def _code(number: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN


def _assert_clean(code: grpc.StatusCode, detail: str, method: str, payload: bytes) -> None:
    assert code not in UNCLEAN, f"{method} answered {code.name} ({detail!r}) to {payload!r}"


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[m for _, m in METHODS])
@settings(FUZZ, max_examples=VALID_EXAMPLES)
@given(data=st.data())
def test_valid_messages_with_wild_values(
    caller: Caller, service: str, method: str, data: st.DataObject
) -> None:
    request = data.draw(REQUESTS[method][1](), label="request")
    payload = request.SerializeToString()
    code, detail, answer = caller.send("valid", full_name(service, method), payload)
    _assert_clean(code, detail, method, payload)
    _remember(method, code, answer)
    if method == "ExecuteBatch" and code == grpc.StatusCode.OK:
        _check_batch(answer, payload)
    RAN.add("valid")


def test_every_request_type_is_fuzzed() -> None:
    """The strategies cover every unary method the services declare."""
    assert {m for _, m in METHODS} == set(REQUESTS)
    assert {s for s, _ in METHODS} == {INVENTORY, OPERATIONS}


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[m for _, m in METHODS])
@settings(FUZZ, max_examples=MUTATED_EXAMPLES)
@given(data=st.data())
def test_mutated_requests(caller: Caller, service: str, method: str, data: st.DataObject) -> None:
    """Mutations that still decode must be decided like any request; those that
    do not decode are tallied as garbage (see test_undecodable_bytes)."""
    cls = request_class(service, method)
    payload = data.draw(REQUESTS[method][1](), label="request").SerializeToString()
    for _ in range(2):
        how = data.draw(st.sampled_from(MUTATIONS), label="mutation")
        at = data.draw(st.integers(0, 1 << 20), label="at")
        extra = data.draw(st.binary(min_size=1, max_size=32), label="extra")
        mutated = mutate(payload, how, at, extra)
        kind = "mutated" if parses(cls, mutated) else "garbage"
        code, detail, answer = caller.send(kind, full_name(service, method), mutated)
        if kind == "mutated":
            _assert_clean(code, detail, method, mutated)
            if method == "ExecuteBatch" and code == grpc.StatusCode.OK:
                _check_batch(answer, mutated)
    RAN.add("mutated")


@settings(FUZZ, max_examples=GARBAGE_EXAMPLES)
@given(
    method=st.sampled_from([*METHODS, (INVENTORY, "NoSuchMethod")]),
    payload=st.one_of(
        st.binary(max_size=64),
        st.binary(min_size=1, max_size=4096),
        st.sampled_from([b"\xff", b"\x80" * 11, b"\x0a\xff\xff\xff\xff\x0f", b"\x0b", b"\x07"]),
    ),
)
def test_garbage_bytes(caller: Caller, method: tuple[str, str], payload: bytes) -> None:
    """Random bytes on a raw channel: tallied as garbage when they do not
    decode, held to the clean rule when they happen to."""
    service, name = method
    decodes = name == "NoSuchMethod" or parses(request_class(service, name), payload)
    code, detail, _ = caller.send(
        "raw" if decodes else "garbage", full_name(service, name), payload
    )
    if decodes:
        _assert_clean(code, detail, name, payload)
    RAN.add("garbage")


@settings(FUZZ, max_examples=12)
@given(from_sequence=wild_uint64())
def test_watch_events_from_anywhere(caller: Caller, from_sequence: int) -> None:
    """The event feed from any starting point: events, a refusal, or our own
    deadline (the feed waits for events that may never come)."""
    stub = inventory_pb2_grpc.InventoryServiceStub(caller.channel)
    request = pb.WatchEventsRequest(from_sequence=from_sequence)
    stream = stub.WatchEvents(request, timeout=0.3, metadata=FUZZ_METADATA)
    try:
        for _ in stream:
            break  # one event is enough
        stream.cancel()
        code, detail = grpc.StatusCode.OK, ""
    except grpc.RpcError as error:
        code, detail = error.code(), error.details() or ""
    TALLY.record("watch", "WatchEvents", code, request.SerializeToString(), detail)
    _assert_clean(code, detail, "WatchEvents", request.SerializeToString())


def test_limits_at_the_edges(caller: Caller) -> None:
    """A message over the server's size bound and a batch past 10,000 operations."""
    huge = pb.ReserveRequest(idempotency_key="fz-huge", order_ref="x" * (17 * 1024 * 1024))
    code, detail, _ = caller.send(
        "limits", full_name(INVENTORY, "Reserve"), huge.SerializeToString()
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, detail)
    operation = pb.Operation(
        adjust_stock=pb.AdjustStockRequest(
            idempotency_key="fz-k", sku="fz-sku-0", location="DC1", delta=1, adjustment_reason="r"
        )
    )
    batch = pb.BatchRequest(operations=[operation] * 10_001)
    code, detail, _ = caller.send(
        "limits", full_name(INVENTORY, "ExecuteBatch"), batch.SerializeToString()
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, detail)


def test_undecodable_bytes_answered_cleanly(caller: Caller) -> None:
    """Every payload that did not decode (garbage, broken mutations) got a clean status."""
    assert "garbage" in RAN
    unclean = {k: v for k, v in TALLY.unclean.items() if k[0] == "garbage"}
    assert not unclean, "\n" + TALLY.report()


LONG_NAME = "x" * 20_000
ECHOING = {
    "SetCircuitBreaker": operations_pb2.SetCircuitBreakerRequest(
        name=LONG_NAME, action=operations_pb2.SetCircuitBreakerRequest.RESET, reason="fuzz"
    ),
    "GetRuleSet": operations_pb2.GetRuleSetRequest(version=LONG_NAME),
    "DiffRuleSets": operations_pb2.DiffRuleSetsRequest(from_version=LONG_NAME, to_version="v"),
    "StartShadow": operations_pb2.StartShadowRequest(version=LONG_NAME, reason="fuzz"),
    "ActivateRuleSet": operations_pb2.ActivateRuleSetRequest(version=LONG_NAME, reason="fuzz"),
}


@pytest.mark.parametrize("method", sorted(ECHOING))
def test_long_names_refused_without_echo(caller: Caller, method: str) -> None:
    """A 20,000-character name is refused naming the field, not repeated back."""
    payload = ECHOING[method].SerializeToString()
    code, detail, _ = caller.send("echo", full_name(OPERATIONS, method), payload)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, detail[:200])
    assert LONG_NAME not in detail


def test_after_fuzzing(caller: Caller, server: Any, victim: Any, channel: grpc.Channel) -> None:
    """SERVING, the audit clean, the victim's data exactly as before, and (after
    a whole run) over 10,000 calls made."""
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", INVENTORY):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING, service
    operations = operations_pb2_grpc.OperationsServiceStub(channel)
    audit = operations.RunAudit(
        operations_pb2.RunAuditRequest(), metadata=FUZZ_METADATA, timeout=30
    )
    assert audit.positions_checked > 0
    assert list(audit.differences) == []
    stub = inventory_pb2_grpc.InventoryServiceStub(channel)
    assert victim.snapshot(stub) == VICTIM_BEFORE[0]
    elapsed = time.monotonic() - STARTED
    print(f"\nfuzz: {elapsed:.1f} s since the module was imported\n{TALLY.report()}")
    if {"valid", "mutated", "garbage"} <= RAN:
        assert TALLY.total >= 10_000, TALLY.report()
    assert server.process.poll() is None


VICTIM_BEFORE: list[tuple[bytes, list[bytes]]] = []


@pytest.fixture(scope="module", autouse=True)
def _victim_before(victim: Any, channel: grpc.Channel) -> None:
    """The victim's data as it stood before the first fuzz call."""
    VICTIM_BEFORE[:] = [victim.snapshot(inventory_pb2_grpc.InventoryServiceStub(channel))]
