"""The values of holdfast's metrics on a live durable server, after calls whose
effect is known: exact decision counts, hold durations by how holds ended,
breaker states and transitions, the group commit, the build, OVERCOMMITTED
positions and operator actions. Counters are compared before and after, so
each test counts only what it did (the tests of this module share a server
and run one after another)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from holdfast.client import Client, OperationsClient, Rejected
from holdfast.v1 import reasons_pb2
from metrics_support import MetricsServer, unique
from scrape import Samples, eventually, scrape, value
from serverproc import run_ctl

SKU_LOCATION = "DC1"
BREAKER = "feasibility"
ENDINGS = ("allocated", "released", "expired")

_sequence = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsServer]:
    process = MetricsServer(tmp_path_factory.mktemp("metric-values")).start()
    try:
        yield process
    finally:
        assert process.stop() == 0, process.log_text()


@pytest.fixture
def tenant() -> str:
    return unique("t")


@pytest.fixture
def shop(server: MetricsServer, tenant: str) -> Iterator[Client]:
    with Client(server.target, tenant=tenant, actor="checkout") as made:
        yield made


@pytest.fixture
def ops(server: MetricsServer) -> Iterator[OperationsClient]:
    with OperationsClient(server.target, tenant=unique("ops"), actor="ops-alice") as made:
        yield made


def stocked(shop: Client, on_hand: int) -> str:
    sku = unique("sku")
    shop.set_stock(sku, SKU_LOCATION, on_hand, source_sequence=next(_sequence))
    return sku


def hold(shop: Client, sku: str, quantity: int, hold_seconds: int = 0) -> str:
    held = shop.reserve([(sku, SKU_LOCATION, quantity)], hold_seconds=hold_seconds)
    return held.reservation.reservation_id


def number(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a series not there yet (a labelled counter
    appears at its first increment)."""
    found = value(samples, name, **labels)
    return 0.0 if found is None else found


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return number(after, name, **labels) - number(before, name, **labels)


def decisions(action: str, outcome: str, reason: str) -> dict[str, str]:
    return {"action": action, "outcome": outcome, "reason": reason}


def test_allocate_and_release_decisions_are_counted_exactly(
    server: MetricsServer, shop: Client
) -> None:
    sku = stocked(shop, 100)
    first, second, third = (hold(shop, sku, 2) for _ in range(3))
    before = scrape(server.metrics_url)
    shop.allocate(first)
    shop.allocate(second)
    shop.release(third)
    shop.release(first)  # an allocation given back
    with pytest.raises(Rejected) as refused:
        shop.allocate(third)  # released already
    replayed_key = unique("k")
    shop.release(second, idempotency_key=replayed_key)
    assert shop.release(second, idempotency_key=replayed_key).decision.replayed
    name = "holdfast_decisions_total"
    released = decisions("release", "accepted", "RELEASED")
    after = eventually(server.metrics_url, lambda s: delta(before, s, name, **released) >= 3)
    assert delta(before, after, name, **decisions("allocate", "accepted", "ALLOCATED")) == 2
    assert delta(before, after, name, **released) == 3
    reason = refused.value.reason
    assert delta(before, after, name, **decisions("allocate", "rejected", reason)) == 1
    assert delta(before, after, "holdfast_idempotent_replays_total", action="release") == 1
    # Two holds ended allocated, one released; giving back the two
    # allocations ended no hold (theirs had ended when they were allocated).
    counts = {
        e: delta(before, after, "holdfast_hold_duration_seconds_count", ended=e) for e in ENDINGS
    }
    assert counts == {"allocated": 2, "released": 1, "expired": 0}


def test_an_expired_hold_is_observed_for_its_hold_time(server: MetricsServer, shop: Client) -> None:
    sku = stocked(shop, 10)
    before = scrape(server.metrics_url)
    hold(shop, sku, 1, hold_seconds=1)
    after = eventually(
        server.metrics_url,
        lambda s: delta(before, s, "holdfast_hold_duration_seconds_count", ended="expired") >= 1,
    )
    counts = {
        e: delta(before, after, "holdfast_hold_duration_seconds_count", ended=e) for e in ENDINGS
    }
    assert counts == {"allocated": 0, "released": 0, "expired": 1}
    # An expired hold lasted its hold time exactly: it ended when it was due,
    # whenever the sweep noticed.
    assert delta(before, after, "holdfast_hold_duration_seconds_sum", ended="expired") == 1.0
    assert delta(before, after, "holdfast_holds_expired_total") == 1
    bucket = {"ended": "expired", "le": "1.0"}
    assert delta(before, after, "holdfast_hold_duration_seconds_bucket", **bucket) == 1


def breaker_state(samples: Samples) -> dict[str, float]:
    states = ("CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN", "DISABLED")
    return {
        state: number(samples, "holdfast_circuit_breaker_state", breaker=BREAKER, state=state)
        for state in states
    }


