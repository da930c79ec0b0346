"""A candidate shadowed on live traffic: the report and the metrics count what was sent.

A real server process: A and B deployed, A active, B shadowed with
StartShadow. A holds web reserves ten minutes, B two: every new web reserve B
would also accept diverges by hold_time; a phone reserve, a count, or a
reserve both refuse does not. GetShadowReport and the /metrics counters
count exactly the traffic sent; StopShadow ends the comparing and keeps the
tally for the report.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import operations_pb2 as ops
from rule_sets import A, B, deploy_both, reserve, stock
from runtime_support import OPERATOR, Running
from scrape import Samples, eventually, value

KINDS = ("outcome", "reason", "placement", "hold_time")


def counts(report: ops.ShadowReport) -> dict[str, int]:
    return {d.kind: d.count for d in report.divergences}


async def report_of(running: Running) -> ops.ShadowReport:
    answer: ops.ShadowReport = await running.operations.GetShadowReport(
        ops.GetShadowReportRequest()
    )
    return answer


async def test_the_shadow_report_counts_the_traffic_sent(running: Running) -> None:
    inventory, operations = running.inventory, running.operations
    await deploy_both(operations)
    await operations.ActivateRuleSet(
        ops.ActivateRuleSetRequest(version=A, reason="A decides"), metadata=OPERATOR
    )
    started = await operations.StartShadow(
        ops.StartShadowRequest(version=B, reason="would B's shorter web hold differ?"),
        metadata=OPERATOR,
    )
    assert (started.candidate_version, started.active_version) == (B, A)
    assert started.HasField("since")
    assert started.decisions_compared == 0

    await stock(inventory, "SHADOW-1", "W1", 100)  # compared, no divergence
    web = [reserve("SHADOW-1", 1) for _ in range(7)]
    for n, request in enumerate(web):
        await inventory.Reserve(request, metadata=(("x-request-id", f"web-{n}"),))
    for _ in range(5):
        await inventory.Reserve(reserve("SHADOW-1", 1, channel="phone"))
    for _ in range(3):  # refused alike: INSUFFICIENT_STOCK under both
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await inventory.Reserve(reserve("SHADOW-1", 1_000))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    batch = [pb.Operation(reserve=reserve("SHADOW-1", 1)) for _ in range(3)]
    await inventory.ExecuteBatch(
        pb.BatchRequest(operations=batch), metadata=(("x-request-id", "the-batch"),)
    )
    # A retry is answered from its key, not decided again: not compared.
    await inventory.Reserve(web[0])

    report = await report_of(running)
    assert (report.candidate_version, report.active_version) == (B, A)
    assert report.decisions_compared == 1 + 7 + 5 + 3 + 3
    assert counts(report) == {"outcome": 0, "reason": 0, "placement": 0, "hold_time": 10}
    assert [s.request_id for s in report.samples] == ["the-batch"] * 3 + [
        f"web-{n}" for n in reversed(range(7))
    ]
    assert {(s.kind, s.action, s.active_reason, s.candidate_reason) for s in report.samples} == {
        ("hold_time", "reserve", "RESERVED", "RESERVED")
    }

    def counted(samples: Samples) -> bool:
        return value(samples, "holdfast_shadow_decisions_total") == 19.0

    url = running.server.metrics_url
    samples = await asyncio.to_thread(eventually, url, counted)
    assert value(samples, "holdfast_shadow_decisions_total") == 19.0
    assert {
        kind: value(samples, "holdfast_shadow_divergences_total", kind=kind) for kind in KINDS
    } == {kind: (10.0 if kind == "hold_time" else 0.0) for kind in KINDS}

    # Stopped: nothing more is compared; the tally stays for the report.
    final = await operations.StopShadow(
        ops.StopShadowRequest(reason="seen enough"), metadata=OPERATOR
    )
    assert (final.candidate_version, final.decisions_compared) == (B, 19)
    await inventory.Reserve(reserve("SHADOW-1", 1))
    stopped = await report_of(running)
    assert stopped.candidate_version == ""
    assert stopped.decisions_compared == 19
    assert counts(stopped)["hold_time"] == 10
    listing = await operations.ListRuleSets(ops.ListRuleSetsRequest())
    assert (listing.active_version, listing.shadow_version) == (A, "")
    samples = await asyncio.to_thread(eventually, url, counted)
    assert value(samples, "holdfast_shadow_decisions_total") == 19.0


async def test_a_new_shadow_starts_its_tally_from_zero(running: Running) -> None:
    inventory, operations = running.inventory, running.operations
    await deploy_both(operations)
    await operations.ActivateRuleSet(
        ops.ActivateRuleSetRequest(version=A, reason="A decides"), metadata=OPERATOR
    )
    await stock(inventory, "SHADOW-2", "W1", 10)
    await operations.StartShadow(
        ops.StartShadowRequest(version=B, reason="try B"), metadata=OPERATOR
    )
    await inventory.Reserve(reserve("SHADOW-2", 1))
    assert counts(await report_of(running))["hold_time"] == 1

    # The active version beside itself could never diverge: refused, the shadow kept.
    with pytest.raises(grpc.aio.AioRpcError) as itself:
        await operations.StartShadow(
            ops.StartShadowRequest(version=A, reason="A beside itself"), metadata=OPERATOR
        )
    assert itself.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await report_of(running)).candidate_version == B

    again = await operations.StartShadow(
        ops.StartShadowRequest(version="builtin-1", reason="the defaults beside A"),
        metadata=OPERATOR,
    )
    assert again.candidate_version == "builtin-1"
    assert again.decisions_compared == 0
    assert counts(again) == dict.fromkeys(KINDS, 0)
    assert list(again.samples) == []
    await inventory.Reserve(reserve("SHADOW-2", 1))  # A holds 600 s, builtin-1 900 s
    report = await report_of(running)
    assert report.decisions_compared == 1
    assert counts(report) == {**dict.fromkeys(KINDS, 0), "hold_time": 1}
