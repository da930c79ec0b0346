"""The request fields a rule set reads, through the typed clients and ctl:
``destination_region`` (the nearest strategy), ``ship_by`` (CUTOFF_MISSED)
and each line's promised ship date, against a real server.

Rule sets are server-wide, so this module runs its own server (overriding
the session's ``server`` fixture here) with one activated rule set, and the
other client tests keep the built-in one.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable, Iterator

import pytest
from client_harness import ServerProcess, run_ctl
from holdfast.client import AsyncClient, Client, InvalidArgument, OperationsClient, Rejected
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2

VERSION = "client-rules-1"
# Two locations, each nearest to one region. EU-1 promises ship dates in UTC
# with a 00:00 cutoff, so every allocation there is promised the day after
# the decision (checked against the decision time the answer reports);
# US-1 has no capacity rule and promises nothing.
RULES = f"""version = "{VERSION}"
author = "tester@holdfast"
description = "nearest by region, a cutoff at EU-1"

[allocation]
strategy = "nearest"

[allocation.nearest]
eu-west = ["EU-1", "US-1"]
us-east = ["US-1", "EU-1"]

[[capacity]]
location = "EU-1"
time_zone = "UTC"
cutoff = "00:00"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("rules-server") / "server.log")
    process.start()
    try:
        process.wait_serving()
        with OperationsClient(process.target, actor="ops-tester") as ops:
            ops.deploy_rule_set(RULES, comment="client tests")
            active = ops.activate_rule_set(VERSION, reason="client tests")
        assert active.version == VERSION
        yield process
    finally:
        code = process.stop()
    assert code == 0, f"server did not drain cleanly on SIGTERM ({code}):\n{process.log_text()}"


def new_sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:8]}"


def stocked(stock: Callable[..., pb.StockResponse]) -> str:
    """A SKU with more at US-1 than at EU-1 (most_available would pick US-1)."""
    sku = new_sku()
    stock(sku, "EU-1", 5)
    stock(sku, "US-1", 20)
    return sku


def the_day_after(decision: pb.Decision) -> str:
    decided = decision.decided_at.ToDatetime(tzinfo=datetime.UTC)
    return (decided.date() + datetime.timedelta(days=1)).isoformat()


def test_destination_region_picks_the_regions_nearest_location(
    client: Client, stock: Callable[..., pb.StockResponse]
) -> None:
    sku = stocked(stock)
    placed = {
        region: client.reserve([(sku, "", 2)], destination_region=region).reservation.lines[0]
        for region in ("eu-west", "us-east", "")
    }
    assert placed["eu-west"].location == "EU-1"
    assert placed["us-east"].location == "US-1"
    # No destination: no list to follow, the most available location.
    assert placed[""].location == "US-1"


async def test_async_destination_region_and_ship_by(
    aclient: AsyncClient, stock: Callable[..., pb.StockResponse]
) -> None:
    sku = stocked(stock)
    held = await aclient.reserve([(sku, "", 1)], destination_region="eu-west")
    assert [line.location for line in held.reservation.lines] == ["EU-1"]
    reservation_id = held.reservation.reservation_id
    with pytest.raises(Rejected) as refused:
        await aclient.allocate(reservation_id, ship_by="2000-01-01")
    assert refused.value.reason == "CUTOFF_MISSED"
    allocated = await aclient.allocate(reservation_id, ship_by=datetime.date(9999, 12, 31))
    assert allocated.reservation.lines[0].promised_ship_date == the_day_after(allocated.decision)


