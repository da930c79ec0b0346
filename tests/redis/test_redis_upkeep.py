"""The Redis backend's upkeep across real replicas: rule sets switched by
committed events every replica installs, snapshots in ``{P}:snapshot`` (by
housekeeping and at stop) and the stream trimmed past them, idempotency
purges every replica applies, and a replica that finds Redis behind its copy
(lost commits) refusing every call with its ``redis`` breaker forced open.

Time is driven by settings (short intervals, zero retention), and every wait
is a poll with a deadline.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from holdfast.client import (
    Client,
    InvalidArgument,
    OperationsClient,
    Rejected,
    RetryPolicy,
    Unavailable,
)
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import operations_pb2 as ops_pb
from holdfast.v1 import reasons_pb2 as reasons
from redis_support import Keys, Replica, StartReplicas, until
from redisproc import RedisServer

BUILTIN = "builtin-1"
HOLD_S = 3_600  # holds that do not expire while a test runs (no sweeps commit)
STARTED = "state is on Redis"


def ops_client(
    replica: Replica, tenant: str, *, retry: RetryPolicy | None = None
) -> OperationsClient:
    return OperationsClient(
        replica.target, tenant=tenant, actor="redis-upkeep", timeout=30.0, retry=retry
    )


def startup_record(replica: Replica) -> dict[str, Any]:
    """The latest launch's start-up line (with its snapshot_seq, replayed_events)."""
    found = [r for r in replica.log_records() if STARTED in str(r.get("msg", ""))]
    assert len(found) == 1, replica.log_since_start()[-4000:]
    return found[0]


def positions(client: Client, sku: str) -> list[tuple[str, int, int, int, int, int]]:
    shown = client.get_availability([sku]).positions
    return sorted(
        (p.location, p.on_hand, p.reserved, p.allocated, p.picked, p.available) for p in shown
    )


def health_status(replica: Replica) -> int:
    with grpc.insecure_channel(replica.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5.0).status)


# 1. Rule sets ------------------------------------------------------------------------


def cap_rules(version: str, channel: str, cap: int) -> str:
    return f"""version = "{version}"
author = "redis-upkeep@holdfast"
description = "a channel cap, deployed on one replica and activated on another"

[[channel_caps]]
channel = "{channel}"
max_units = {cap}
"""


def test_a_rule_set_deployed_on_one_replica_and_activated_on_another_decides_on_all(
    replicas: StartReplicas, tenant: str
) -> None:
    a, b, c = replicas(3)
    tag = uuid.uuid4().hex[:12]
    sku, channel, version = f"RULE-{tag}", f"chan-{tag}", f"upkeep-{tag}"
    with (
        ops_client(a, tenant) as on_a,
        ops_client(b, tenant) as on_b,
        ops_client(c, tenant) as on_c,
    ):
        on_a.set_stock(sku, "W1", 50, source_sequence=1)
        before = on_a.reserve([(sku, "W1", 1)], channel=channel, hold_seconds=HOLD_S)
        assert before.decision.rule_version == BUILTIN

        deployed = on_a.deploy_rule_set(cap_rules(version, channel, 3), comment="cap")
        assert (deployed.version, deployed.state) == (version, ops_pb.DEPLOYED)
        activated = on_b.activate_rule_set(version, reason="cap the channel, from B")
        assert (activated.version, activated.state) == (version, ops_pb.ACTIVE)
        for client in (on_a, on_b, on_c):
            assert client.list_rule_sets().active_version == version

        held = on_c.reserve([(sku, "W1", 2)], channel=channel, hold_seconds=HOLD_S)  # 1 + 2
        assert held.decision.reason == reasons.RESERVED
        assert held.decision.rule_version == version
        with pytest.raises(Rejected) as capped:
            on_c.reserve([(sku, "W1", 1)], channel=channel, hold_seconds=HOLD_S)
        assert capped.value.reason == "CHANNEL_CAP_REACHED"
        facts = capped.value.facts
        assert (facts["cap"], facts["committed"], facts["requested"]) == ("3", "3", "1")
        # A, which deployed but did not activate, refuses past the cap too.
        with pytest.raises(Rejected) as capped_on_a:
            on_a.reserve([(sku, "W1", 1)], channel=channel, hold_seconds=HOLD_S)
        assert capped_on_a.value.reason == "CHANNEL_CAP_REACHED"
        # Accepted decisions on every replica carry the new version.
        for client in (on_a, on_b, on_c):
            other = client.reserve([(sku, "W1", 1)], channel=f"other-{tag}", hold_seconds=HOLD_S)
            assert other.decision.rule_version == version, client.target

        back = on_c.rollback_rule_set(reason="lift the cap, from C")
        assert back.version == BUILTIN
        for client in (on_a, on_b, on_c):
            assert client.list_rule_sets().active_version == BUILTIN
        # A decides under the built-in set again: the channel is not capped.
        again = on_a.reserve([(sku, "W1", 2)], channel=channel, hold_seconds=HOLD_S)
        assert again.decision.reason == reasons.RESERVED
        assert again.decision.rule_version == BUILTIN
        assert positions(on_b, sku) == [("W1", 50, 8, 0, 0, 42)]


