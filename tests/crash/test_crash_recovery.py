"""SIGKILL under load, restart on the same file: nothing acknowledged is lost.

See crash_cycle.py for what one cycle does and checks. 20 cycles here (about
a minute on two cores); scripts/crash_soak.py runs the same for hundreds.
"""

from __future__ import annotations

from pathlib import Path

from crash_cycle import Campaign

CYCLES = 20


def test_acknowledged_changes_survive_sigkill(tmp_path: Path, crash_seed: int) -> None:
    campaign = Campaign(tmp_path, seed=crash_seed)
    campaign.start()
    acks = reservations = 0
    try:
        for number in range(1, CYCLES + 1):
            result = campaign.cycle(number)
            assert not result.problems, (
                f"cycle {number} (killed {result.kill_after_s:.2f} s into the load, "
                f"seed {crash_seed}):\n" + "\n".join(result.problems[:20])
            )
            acks += result.acks
            reservations += result.reservations_checked
        # Earlier cycles' promises still hold after all the later crashes.
        problems, _, _ = campaign.check_everything()
        assert not problems, "\n".join(problems[:20])
    finally:
        code = campaign.stop()
    assert code == 0, f"server did not drain cleanly on SIGTERM ({code})"
    # The load did what it is for: many answers, many reservations to find.
    assert acks >= CYCLES
    assert reservations >= CYCLES
