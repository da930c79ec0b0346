"""The long crash run: the CI crash test's kill/restart cycle, many times over.

    .venv/bin/python scripts/crash_soak.py [--cycles 200] [--seed N] [--workdir DIR]

Slow on purpose (about 3 s a cycle on two cores), so it is not part of the
test run (pytest collects tests/ only). Each cycle is tests/crash/crash_cycle.py's:
load from a separate driver process, SIGKILL the server at a random moment,
``PRAGMA integrity_check`` on the file as the kill left it, restart on the
same file, check every acknowledged answer (state, replay, no double
decision, no oversell). At the end every answer of every cycle is checked
once more against the last server. Prints one line per cycle and a summary;
exits 1 if any check failed (the work directory is then kept).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "crash"))

from crash_cycle import Campaign, CycleResult


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary one")
    parser.add_argument("--workers", type=int, default=8, help="driver's concurrent workers")
    parser.add_argument("--max-kill-delay", type=float, default=1.0, help="seconds")
    options = parser.parse_args(argv)

    seed = options.seed if options.seed is not None else random.randrange(2**32)
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="holdfast-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"seed {seed}, {options.cycles} cycles, work directory {workdir}", flush=True)

    campaign = Campaign(
        workdir, seed=seed, workers=options.workers, max_kill_delay=options.max_kill_delay
    )
    began = time.monotonic()
    results: list[CycleResult] = []
    failed_cycles: list[int] = []
    campaign.start()
    try:
        for number in range(1, options.cycles + 1):
            result = campaign.cycle(number)
            results.append(result)
            verdict = "ok" if not result.problems else f"FAILED ({len(result.problems)})"
            print(
                f"cycle {number:4d}: killed after {result.kill_after_s:.2f} s, "
                f"{result.acks} acks / {result.sent} sent / {result.failed} failed, "
                f"{result.reservations_checked} reservations and {result.keys_replayed} keys "
                f"checked, restart {result.restart_s:.2f} s, integrity {result.integrity}: "
                f"{verdict}",
                flush=True,
            )
            for problem in result.problems[:10]:
                print(f"    {problem}", flush=True)
            if result.problems:
                failed_cycles.append(number)
        final_problems, final_keys, final_reservations = campaign.check_everything()
    finally:
        code = campaign.stop()

    elapsed = time.monotonic() - began
    restarts = [r.restart_s for r in results]
    print()
    print(f"crash soak summary (seed {seed})")
    print(f"  cycles: {len(results)} run, {len(results) - len(failed_cycles)} passed")
    if failed_cycles:
        print(f"  failed cycles: {failed_cycles}")
    print(
        f"  calls: {sum(r.sent for r in results)} sent, {sum(r.acks for r in results)} "
        f"acknowledged, {sum(r.failed for r in results)} failed (killed under them)"
    )
    print(
        f"  after each restart: {sum(r.reservations_checked for r in results)} reservation "
        f"states and {sum(r.keys_replayed for r in results)} key replays checked"
    )
    print(f"  integrity_check ok: {sum(r.integrity == 'ok' for r in results)}/{len(results)}")
    if restarts:
        print(
            f"  restart to SERVING: median {statistics.median(restarts):.2f} s, "
            f"max {max(restarts):.2f} s"
        )
    print(
        f"  final check of every cycle's answers: {final_reservations} reservations, "
        f"{final_keys} keys, {len(final_problems)} problems"
    )
    for problem in final_problems[:10]:
        print(f"    {problem}")
    print(f"  graceful stop exit code: {code}")
    print(f"  elapsed: {elapsed:.0f} s")
    ok = not failed_cycles and not final_problems and code == 0
    print("  result: PASSED" if ok else f"  result: FAILED (work directory kept: {workdir})")
    if ok and options.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