def transitions(before: Samples, after: Samples, from_state: str, to_state: str) -> float:
    labels = {"breaker": BREAKER, "from_state": from_state, "to_state": to_state}
    return delta(before, after, "holdfast_circuit_breaker_transitions_total", **labels)


def test_a_forced_breaker_shows_in_its_state_and_transitions(
    server: MetricsServer, ops: OperationsClient
) -> None:
    before = scrape(server.metrics_url)
    assert breaker_state(before)["CLOSED"] == 1
    ops.set_circuit_breaker(BREAKER, "force_open", reason="metrics drill")
    forced = scrape(server.metrics_url)
    assert breaker_state(forced) == {
        "CLOSED": 0, "OPEN": 0, "HALF_OPEN": 0, "FORCED_OPEN": 1, "DISABLED": 0,
    }  # fmt: skip
    assert transitions(before, forced, "CLOSED", "FORCED_OPEN") == 1

    done = run_ctl(
        server.target, "breakers", "reset", BREAKER, "--reason", "drill over", actor="ops-bob"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    reset = scrape(server.metrics_url)
    assert breaker_state(reset)["CLOSED"] == 1
    assert sum(breaker_state(reset).values()) == 1
    assert transitions(forced, reset, "FORCED_OPEN", "CLOSED") == 1
    # A reset of a CLOSED breaker is an operator transition (it empties the
    # window): counted CLOSED -> CLOSED, as docs/metrics.md says.
    ops.set_circuit_breaker(BREAKER, "reset", reason="belt and braces")
    again = scrape(server.metrics_url)
    assert transitions(reset, again, "CLOSED", "CLOSED") == 1
    actions = "holdfast_operator_actions_total"
    assert delta(before, again, actions, action="breaker.force_open", outcome="OK") == 1
    assert delta(before, again, actions, action="breaker.reset", outcome="OK") == 2


def test_group_commits_count_every_decided_call(server: MetricsServer, shop: Client) -> None:
    calls = 5
    before = scrape(server.metrics_url)
    sku = unique("sku")
    for on_hand in range(calls):
        shop.set_stock(sku, SKU_LOCATION, on_hand, source_sequence=next(_sequence))
    size = "holdfast_journal_group_commit_calls"
    after = eventually(server.metrics_url, lambda s: delta(before, s, f"{size}_sum") >= calls)
    # Every call's decisions were made durable by one transaction, once.
    assert delta(before, after, f"{size}_sum") == calls
    transactions = delta(before, after, f"{size}_count")
    assert transactions >= 1
    duration = "holdfast_journal_group_commit_duration_seconds"
    assert delta(before, after, f"{duration}_count") == transactions
    assert delta(before, after, f"{duration}_sum") > 0
    assert delta(before, after, "holdfast_journal_commit_transactions_total") == transactions


def test_build_info_is_one_with_the_version(server: MetricsServer) -> None:
    samples = scrape(server.metrics_url)
    builds = {labels: v for (name, labels), v in samples.items() if name == "holdfast_build_info"}
    assert len(builds) == 1, builds
    [(labels, one)] = builds.items()
    assert one == 1
    version = dict(labels)["version"]
    assert version, labels
    assert version != "unknown", labels


def test_a_count_below_what_is_held_opens_an_overcommitted_exception(
    server: MetricsServer, shop: Client
) -> None:
    sku = stocked(shop, 10)
    hold(shop, sku, 6)
    assert number(scrape(server.metrics_url), "holdfast_overcommitted_positions") == 0
    counted = shop.set_stock(sku, SKU_LOCATION, 4, source_sequence=next(_sequence))
    assert counted.decision.reason == reasons_pb2.OVERCOMMITTED
    opened = eventually(
        server.metrics_url, lambda s: number(s, "holdfast_overcommitted_oldest_age_seconds") > 0
    )
    assert number(opened, "holdfast_overcommitted_positions") == 1
    assert number(opened, "holdfast_overcommitted_oldest_age_seconds") > 0
    shop.set_stock(sku, SKU_LOCATION, 10, source_sequence=next(_sequence))
    fixed = scrape(server.metrics_url)
    assert number(fixed, "holdfast_overcommitted_positions") == 0
    assert number(fixed, "holdfast_overcommitted_oldest_age_seconds") == 0


def test_overrides_are_counted_as_operator_actions(
    server: MetricsServer, shop: Client, ops: OperationsClient, tenant: str
) -> None:
    sku = stocked(shop, 10)
    held = hold(shop, sku, 3)
    before = scrape(server.metrics_url)
    ops.override_release(held, tenant=tenant, reason="stuck checkout")
    ops.override_adjust(sku, SKU_LOCATION, -2, reason="water damage")
    after = scrape(server.metrics_url)
    actions = "holdfast_operator_actions_total"
    assert delta(before, after, actions, action="override.release", outcome="RELEASED") == 1
    assert delta(before, after, actions, action="override.adjust", outcome="STOCK_ADJUSTED") == 1
    # The operator's release ended the hold like the storefront's would.
    assert delta(before, after, "holdfast_hold_duration_seconds_count", ended="released") == 1
