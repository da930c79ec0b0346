"""Kill/restart cycles and the checks after each: shared by the CI test and the soak.

One cycle: the driver (its own process, crash_driver.py) loads the running
server; after a random delay the server is SIGKILLed; the database as the
kill left it must pass ``PRAGMA integrity_check``; the server restarts on the
same file (start-up replays the journal and checks the engine's invariants,
and says so in its log); then everything the driver saw acknowledged is
checked against the restarted server:

- every acknowledged reservation exists, in the state its last acknowledged
  action left it in, or the state of an action sent after that whose answer
  the kill swallowed (it may or may not have committed);
- each acknowledged key, sent again with the same request, answers the same
  outcome (reservation id, reason; refusals also their facts), and an
  accepted one says ``replayed``;
- no key was decided twice (two first-time answers for one key);
- nothing is oversold: every position has ``available >= 0`` and its
  commitments within ``on_hand``.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crash_driver import LOCATION, STATE_AFTER, call
from crash_harness import PYTHON, DurableServer, integrity_check, read_jsonl
from holdfast.client import AsyncClient, Client, HoldfastError, NotFound
from holdfast.v1 import inventory_pb2 as pb

DRIVER = Path(__file__).resolve().parent / "crash_driver.py"
TENANT = "crash"
SKUS = ("SKU-A", "SKU-B", "SKU-C")
ON_HAND = 60
DRIVER_EXIT_TIMEOUT = 60.0
FIRST_ACK_TIMEOUT = 60.0
CHECK_CONCURRENCY = 32


@dataclass
class CycleResult:
    cycle: int
    kill_after_s: float
    sent: int
    acks: int
    failed: int
    keys_replayed: int
    reservations_checked: int
    integrity: str
    restart_s: float
    replay_log: str
    problems: list[str] = field(default_factory=list)


def _same_outcome(first: Mapping[str, Any], again: Mapping[str, Any]) -> bool:
    same = (
        first["accepted"] == again["accepted"]
        and first["reservation_id"] == again["reservation_id"]
        and first["reason"] == again["reason"]
    )
    return same and (first["accepted"] or first["facts"] == again["facts"])


def _brief(record: Mapping[str, Any]) -> str:
    keys = ("op", "key", "accepted", "reservation_id", "reason", "replayed", "facts")
    return str({k: record.get(k) for k in keys})


def expected_states(records: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    """For each acknowledged reservation, the states the server may show it in.

    A worker acts on its own reservations one call at a time, so after the
    last acknowledged action at most the calls sent since (unanswered) may
    have happened too.
    """
    acked = {r["key"] for r in records if r["t"] == "ack"}
    allowed: dict[str, set[str]] = {}
    for r in records:
        op = r["op"]
        if r["t"] == "failed":
            continue  # its "sent" line says all there is to say
        if op == "reserve":
            if r["t"] == "ack" and r["accepted"] and not r["replayed"]:
                allowed[r["reservation_id"]] = {STATE_AFTER[op]}
            continue
        if op not in STATE_AFTER:
            continue
        rid = r["args"]["reservation_id"]
        if rid not in allowed:
            continue
        if r["t"] == "ack" and r["accepted"] and not r["replayed"]:
            allowed[rid] = {STATE_AFTER[op]}
        elif r["t"] == "sent" and r["key"] not in acked:
            allowed[rid].add(STATE_AFTER[op])
    return allowed


def first_answers(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Each acknowledged key's first answer, and problems among the answers seen."""
    first: dict[str, Any] = {}
    decided: dict[str, int] = {}
    problems: list[str] = []
    for r in records:
        if r["t"] != "ack":
            continue
        key = r["key"]
        if r["accepted"] and not r["replayed"]:
            decided[key] = decided.get(key, 0) + 1
            if decided[key] == 2:
                problems.append(f"key decided twice: {_brief(r)}")
        seen = first.setdefault(key, r)
        if seen is not r and not _same_outcome(seen, r):
            problems.append(f"key answered differently: {_brief(seen)} then {_brief(r)}")
    return first, problems


