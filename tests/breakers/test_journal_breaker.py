"""The journal circuit breaker, end to end: a real server on a real SQLite file,
the journal made slow or unwritable by holding its write lock from the test.

Each test follows the breaker round: it opens after its window (slow calls,
or failed ones), calls are then refused at once with DEPENDENCY_UNAVAILABLE
naming the breaker and its state, with a retry delay; gRPC health says
NOT_SERVING and /readyz 503 while it is OPEN; after its wait it is HALF_OPEN
by itself (health SERVING again), probes pass once the journal is well, and
it closes. Then the server is killed and restarted on the same file: every
acknowledged reservation is there, and nothing refused is.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
from breaker_support import (
    NOT_SERVING,
    SERVING,
    WAIT_S,
    BreakerServer,
    WriteLock,
    all_there,
    health,
    journal_refusal,
    reserve,
    reserved_units,
    set_stock,
    unique,
    wait_until,
)
from holdfast.v1 import inventory_pb2_grpc

CLOSES = ("HALF_OPEN", "CLOSED", "probes_passed")


class Round:
    """What the test's calls were told: reservation ids acknowledged, keys refused."""

    def __init__(self, stub: inventory_pb2_grpc.InventoryServiceStub, sku: str) -> None:
        self.stub = stub
        self.sku = sku
        self.acknowledged: dict[str, str] = {}  # reservation id -> key
        self.refused: list[str] = []

    def reserve(self, prefix: str) -> dict[str, str] | None:
        """One Reserve of one unit: None when acknowledged, else the refusal's facts."""
        key = unique(prefix)
        try:
            answer = self.stub.Reserve(reserve(self.sku, key), timeout=WAIT_S)
        except grpc.RpcError as e:
            facts = journal_refusal(e)
            self.refused.append(key)
            return facts
        self.acknowledged[answer.reservation.reservation_id] = key
        return None


def _is_open(server: BreakerServer, channel: grpc.Channel, cause: str) -> None:
    """The breaker just opened: health, /readyz and /healthz say so."""
    wait_until("the breaker to open", lambda: ("CLOSED", "OPEN", cause) in server.transitions())
    for service in ("", "holdfast.v1.InventoryService"):
        assert health(channel, service) == NOT_SERVING
    assert server.http("/readyz") == (503, "journal breaker OPEN\n")
    assert server.http("/healthz") == (200, "ok\n")  # alive, only not ready


def _closes(server: BreakerServer, channel: grpc.Channel, calls: Round) -> None:
    """HALF_OPEN after the wait with no call needed, then probes until CLOSED."""
    wait_until("SERVING again after the wait", lambda: health(channel) == SERVING)
    assert ("OPEN", "HALF_OPEN", "wait_elapsed") in server.transitions()
    assert server.http("/readyz") == (200, "ready\n")

    def probe() -> bool:
        calls.reserve("probe")  # refused (and counted) while the journal still recovers
        return CLOSES in server.transitions()

    wait_until("the probes to close it", probe)
    assert health(channel, "") == SERVING
    assert server.http("/readyz")[0] == 200
    assert calls.reserve("after") is None


def _nothing_lost(server: BreakerServer, calls: Round) -> None:
    """Killed (no drain, no snapshot) and restarted on the same file."""
    server.kill()
    server.start()
    with grpc.insecure_channel(server.target) as channel:
        stub = server.stub(channel)
        all_there(stub, calls.acknowledged)
        assert reserved_units(stub, calls.sku) == len(calls.acknowledged)
        for key in calls.refused:  # never durable: the key decides anew
            again = stub.Reserve(reserve(calls.sku, key), timeout=WAIT_S)
            assert not again.decision.replayed


def test_a_slow_journal_opens_the_breaker_and_probes_close_it(tmp_path: Path) -> None:
    # Commits wait for the lock (well within the timeout): slow, not failed.
    server = BreakerServer(tmp_path, "--journal-timeout-seconds", "10").start()
    try:
        with grpc.insecure_channel(server.target) as channel:
            calls = Round(server.stub(channel), unique("sku"))
            calls.stub.SetStock(set_stock(calls.sku, 1000), timeout=WAIT_S)
            assert calls.reserve("fast") is None

            with WriteLock(server.database):
                keys = [unique("slow") for _ in range(4)]
                waiting = [calls.stub.Reserve.future(reserve(calls.sku, k)) for k in keys]
                wait_until(
                    "four calls waiting for their commit",
                    lambda: server.metric("holdfast_journal_commit_queue_depth") >= 4,
                )
                time.sleep(0.3)  # the fault itself: commits 300 ms late (slow: > 100 ms)
            for key, answer in zip(keys, waiting, strict=True):
                # Slow, yet acknowledged: the breaker judges, it never undoes.
                calls.acknowledged[answer.result(timeout=WAIT_S).reservation.reservation_id] = key

            _is_open(server, channel, "slow_call_rate")
            facts = calls.reserve("refused")
            assert facts is not None
            assert facts["state"] == "OPEN", facts
            _closes(server, channel, calls)
        _nothing_lost(server, calls)
    finally:
        server.kill()


def test_a_failing_journal_opens_the_breaker_probes_reopen_it_until_it_recovers(
    tmp_path: Path,
) -> None:
    server = BreakerServer(
        tmp_path, "--journal-timeout-seconds", "0.3", "--journal-probe-seconds", "0.1"
    ).start()
    try:
        with grpc.insecure_channel(server.target) as channel:
            calls = Round(server.stub(channel), unique("sku"))
            calls.stub.SetStock(set_stock(calls.sku, 1000), timeout=WAIT_S)
            for _ in range(2):
                assert calls.reserve("before") is None

            with WriteLock(server.database):
                # The first commit times out; the calls after it find the
                # journal failing; each is a failure until the breaker opens.
                seen: list[str] = []

                def refused_by_open_breaker() -> bool:
                    facts = calls.reserve("down")
                    assert facts is not None, "acknowledged while the journal is locked"
                    seen.append(facts["state"])
                    return facts["state"] == "OPEN"

                wait_until("a refusal by the OPEN breaker", refused_by_open_breaker)
                assert seen[0] == "CLOSED", seen  # the commit that failed
                assert len(seen) <= 6, seen
                _is_open(server, channel, "failure_rate")

                # HALF_OPEN by itself; its probes fail (the journal is still
                # locked) and open it again.
                wait_until("HALF_OPEN after the wait", lambda: health(channel) == SERVING)
                for _ in range(2):
                    facts = calls.reserve("probe")
                    assert facts is not None
                    assert facts["state"] in ("HALF_OPEN", "OPEN"), facts
                wait_until(
                    "the failed probes to reopen it",
                    lambda: ("HALF_OPEN", "OPEN", "failure_rate") in server.transitions(),
                )
                wait_until("NOT_SERVING again", lambda: health(channel) == NOT_SERVING)

            _closes(server, channel, calls)
        _nothing_lost(server, calls)
        assert len(calls.refused) >= 4
    finally:
        server.kill()
