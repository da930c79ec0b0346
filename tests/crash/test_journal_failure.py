"""The journal stops taking writes under load; holdfast refuses, reads on, recovers.

End to end, with the driver (crash_driver.py, its own process) reserving all
along: the journal is broken while the server runs, commitments are refused
with UNAVAILABLE / DEPENDENCY_UNAVAILABLE (never acknowledged from memory),
reads are still answered, the journal is mended, commitments resume with no
one restarting anything; then the server is restarted and every answer the
driver saw acknowledged, before, during and after, is checked (crash_cycle).

How the journal is broken, for real (the tests run as root, and root ignores
file modes; a chmod would not stop an open descriptor from writing anyway):

- ``disk_full``: the server's RLIMIT_FSIZE soft limit is lowered to 0 with
  prlimit(2), so every write(2) to a file fails with EFBIG, as on a full disk
  (Python ignores SIGXFSZ). Raising it back mends it. No root needed.
- ``write_lock``: another connection holds the database's write lock
  (``BEGIN EXCLUSIVE``), so the writer's commit times out (SQLITE_BUSY) after
  ``--journal-timeout-seconds``. Rolling back mends it.

The store's own failure tests cover the basics on a single call; this one
checks the whole service under concurrent load.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from crash_cycle import SKUS, TENANT, check_acknowledged
from crash_driver import LOCATION
from crash_harness import PYTHON, DurableServer, read_jsonl
from holdfast.client import Client, HoldfastError, RetryPolicy

DRIVER = Path(__file__).resolve().parent / "crash_driver.py"
ON_HAND = 1_000_000  # plenty: this test is about the journal, not the stock
WAIT = 60.0  # generous on a shared machine
# Rebuilding a few hundred events takes milliseconds; reads may be refused
# (retryable) only while it runs.
READ_WAIT = 15.0
SERVER_FLAGS = ("--journal-probe-seconds", "0.1", "--journal-timeout-seconds", "0.5")


class Fault:
    """How the journal is made unwritable, and mended."""

    def __init__(self, server: DurableServer) -> None:
        self.server = server
        self._lock: sqlite3.Connection | None = None

    def break_disk(self) -> None:
        _, hard = resource.prlimit(self.server.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.server.pid, resource.RLIMIT_FSIZE, (0, hard))

    def mend_disk(self) -> None:
        _, hard = resource.prlimit(self.server.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.server.pid, resource.RLIMIT_FSIZE, (hard, hard))

    def break_lock(self) -> None:
        self._lock = sqlite3.connect(self.server.database, timeout=30, isolation_level=None)
        self._lock.execute("BEGIN EXCLUSIVE")

    def mend_lock(self) -> None:
        assert self._lock is not None
        self._lock.execute("ROLLBACK")
        self._lock.close()
        self._lock = None


FAULTS: dict[str, tuple[Callable[[Fault], None], Callable[[Fault], None]]] = {
    "disk_full": (Fault.break_disk, Fault.mend_disk),
    "write_lock": (Fault.break_lock, Fault.mend_lock),
}


def _until(what: str, check: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


@contextlib.contextmanager
def _driver(server: DurableServer, records: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        PYTHON,
        str(DRIVER),
        "--target",
        server.target,
        "--tenant",
        TENANT,
        "--skus",
        ",".join(SKUS),
        "--records",
        str(records),
        "--workers",
        "6",
        "--duration",
        "120",
        "--call-timeout",
        "10",
    ]
    driver = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        yield driver
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.wait()


def _acks(records: Path) -> int:
    return sum(r["t"] == "ack" for r in read_jsonl(records))


def _refused_for_journal(records: Path) -> int:
    return sum(
        r["t"] == "failed" and r["reason"] == "DEPENDENCY_UNAVAILABLE" for r in read_jsonl(records)
    )


@pytest.mark.parametrize("fault_name", sorted(FAULTS))
def test_commitments_refused_while_journal_unwritable_then_resume(
    tmp_path: Path, fault_name: str
) -> None:
    break_journal, mend_journal = FAULTS[fault_name]
    server = DurableServer(tmp_path / "holdfast.db", tmp_path / "server.log", *SERVER_FLAGS)
    records = tmp_path / "records.jsonl"
    server.start()
    try:
        server.wait_serving()
        fault = Fault(server)
        with Client(server.target, tenant=TENANT, actor="probe", retry=RetryPolicy.never()) as c:
            for sku in SKUS:
                c.set_stock(sku, LOCATION, ON_HAND, source_sequence=1)
            held = c.reserve([(SKUS[0], LOCATION, 1)], hold_seconds=3600)
            held_id = held.reservation.reservation_id
            with _driver(server, records) as driver:
                _until("the driver's first answers", lambda: _acks(records) >= 20)

                break_journal(fault)
                broken_at = _acks(records)
                # A commitment is refused for the journal, with a delay to retry after.
                refusal = _refusal_while_broken(c)
                assert refusal.code == grpc.StatusCode.UNAVAILABLE
                assert refusal.reason == "DEPENDENCY_UNAVAILABLE"
                assert "journal" in refusal.facts.values(), refusal.facts
                assert refusal.retry_after is not None
                # The driver's calls are refused the same way, not acknowledged.
                _until("the driver is refused too", lambda: _refused_for_journal(records) >= 5)
                # Reads go on, from durable state (once the engine is rebuilt
                # from it: until then they too are refused as retryable).
                _until(
                    "reads answered while broken",
                    lambda: _reads_answered(c, held_id),
                    READ_WAIT,
                )
                assert _refused_for_journal(records) >= 5, "mended before the checks"

                mend_journal(fault)
                # Commitments resume by themselves: nobody restarts anything.
                _until("a reserve is accepted again", lambda: _accepted_again(c))
                mended_at = _acks(records)
                _until("the driver is acknowledged again", lambda: _acks(records) > mended_at + 20)
                assert driver.poll() is None, "the driver stopped"
            assert broken_at >= 20
        assert server.stop() == 0, server.log_since_start()

        # Restarted on the same file: everything acknowledged is there.
        server.start()
        server.wait_serving()
        problems, keys, reservations = asyncio.run(
            check_acknowledged(server.target, read_jsonl(records))
        )
        assert not problems, "\n".join(problems[:20])
        assert keys > 40
        assert reservations > 0
    finally:
        with contextlib.suppress(Exception):
            server.stop()


def _refusal_while_broken(client: Client) -> HoldfastError:
    """Reserve until one is refused (the writer may still be finishing a commit)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            client.reserve([(SKUS[1], LOCATION, 1)], hold_seconds=3600, timeout=WAIT)
        except HoldfastError as error:
            if error.reason != "OVERLOADED":
                return error
        time.sleep(0.05)
    raise AssertionError(f"no refusal within {WAIT} s of breaking the journal")


def _reads_answered(client: Client, held_id: str) -> bool:
    try:
        reservation = client.get_reservation(held_id)
        positions = client.get_availability(SKUS, [LOCATION]).positions
    except HoldfastError as error:
        if error.reason != "DEPENDENCY_UNAVAILABLE":
            raise
        return False
    assert reservation.reservation_id == held_id
    assert len(positions) == len(SKUS)
    return True


def _accepted_again(client: Client) -> bool:
    try:
        client.reserve([(SKUS[2], LOCATION, 1)], hold_seconds=3600, timeout=WAIT)
    except HoldfastError as error:
        if error.code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
            raise
        return False
    return True