async def check_acknowledged(
    target: str,
    records: Sequence[Mapping[str, Any]],
    *,
    tenant: str = TENANT,
    skus: Sequence[str] = SKUS,
) -> tuple[list[str], int, int]:
    """Check the server against the records; (problems, keys replayed, reservations checked)."""
    first, problems = first_answers(records)
    allowed = expected_states(records)
    gate = asyncio.Semaphore(CHECK_CONCURRENCY)
    async with AsyncClient(target, tenant=tenant, actor="crash-check", timeout=60.0) as client:

        async def check_state(rid: str, states: set[str]) -> None:
            async with gate:
                try:
                    reservation = await client.get_reservation(rid)
                except NotFound:
                    problems.append(f"acknowledged reservation {rid} is gone")
                    return
            state = pb.LineState.Name(reservation.state).removeprefix("LINE_STATE_")
            if state not in states:
                problems.append(f"reservation {rid} is {state}, expected one of {sorted(states)}")

        async def check_replay(key: str, record: Mapping[str, Any]) -> None:
            async with gate:
                try:
                    again = await call(client, record["op"], key, record["args"])
                except HoldfastError as error:
                    problems.append(f"replay of {_brief(record)} failed: {error.code} {error}")
                    return
            if not _same_outcome(record, again):
                problems.append(f"replay differs: {_brief(record)} now {_brief(again)}")
            elif again["accepted"] and not again["replayed"]:
                problems.append(f"replay decided again (was lost): {_brief(record)}")

        await asyncio.gather(
            *(check_state(rid, states) for rid, states in allowed.items()),
            *(check_replay(key, record) for key, record in first.items()),
        )
        answer = await client.get_availability(list(skus), [LOCATION])
    for position in answer.positions:
        committed = position.reserved + position.allocated + position.picked + position.safety_stock
        if position.available < 0 or committed > position.on_hand:
            problems.append(f"oversold: {position}")
        if position.HasField("overcommitted_since"):
            problems.append(f"overcommitted: {position}")
    if len(answer.positions) != len(skus):
        problems.append(f"positions missing: {answer.positions}")
    return problems, len(first), len(allowed)


def _normalise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Driver states are LineState names; the checks compare short names.
    for r in records:
        if r.get("state"):
            r["state"] = r["state"].removeprefix("LINE_STATE_")
    return records


def replay_log_line(server: DurableServer) -> str:
    """The start-up log line that reports the journal replay ("" when none)."""
    for record in server.log_records():
        if "replay" in str(record.get("msg", "")).lower():
            return str(record.get("msg"))
    return ""


class Campaign:
    """A server on one database file, killed and restarted cycle after cycle."""

    def __init__(
        self,
        workdir: Path,
        *,
        seed: int,
        workers: int = 8,
        max_kill_delay: float = 1.0,
        snapshot_every: int = 1000,
    ) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.workers = workers
        self.max_kill_delay = max_kill_delay
        self.database = workdir / "holdfast.db"
        # Snapshots now and then, so restarts load one and replay what follows.
        self.server = DurableServer(
            self.database, workdir / "server.log", "--snapshot-every-events", str(snapshot_every)
        )
        self.records: list[dict[str, Any]] = []

    def start(self) -> None:
        """First start on a fresh file, and the warehouse's first count."""
        self.server.start()
        self.server.wait_serving()
        with Client(self.server.target, tenant=TENANT, actor="warehouse", timeout=60.0) as c:
            for sku in SKUS:
                c.set_stock(sku, LOCATION, ON_HAND, source_sequence=1)

    def cycle(self, number: int) -> CycleResult:
        path = self.workdir / f"records-{number:04d}.jsonl"
        driver = subprocess.Popen(
            [
                PYTHON,
                str(DRIVER),
                "--target",
                self.server.target,
                "--tenant",
                TENANT,
                "--skus",
                ",".join(SKUS),
                "--records",
                str(path),
                "--workers",
                str(self.workers),
                "--seed",
                str(self.rng.getrandbits(32)),
                "--restock-by",
                str(ON_HAND // 2),
                "--stop-when-gone",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_first_ack(path, driver)
            kill_after = self.rng.uniform(0.0, self.max_kill_delay)
            time.sleep(kill_after)
            self.server.kill()
            output, _ = driver.communicate(timeout=DRIVER_EXIT_TIMEOUT)
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait()
        if driver.returncode != 0:
            raise RuntimeError(f"driver failed ({driver.returncode}):\n{output.decode()}")
        integrity = integrity_check(self.database, self.workdir / "scratch")
        self.server.start()
        restart_s = self.server.wait_serving()
        records = _normalise(read_jsonl(path))
        self.records.extend(records)
        problems, replayed, checked = asyncio.run(check_acknowledged(self.server.target, records))
        if integrity != "ok":
            problems.insert(0, f"integrity_check: {integrity}")
        replay_log = replay_log_line(self.server)
        if not replay_log:
            problems.append("no start-up log line about the journal replay")
        return CycleResult(
            cycle=number,
            kill_after_s=kill_after,
            sent=sum(r["t"] == "sent" for r in records),
            acks=sum(r["t"] == "ack" for r in records),
            failed=sum(r["t"] == "failed" for r in records),
            keys_replayed=replayed,
            reservations_checked=checked,
            integrity=integrity,
            restart_s=restart_s,
            replay_log=replay_log,
            problems=problems,
        )

    def check_everything(self) -> tuple[list[str], int, int]:
        """Every record of every cycle, against the server as it is now."""
        return asyncio.run(check_acknowledged(self.server.target, self.records))

    def stop(self) -> int:
        return self.server.stop()

    def _wait_first_ack(self, path: Path, driver: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + FIRST_ACK_TIMEOUT
        while time.monotonic() < deadline:
            if path.exists() and '"t":"ack"' in path.read_text():
                return
            if driver.poll() is not None:
                out = driver.stdout.read().decode() if driver.stdout else ""
                raise RuntimeError(f"driver exited before any answer:\n{out}")
            time.sleep(0.01)
        raise RuntimeError(f"no acknowledged call within {FIRST_ACK_TIMEOUT} s")