def test_ship_by_before_the_promise_raises_cutoff_missed_with_its_facts(
    client: Client, stock: Callable[..., pb.StockResponse]
) -> None:
    sku = stocked(stock)
    held = client.reserve([(sku, "EU-1", 2)])
    reservation_id = held.reservation.reservation_id
    with pytest.raises(Rejected) as refused:
        client.allocate(reservation_id, ship_by=datetime.date(2000, 1, 1))
    error = refused.value
    assert error.reason == "CUTOFF_MISSED"
    assert error.facts["location"] == "EU-1"
    assert error.facts["ship_by"] == "2000-01-01"
    assert error.facts["cutoff"] == "00:00"
    assert error.facts["time_zone"] == "UTC"
    assert error.facts["promised"] > "2000-01-01"
    # Refused: the hold stays a hold.
    assert client.get_reservation(reservation_id).state == pb.LINE_STATE_RESERVED

    allocated = client.allocate(reservation_id, ship_by="9999-12-31")
    assert allocated.decision.reason == reasons_pb2.ALLOCATED
    (line,) = allocated.reservation.lines
    assert line.promised_ship_date == the_day_after(allocated.decision)


def test_a_malformed_ship_by_names_the_field_and_a_datetime_is_refused(
    client: Client, stock: Callable[..., pb.StockResponse]
) -> None:
    sku = stocked(stock)
    reservation_id = client.reserve([(sku, "EU-1", 1)]).reservation.reservation_id
    with pytest.raises(InvalidArgument) as invalid:
        client.allocate(reservation_id, ship_by="next week")
    assert "ship_by" in str(invalid.value)
    # A moment is not a day: which day depends on a time zone the caller
    # does not know. Refused before anything is sent.
    with pytest.raises(ValueError, match="ship_by"):
        client.allocate(reservation_id, ship_by=datetime.datetime(2030, 1, 2, tzinfo=datetime.UTC))
    assert client.get_reservation(reservation_id).state == pb.LINE_STATE_RESERVED


def test_ctl_destination_ship_by_and_the_promised_date_in_show(
    server: ServerProcess, tenant: str
) -> None:
    sku = new_sku()
    for location, on_hand, sequence in (("EU-1", "5", "1"), ("US-1", "20", "2")):
        counted = run_ctl(
            server.target,
            "stock",
            "set",
            sku,
            location,
            on_hand,
            "--sequence",
            sequence,
            tenant=tenant,
        )
        assert counted.returncode == 0, counted.stderr
    held = run_ctl(
        server.target,
        "reserve",
        f"{sku}::2",
        f"{sku}:US-1:1",
        "--destination",
        "eu-west",
        "--json",
        tenant=tenant,
    )
    assert held.returncode == 0, held.stderr
    reservation = json.loads(held.stdout)["reservation"]
    assert [line["location"] for line in reservation["lines"]] == ["EU-1", "US-1"]
    reservation_id = reservation["reservationId"]

    late = run_ctl(
        server.target, "allocate", reservation_id, "--ship-by", "2000-01-01", tenant=tenant
    )
    assert late.returncode == 1
    assert "CUTOFF_MISSED" in late.stderr
    assert "ship_by=2000-01-01" in late.stderr

    for bad in ("2026-02-30", "2026-1-2", "tomorrow"):
        usage = run_ctl(server.target, "allocate", reservation_id, "--ship-by", bad, tenant=tenant)
        assert usage.returncode == 2, (bad, usage.stderr)
        assert "--ship-by" in usage.stderr

    allocated = run_ctl(
        server.target,
        "allocate",
        reservation_id,
        "--ship-by",
        "9999-12-31",
        "--json",
        tenant=tenant,
    )
    assert allocated.returncode == 0, allocated.stderr
    decided = datetime.datetime.fromisoformat(json.loads(allocated.stdout)["decision"]["decidedAt"])
    promised = (decided.date() + datetime.timedelta(days=1)).isoformat()

    shown = run_ctl(server.target, "show", reservation_id, tenant=tenant)
    assert shown.returncode == 0, shown.stderr
    rows = shown.stdout.splitlines()
    header = next(row for row in rows if row.startswith("SKU"))
    assert header.split()[-3:] == ["PROMISED", "SHIP", "DATE"]
    lines = {row.split()[1]: row.split() for row in rows if row.startswith(sku)}
    assert lines["EU-1"][2:] == ["2", "ALLOCATED", promised]
    assert lines["US-1"][2:] == ["1", "ALLOCATED", "-"]