# 2. Snapshots and trimming ---------------------------------------------------------


def test_snapshots_trim_the_stream_and_a_restart_restores_from_them(
    replicas: StartReplicas, redis_server: RedisServer, redis_prefix: str, tenant: str
) -> None:
    upkeep = ("--snapshot-interval-seconds", "0.2", "--audit-retention-days", "0")
    a, b, c = replicas(3, extra=upkeep)
    sku = f"SNAP-{uuid.uuid4().hex[:12]}"
    keys = Keys(redis_server, prefix=redis_prefix)
    try:
        with ops_client(a, tenant) as on_a, ops_client(b, tenant) as on_b:
            on_a.set_stock(sku, "W1", 100, source_sequence=1)
            on_b.set_stock(sku, "W2", 40, source_sequence=1)
            ids = []
            for n in range(12):
                client = on_a if n % 2 else on_b
                held = client.reserve([(sku, "W1", 2)], hold_seconds=HOLD_S)
                ids.append(held.reservation.reservation_id)
            on_a.release(ids[0])
            on_b.allocate(ids[1])
            head = keys.head()
            assert head >= 16, head

            seen_last: list[tuple[int | None, int, int]] = []

            def covered_and_trimmed() -> tuple[int, int] | None:
                saved, now_head, length = keys.snapshot_seq(), keys.head(), keys.stream_length()
                seen_last[:] = [(saved, now_head, length)]
                return (now_head, length) if saved == now_head and length == 0 else None

            try:
                until("a snapshot at the head and the stream trimmed", covered_and_trimmed)
            except AssertionError as waited:
                raise AssertionError(f"{waited}; (snapshot, head, XLEN) {seen_last}") from None
            trimmed_lines = [
                r
                for r in a.log_records() + b.log_records() + c.log_records()
                if r.get("msg") == "stream trimmed"
            ]
            assert trimmed_lines, "no replica logged 'stream trimmed'"

            # Restarted, a replica starts from the snapshot, not from event 1.
            assert c.stop() == 0
            later = on_a.reserve([(sku, "W2", 5)], hold_seconds=HOLD_S)
            c.start()
            c.wait_serving()
            started = startup_record(c)
            assert started["snapshot_seq"] > 0, started
            assert started["replayed_events"] <= 1, started
            assert (
                started["snapshot_seq"] + started["replayed_events"] == started["committed_seq"]
            ), started
            with ops_client(c, tenant) as on_c:
                seen = [positions(client, sku) for client in (on_a, on_b, on_c)]
                assert seen[0] == [("W1", 100, 20, 2, 0, 78), ("W2", 40, 5, 0, 0, 35)], seen
                assert seen[1] == seen[0], seen
                assert seen[2] == seen[0], seen
                for reservation_id in (ids[0], ids[1], ids[5], later.reservation.reservation_id):
                    shown = [
                        client.get_reservation(reservation_id) for client in (on_a, on_b, on_c)
                    ]
                    assert shown[1] == shown[0], (reservation_id, shown)
                    assert shown[2] == shown[0], (reservation_id, shown)
                assert on_c.get_reservation(ids[0]).state == pb.LINE_STATE_RELEASED

                # The feed refuses what was trimmed, naming where it resumes.
                with pytest.raises(InvalidArgument) as gone:
                    next(iter(on_c.watch_events(1, timeout=10.0)))
                first = keys.first_retained()
                expected = keys.head() + 1 if first is None else first
                assert expected > 1
                assert f"events before {expected} are no longer retained" in gone.value.message
                assert [v.field for v in gone.value.field_violations] == ["from_sequence"]
    finally:
        keys.close()


# 3. Idempotency purges -------------------------------------------------------------


