"""Activate and roll back rule sets while clients reserve and release without pause.

A real server process on its own SQLite file. Versions A and B are deployed
(DeployRuleSet) and A activated; then clients over loopback gRPC reserve (one
at a time and in batches) and release, continuously, each in a tenant of its
own, while an operator switches ActivateRuleSet(B), RollbackRuleSet,
ActivateRuleSet(B), RollbackRuleSet ... (each with an actor and a reason).

- No request fails because of the switch: every answer is a business outcome.
- Each answer names the version that decided it, and its hold is that
  version's web hold (a decision is never made half under each).
- A batch is decided wholly under one version.
- The journal agrees: in sequence order, every event carries the version the
  last rule_version_set event before it set (the feed, every tenant's), and
  each tenant's ListEvents shows its requests under the version its answers
  named. (rule_version_set events are nobody's tenant's, so ListEvents never
  shows them: the switch points come from the feed.)
"""

from __future__ import annotations

import asyncio
import bisect
import json
import uuid
from collections import Counter

import grpc
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import operations_pb2 as ops
from rule_sets import HOLD_SECONDS, A, B, deploy_both, hold_seconds, reserve, stock
from runtime_support import OPERATOR, Running, until
from scrape import scrape, value

CLIENTS = 16
SWITCHES = 6  # B, back to A, B, back to A, B, back to A
ANSWERS_PER_VERSION = 100  # under each version before the next switch
SKUS = ("LOAD-1", "LOAD-2", "LOAD-3")


def tenant(number: int) -> tuple[tuple[str, str], ...]:
    return (("x-holdfast-tenant", f"load-{number}"),)


class Traffic:
    """What the clients were answered, and whatever failed."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.versions: dict[str, str] = {}  # idempotency key -> answered version
        self.by_version: Counter[str] = Counter()
        self.failures: list[str] = []
        self.batches = 0

    def answered(self, key: str, decision: pb.Decision) -> None:
        self.versions[key] = decision.rule_version
        self.by_version[decision.rule_version] += 1

    def check_reserve(self, key: str, answer: pb.ReserveResponse) -> None:
        version = answer.decision.rule_version
        if hold_seconds(answer) != HOLD_SECONDS.get(version):
            self.failures.append(f"{key}: hold {hold_seconds(answer)} s under {version}")
        self.answered(key, answer.decision)


async def client(running: Running, number: int, traffic: Traffic) -> None:
    inventory = running.inventory
    metadata = tenant(number)
    turn = 0
    while not traffic.stop.is_set():
        turn += 1
        sku = SKUS[(number + turn) % len(SKUS)]
        try:
            if turn % 5 == 0:
                await batch(running, number, sku, traffic)
                continue
            request = reserve(sku, 1)
            answer = await inventory.Reserve(request, metadata=metadata)
            traffic.check_reserve(request.idempotency_key, answer)
            release = pb.ReleaseRequest(
                idempotency_key=str(uuid.uuid4()), reservation_id=answer.reservation.reservation_id
            )
            released = await inventory.Release(release, metadata=metadata)
            traffic.answered(release.idempotency_key, released.decision)
        except grpc.aio.AioRpcError as e:
            traffic.failures.append(f"client {number}: {e.code().name} {e.details()}")


async def batch(running: Running, number: int, sku: str, traffic: Traffic) -> None:
    requests = [reserve(sku, 1) for _ in range(5)]
    answer = await running.inventory.ExecuteBatch(
        pb.BatchRequest(operations=[pb.Operation(reserve=r) for r in requests]),
        metadata=tenant(number),
    )
    versions = set()
    for request, result in zip(requests, answer.results, strict=True):
        if not result.HasField("reserve"):
            traffic.failures.append(f"batch {request.idempotency_key}: {result}")
            continue
        traffic.check_reserve(request.idempotency_key, result.reserve)
        versions.add(result.reserve.decision.rule_version)
    if len(versions) > 1:
        traffic.failures.append(f"one batch decided under {sorted(versions)}")
    traffic.batches += 1


async def switch(running: Running, traffic: Traffic) -> list[str]:
    """Activate B, roll back, activate B, ... each after enough answers under
    the version before; the versions the answers said are active, in order."""
    operations = running.operations
    activated = []
    for turn in range(SWITCHES):
        if turn % 2 == 0:
            answer = await operations.ActivateRuleSet(
                ops.ActivateRuleSetRequest(version=B, reason=f"try B ({turn})"), metadata=OPERATOR
            )
        else:
            answer = await operations.RollbackRuleSet(
                ops.RollbackRuleSetRequest(reason=f"back to A ({turn})"), metadata=OPERATOR
            )
        assert answer.state == ops.ACTIVE, answer
        # Answered once durable: every decision from here on is under it.
        before = traffic.by_version[answer.version]
        activated.append(answer.version)
        await until(
            lambda v=answer.version, b=before: traffic.by_version[v] >= b + ANSWERS_PER_VERSION,
            f"{ANSWERS_PER_VERSION} answers under {answer.version}",
        )
    return activated


async def feed_until(running: Running, key: str) -> list[pb.Event]:
    """Every committed event, every tenant's, in order, up to the one of ``key``."""
    events = []
    async for event in running.inventory.WatchEvents(pb.WatchEventsRequest(from_sequence=1)):
        events.append(event)
        if event.idempotency_key == key:
            break
    return events


