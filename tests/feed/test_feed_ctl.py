"""``holdfast ctl history`` and ``holdfast ctl watch`` end to end, as real
processes against a real durable server."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time

from feed_harness import REPO, DurableServer

CTL = [sys.executable, "-m", "holdfast", "ctl"]


def ctl(server: DurableServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CTL, "--target", server.target, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_history_lists_a_reservations_events(fresh_server: DurableServer) -> None:
    with fresh_server.client("shop", actor="clerk") as client:
        client.set_stock("SKU-H", "L1", 5, source_sequence=1)
        held = client.reserve([("SKU-H", "", 2)], idempotency_key="order-7")
        reservation_id = held.reservation.reservation_id
        client.release(reservation_id, idempotency_key="cancel-7")

    shown = ctl(fresh_server, "--tenant", "shop", "history", reservation_id)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["SEQ", "AT", "KIND", "ACTOR", "REASON", "KEY", "RULE", "NOTE"]
    assert [line.split()[0] for line in lines[1:]] == ["2", "3"]
    rule = held.decision.rule_version
    assert lines[1].split()[2:] == ["hold_placed", "clerk", "RESERVED", "order-7", rule, "-"]
    assert lines[2].split()[2:] == ["lines_moved", "clerk", "RELEASED", "cancel-7", rule, "-"]

    as_json = ctl(fresh_server, "--tenant", "shop", "history", reservation_id, "--json")
    assert as_json.returncode == 0, as_json.stderr
    events = json.loads(as_json.stdout)["events"]
    assert [e["kind"] for e in events] == ["hold_placed", "lines_moved"]
    assert [e["sequence"] for e in events] == ["2", "3"]  # uint64 is a JSON string

    # Not this tenant's: refused, exit 1.
    other = ctl(fresh_server, "--tenant", "other", "history", reservation_id)
    assert other.returncode == 1
    assert "RESERVATION_NOT_FOUND" in other.stderr or "not found" in other.stderr


def test_watch_prints_events_as_they_commit(fresh_server: DurableServer) -> None:
    with fresh_server.client("shop") as client:
        client.set_stock("SKU-V", "L1", 5, source_sequence=1, idempotency_key="count-1")
        watcher = subprocess.Popen(
            [*CTL, "--target", fresh_server.target, "watch", "--from", "1"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            first = read_lines(watcher, 2)  # the banner and the count
            client.reserve([("SKU-V", "", 1)], idempotency_key="hold-1")
            second = read_lines(watcher, 1)
        finally:
            watcher.kill()
            watcher.wait(timeout=30)
    assert first[0].startswith("watching from sequence 1")
    assert first[1].split()[0] == "1"
    assert first[1].split()[2] == "stock_counted"
    assert first[1].split()[-1] == "count-1"
    assert second[0].split()[0] == "2"
    assert second[0].split()[2] == "hold_placed"
    assert second[0].split()[-1] == "hold-1"


def read_lines(process: subprocess.Popen[str], count: int, timeout: float = 30.0) -> list[str]:
    """The next ``count`` lines the process prints, waiting at most ``timeout``."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"printed only {lines} (exit {process.poll()})"
        try:
            line = _output(process).get(timeout=left)
        except queue.Empty:
            continue
        assert line is not None, f"ended after {lines} (exit {process.poll()})"
        lines.append(line.rstrip("\n"))
    return lines


_outputs: dict[int, queue.Queue[str | None]] = {}


def _output(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The process's stdout lines, read by a thread (None once it closes)."""
    if process.pid not in _outputs:
        lines: queue.Queue[str | None] = queue.Queue()
        stdout = process.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        _outputs[process.pid] = lines
    return _outputs[process.pid]
