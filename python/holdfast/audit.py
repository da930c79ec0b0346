"""The consistency audit: every position's buckets recomputed from the
reservation lines (by the core) and compared with what the position stores.

Run on demand (OperationsService/RunAudit, ``holdfast ctl audit``) and every
``audit_interval_seconds`` by the server. A difference is an exception for a
person to look at: it is counted (holdfast_audit_differences, which an alert
watches) and logged as an ERROR line, never repaired here; stock only ever
changes by a decision.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from holdfast import clock
from holdfast.errors import Refusal
from holdfast.logs import fields

if TYPE_CHECKING:
    from holdfast._core import AuditDifference
    from holdfast.ledger import Ledger
    from holdfast.metrics import Metrics

log = logging.getLogger("holdfast.audit")


@dataclass(frozen=True, slots=True)
class Report:
    audited_at: int  # unix ms
    positions_checked: int
    differences: list[AuditDifference]


def run(ledger: Ledger, metrics: Metrics | None, now: int) -> Report:
    """One audit at ``now``: counted, every difference logged. Raises
    :class:`Refusal` while the engine is being rebuilt from the journal."""
    positions, differences = ledger.audit(now)
    if metrics is not None:
        metrics.audited(len(differences), now)
    for d in differences:
        log.error(
            f"audit: {d['sku']}@{d['location']} stores {d['bucket']}={d['stored']} "
            f"but its reservation lines add up to {d['from_lines']}",
            extra=fields(
                sku=d["sku"],
                location=d["location"],
                bucket=d["bucket"],
                stored=d["stored"],
                from_lines=d["from_lines"],
            ),
        )
    return Report(now, positions, differences)


async def periodically(ledger: Ledger, metrics: Metrics | None, interval_s: float) -> None:
    """Audit every ``interval_s`` seconds until cancelled (0 or less: never)."""
    if interval_s <= 0:
        return
    while True:
        await asyncio.sleep(interval_s)
        try:
            report = run(ledger, metrics, clock.now_ms())
        except Refusal as refusal:
            # The engine is being rebuilt from the journal: audit it next time.
            log.warning(f"audit skipped: {refusal.message}")
            continue
        except Exception:
            log.exception("audit failed")
            continue
        log.info(
            "audit done",
            extra=fields(
                positions_checked=report.positions_checked,
                differences=len(report.differences),
            ),
        )