def test_a_key_past_its_retention_is_decided_anew_on_another_replica(
    replicas: StartReplicas, redis_server: RedisServer, redis_prefix: str, tenant: str
) -> None:
    purge = ("--idempotency-retention-seconds", "1", "--idempotency-purge-seconds", "0.2")
    a, b = replicas(2, extra=purge)
    sku = f"PURGE-{uuid.uuid4().hex[:12]}"
    keys = Keys(redis_server, prefix=redis_prefix)
    try:
        with a.client(tenant) as on_a, b.client(tenant) as on_b:
            on_a.set_stock(sku, "W1", 10, source_sequence=1)
            first = on_a.reserve([(sku, "W1", 2)], hold_seconds=HOLD_S, idempotency_key="cart-1")
            assert not first.decision.replayed
            first_id = first.reservation.reservation_id

            # Within the retention, B replays A's decision.
            replayed = on_b.reserve([(sku, "W1", 2)], hold_seconds=HOLD_S, idempotency_key="cart-1")
            assert replayed.decision.replayed
            assert replayed.reservation.reservation_id == first_id

            # Past it, a replica commits the purge (an event every copy applies) ...
            until(
                "a keys_purged event in the stream",
                lambda: True if "keys_purged" in keys.kinds() else None,
            )
            # ... and B decides the key anew.
            anew = on_b.reserve([(sku, "W1", 2)], hold_seconds=HOLD_S, idempotency_key="cart-1")
            assert not anew.decision.replayed
            assert anew.decision.reason == reasons.RESERVED
            assert anew.reservation.reservation_id != first_id
            # Both holds stand: the purge forgot the key, not the reservation.
            assert on_a.get_reservation(first_id).state == pb.LINE_STATE_RESERVED
            assert on_a.get_availability([sku]).positions[0].reserved == 4
    finally:
        keys.close()


# 4. Lost commits -------------------------------------------------------------------


def test_a_replica_that_finds_redis_behind_its_copy_refuses_and_says_not_serving(
    replicas: StartReplicas, redis_server: RedisServer, redis_prefix: str, tenant: str
) -> None:
    (replica,) = replicas(1)
    sku = f"LOST-{uuid.uuid4().hex[:12]}"
    keys = Keys(redis_server, prefix=redis_prefix)
    once = RetryPolicy(max_attempts=1)
    try:
        with ops_client(replica, tenant, retry=once) as client:
            client.set_stock(sku, "W1", 10, source_sequence=1)
            for _ in range(4):
                client.reserve([(sku, "W1", 1)], hold_seconds=HOLD_S)
            assert keys.head() == 5
            assert health_status(replica) == health_pb2.HealthCheckResponse.SERVING
            # Redis "loses" the last three commits.
            keys.client.set(keys.key("seq"), 2)

            def forced_open() -> bool | None:
                listed = client.list_circuit_breakers().breakers
                state = {b.name: b.state for b in listed}.get("redis")
                return True if state == ops_pb.FORCED_OPEN else None

            until("the redis breaker to be FORCED_OPEN", forced_open)
            with pytest.raises(Unavailable) as refused:
                client.reserve([(sku, "W1", 1)], hold_seconds=HOLD_S)
            assert refused.value.reason == "DEPENDENCY_UNAVAILABLE"
            assert refused.value.facts["dependency"] == "redis"
            assert "lost commits" in refused.value.message, refused.value
            with pytest.raises(Unavailable) as read_refused:
                client.get_availability([sku])
            assert read_refused.value.reason == "DEPENDENCY_UNAVAILABLE"
            assert keys.head() == 2  # nothing was committed on the lost head

            until(
                "gRPC health NOT_SERVING",
                lambda: (
                    True
                    if health_status(replica) == health_pb2.HealthCheckResponse.NOT_SERVING
                    else None
                ),
            )
            lost = [
                r for r in replica.log_records() if r.get("msg") == "Redis lost committed events"
            ]
            assert len(lost) == 1, replica.log_since_start()[-4000:]
            assert (lost[0]["redis_seq"], lost[0]["applied_seq"]) == (2, 5), lost[0]
    finally:
        keys.close()


# 5. A snapshot at stop -------------------------------------------------------------


def test_stopping_every_replica_saves_a_snapshot_at_the_head(
    replicas: StartReplicas, redis_server: RedisServer, redis_prefix: str, tenant: str
) -> None:
    a, b = replicas(2, extra=("--snapshot-interval-seconds", "300"))
    sku = f"STOP-{uuid.uuid4().hex[:12]}"
    keys = Keys(redis_server, prefix=redis_prefix)
    try:
        with a.client(tenant) as on_a, b.client(tenant) as on_b:
            on_a.set_stock(sku, "W1", 30, source_sequence=1)
            for n in range(6):
                (on_a if n % 2 else on_b).reserve([(sku, "W1", 3)], hold_seconds=HOLD_S)
        head = keys.head()
        assert head == 7, head
        assert keys.snapshot_seq() is None  # housekeeping saves none for 300 s

        assert a.stop() == 0
        assert b.stop() == 0
        assert keys.snapshot_seq() == keys.head() == head

        # The next start restores it and replays nothing.
        a.start()
        a.wait_serving()
        started = startup_record(a)
        assert (started["snapshot_seq"], started["replayed_events"]) == (head, 0), started
        with a.client(tenant) as on_a:
            assert positions(on_a, sku) == [("W1", 30, 18, 0, 0, 12)]
    finally:
        keys.close()