async def listed(running: Running, number: int) -> list[pb.Event]:
    """One tenant's events, every page, from ListEvents."""
    events: list[pb.Event] = []
    token = ""
    while True:
        page = await running.inventory.ListEvents(
            pb.ListEventsRequest(page_size=1000, page_token=token), metadata=tenant(number)
        )
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


async def test_switches_under_load_drop_nothing_and_record_the_deciding_version(
    running: Running,
) -> None:
    for sku in SKUS:
        await stock(running.inventory, sku, "W1", 1_000_000_000)
    await deploy_both(running.operations)
    first = await running.operations.ActivateRuleSet(
        ops.ActivateRuleSetRequest(version=A, reason="start with A"), metadata=OPERATOR
    )
    assert first.version == A

    traffic = Traffic()
    clients = [asyncio.create_task(client(running, n, traffic)) for n in range(CLIENTS)]
    try:
        activated = await switch(running, traffic)
    finally:
        traffic.stop.set()
        await asyncio.gather(*clients)

    assert traffic.failures == []
    assert activated == [B, A] * (SWITCHES // 2)
    assert set(traffic.by_version) == {A, B}
    assert traffic.batches > 0
    listing = await running.operations.ListRuleSets(ops.ListRuleSetsRequest())
    assert listing.active_version == A

    # A last decision after all the traffic marks the end of the feed to read.
    marker = await stock(running.inventory, "MARKER", "W1", 1)
    events = await feed_until(running, marker)
    current = "builtin-1"
    switched_at: list[int] = []  # the sequences of the rule_version_set events
    switched_to: list[str] = []
    by_key = {}
    for event in events:
        if event.kind == "rule_version_set":
            current = json.loads(event.body_json)["change"]["RuleVersionSet"]["version"]
            switched_at.append(event.sequence)
            switched_to.append(current)
            continue
        assert event.rule_version == current, event
        if event.idempotency_key:
            by_key[event.idempotency_key] = event.rule_version
    assert switched_to == [A, *activated]
    for key, version in traffic.versions.items():
        assert by_key[key] == version, key

    # Each tenant's own listing says the same.
    from_listing = {}
    for number in range(CLIENTS):
        for event in await listed(running, number):
            last_switch = bisect.bisect_left(switched_at, event.sequence) - 1
            assert last_switch >= 0, event  # the clients began under A
            assert event.rule_version == switched_to[last_switch], event
            from_listing[event.idempotency_key] = event.rule_version
    assert from_listing == traffic.versions


async def test_the_active_version_metric_follows_the_switch(running: Running) -> None:
    url = running.server.metrics_url

    async def active() -> dict[str, float]:
        samples = await asyncio.to_thread(scrape, url)
        return {
            dict(labels)["version"]: sample
            for (name, labels), sample in samples.items()
            if name == "holdfast_rule_set_active_info"
        }

    assert await active() == {"builtin-1": 1.0}
    await deploy_both(running.operations)
    await running.operations.ActivateRuleSet(
        ops.ActivateRuleSetRequest(version=A, reason="start with A"), metadata=OPERATOR
    )
    assert await active() == {A: 1.0}
    await running.operations.ActivateRuleSet(
        ops.ActivateRuleSetRequest(version=B, reason="try B"), metadata=OPERATOR
    )
    assert await active() == {B: 1.0}
    await running.operations.RollbackRuleSet(
        ops.RollbackRuleSetRequest(reason="B holds too briefly"), metadata=OPERATOR
    )
    samples = await asyncio.to_thread(scrape, url)
    assert value(samples, "holdfast_rule_set_active_info", version=A) == 1.0
    assert await active() == {A: 1.0}
