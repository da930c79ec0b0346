"""A candidate shadowed on live traffic: the report and the metrics count what was sent.

Active A holds web reserves ten minutes, candidate B two: every new web
reserve B would also accept diverges by hold_time; a phone reserve, a
count, or a reserve both refuse does not. The tally is fed by the ledger
after every decision and batch, with each call's request id.
"""

from __future__ import annotations

import grpc
import pytest
from holdfast.v1 import inventory_pb2 as pb
from rule_sets import RULES_A, RULES_B, reserve, stock
from runtime_support import Running

KINDS = ("outcome", "reason", "placement", "hold_time")


def scraped(running: Running, name: str) -> dict[str, float]:
    """The samples of one metric family: {labels text: value}."""
    found = {}
    for line in running.metrics.render().decode().splitlines():
        if line.startswith(name):
            series, _, value = line.rpartition(" ")
            found[series[len(name) :]] = float(value)
    return found


async def test_the_shadow_report_counts_the_traffic_sent(running: Running) -> None:
    inventory = running.inventory
    running.control.activate(RULES_A, "release-manager")
    await running.ledger.settle()
    running.control.start_shadow(RULES_B)
    assert running.control.report()["since_ms"] is not None

    await stock(inventory, "SHADOW-1", "W1", 100)  # compared, no divergence
    web = [reserve("SHADOW-1", 1) for _ in range(7)]
    for n, request in enumerate(web):
        metadata = (("x-request-id", f"web-{n}"),)
        await inventory.Reserve(request, metadata=metadata)
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

    report = running.control.report()
    assert report["candidate_version"] == "rules-B"
    assert report["active_version"] == "rules-A"
    assert report["compared"] == 1 + 7 + 5 + 3 + 3
    assert report["counts"] == {"outcome": 0, "reason": 0, "placement": 0, "hold_time": 10}
    samples = report["samples"]
    assert [s["request_id"] for s in samples] == ["the-batch"] * 3 + [
        f"web-{n}" for n in reversed(range(7))
    ]
    assert {(s["kind"], s["action"], s["active"], s["candidate"]) for s in samples} == {
        ("hold_time", "reserve", "RESERVED", "RESERVED")
    }

    assert scraped(running, "holdfast_shadow_decisions_total") == {"": 19.0}
    divergences = scraped(running, "holdfast_shadow_divergences_total")
    assert divergences == {
        f'{{kind="{kind}"}}': (10.0 if kind == "hold_time" else 0.0) for kind in KINDS
    }

    # Stopped: nothing more is compared; the tally stays for the report.
    running.control.stop_shadow()
    await inventory.Reserve(reserve("SHADOW-1", 1))
    stopped = running.control.report()
    assert stopped["candidate_version"] == ""
    assert stopped["compared"] == 19
    assert running.ledger.shadow_version() is None


async def test_a_new_shadow_starts_its_tally_from_zero(running: Running) -> None:
    await stock(running.inventory, "SHADOW-2", "W1", 10)
    running.control.start_shadow(RULES_B)
    await running.inventory.Reserve(reserve("SHADOW-2", 1))
    assert running.control.report()["counts"]["hold_time"] == 1
    running.control.start_shadow(RULES_A)
    report = running.control.report()
    assert report["compared"] == 0
    assert report["counts"] == dict.fromkeys(KINDS, 0)
    assert report["samples"] == []
