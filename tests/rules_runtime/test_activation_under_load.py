"""Activate and roll back rule sets while clients reserve and release without pause.

Clients over loopback gRPC reserve (one at a time and in batches) and
release, continuously; meanwhile the switch goes A -> B -> A ... several
times. "Roll back" here is activating the previous version again, through
RuleControl (OperationsService.RollbackRuleSet is built on the same call).

- No request fails because of the switch: every answer is OK.
- Each answer names the version that decided it, and its hold is that
  version's web hold (a decision is never made half under each).
- A batch is decided wholly under one version.
- The journal agrees: in sequence order, every decision carries the version
  the last rule_version_set event before it set, and each answered request's
  event carries the version its answer named.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter

import grpc
from holdfast.v1 import inventory_pb2 as pb
from rule_sets import HOLD_SECONDS, RULES_A, RULES_B, hold_seconds, reserve, stock
from runtime_support import Running, until

CLIENTS = 12
SWITCHES = 6  # B, A, B, A, B, A
ANSWERS_PER_VERSION = 40  # under each version before the next switch
SKUS = ("LOAD-1", "LOAD-2", "LOAD-3")


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
        if hold_seconds(answer) != HOLD_SECONDS[version]:
            self.failures.append(f"{key}: hold {hold_seconds(answer)} s under {version}")
        self.answered(key, answer.decision)


async def client(running: Running, number: int, traffic: Traffic) -> None:
    inventory = running.inventory
    turn = 0
    while not traffic.stop.is_set():
        turn += 1
        sku = SKUS[(number + turn) % len(SKUS)]
        try:
            if turn % 5 == 0:
                await batch(running, sku, traffic)
                continue
            request = reserve(sku, 1)
            answer = await inventory.Reserve(request)
            traffic.check_reserve(request.idempotency_key, answer)
            release = pb.ReleaseRequest(
                idempotency_key=str(uuid.uuid4()), reservation_id=answer.reservation.reservation_id
            )
            released = await inventory.Release(release)
            traffic.answered(release.idempotency_key, released.decision)
        except grpc.aio.AioRpcError as e:
            traffic.failures.append(f"client {number}: {e.code().name} {e.details()}")


async def batch(running: Running, sku: str, traffic: Traffic) -> None:
    requests = [reserve(sku, 1) for _ in range(5)]
    answer = await running.inventory.ExecuteBatch(
        pb.BatchRequest(operations=[pb.Operation(reserve=r) for r in requests])
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
    """Alternate B and A, each after enough answers under the other; the
    versions activated, in order."""
    activated = []
    for turn in range(SWITCHES):
        rules = RULES_B if turn % 2 == 0 else RULES_A
        before = traffic.by_version[rules.version]
        running.control.activate(rules, "release-manager")
        await running.ledger.settle()
        activated.append(rules.version)
        await until(
            lambda v=rules.version, b=before: traffic.by_version[v] >= b + ANSWERS_PER_VERSION,
            f"{ANSWERS_PER_VERSION} answers under {rules.version}",
        )
    return activated


async def journal(running: Running) -> list[pb.Event]:
    """Every committed event, in order, from the feed."""
    last = running.ledger.committed_seq
    events = []
    async for event in running.inventory.WatchEvents(pb.WatchEventsRequest(from_sequence=1)):
        events.append(event)
        if event.sequence >= last:
            break
    return events


async def test_switches_under_load_drop_nothing_and_record_the_deciding_version(
    running: Running,
) -> None:
    for sku in SKUS:
        await stock(running.inventory, sku, "W1", 1_000_000_000)
    running.control.activate(RULES_A, "release-manager")
    await running.ledger.settle()

    traffic = Traffic()
    clients = [asyncio.create_task(client(running, n, traffic)) for n in range(CLIENTS)]
    try:
        activated = await switch(running, traffic)
    finally:
        traffic.stop.set()
        await asyncio.gather(*clients)

    assert traffic.failures == []
    assert activated == ["rules-B", "rules-A"] * (SWITCHES // 2)
    assert set(traffic.by_version) == {"rules-A", "rules-B"}
    assert traffic.batches > 0
    assert running.ledger.rule_version == "rules-A"

    await running.ledger.settle()
    events = await journal(running)
    current = "builtin-1"
    switches = []
    by_key = {}
    for event in events:
        if event.kind == "rule_version_set":
            current = json.loads(event.body_json)["change"]["RuleVersionSet"]["version"]
            switches.append(current)
            continue
        assert event.rule_version == current, event
        if event.idempotency_key:
            by_key[event.idempotency_key] = event.rule_version
    assert switches == ["rules-A", *activated]
    for key, version in traffic.versions.items():
        assert by_key[key] == version, key


async def test_the_active_version_metric_follows_the_switch(running: Running) -> None:
    def active() -> list[str]:
        text = running.metrics.render().decode()
        return [
            line for line in text.splitlines() if line.startswith("holdfast_rule_set_active_info{")
        ]

    assert active() == ['holdfast_rule_set_active_info{version="builtin-1"} 1.0']
    running.control.activate(RULES_B, "release-manager")
    await running.ledger.settle()
    assert active() == ['holdfast_rule_set_active_info{version="rules-B"} 1.0']
    running.control.activate(RULES_A, "release-manager")
    await running.ledger.settle()
    assert active() == ['holdfast_rule_set_active_info{version="rules-A"} 1.0']
