"""The process's one engine, and the seam where durability plugs in.

Servicers never touch :class:`holdfast.Engine` directly: they hand the ledger
a request in the engine's batch-item form and get the core's outcome back.
After every decision the ledger drains the engine's journal. In memory mode
the events are dropped; the durable store replaces :meth:`Ledger._record`
with a group commit and answers only once the events are durable.

Everything here runs on the event loop's thread, one call at a time, so the
engine (which takes ``&mut self``) is never entered twice at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from holdfast import Engine, Outcome
from holdfast.config import Settings

if TYPE_CHECKING:  # names of the stub only
    from holdfast._core import BatchItem, PositionView, ReservationView


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def in_memory(cls, settings: Settings) -> Ledger:
        return cls(
            Engine(
                default_hold_ms=settings.default_hold_seconds * 1000,
                max_hold_ms=settings.max_hold_seconds * 1000,
                idempotency_retention_ms=settings.idempotency_retention_seconds * 1000,
                node_id=settings.node_id,
            )
        )

    @property
    def durable(self) -> bool:
        """Whether an answered decision survives a restart (not yet)."""
        return False

    @property
    def rule_version(self) -> str:
        return self._engine.rule_version

    def decide(self, item: BatchItem) -> Outcome:
        """One request, ``(operation, tenant, key, actor, now, *arguments)``.

        Calls the engine's method of that name directly: a single decision is
        too small to be worth releasing the GIL as the batch call does.
        """
        method = getattr(self._engine, item[0])
        outcome = cast(Outcome, method(*item[1:]))
        self._record()
        return outcome

    def decide_batch(self, items: Sequence[BatchItem]) -> list[Outcome]:
        """Many requests in order, in one crossing into the core."""
        outcomes = self._engine.execute_batch(list(items))
        self._record()
        return outcomes

    def expire_due(self, now: int) -> list[str]:
        """Expire every hold due at ``now``; the expired reservation ids."""
        expired = self._engine.expire_due(now)
        self._record()
        return expired

    # Reads first expire what is due at their ``now``, as every decision
    # does, so a hold past its time is never shown as held.

    def reservation(self, tenant: str, reservation_id: str, now: int) -> ReservationView | None:
        self.expire_due(now)
        return self._engine.reservation(tenant, reservation_id)

    def positions(self, skus: list[str], locations: list[str], now: int) -> list[PositionView]:
        self.expire_due(now)
        return self._engine.positions(skus, locations)

    # Views of what a decision just changed: no expiry in between, so the
    # answer shows the state the decision left.

    def reservation_after(self, tenant: str, reservation_id: str) -> ReservationView | None:
        return self._engine.reservation(tenant, reservation_id)

    def position_after(self, sku: str, location: str) -> PositionView | None:
        return self._engine.position(sku, location)

    def open_holds(self) -> int:
        return self._engine.open_holds()

    def _record(self) -> None:
        # In memory mode the journal is drained and dropped so it does not
        # grow without bound. The durable store replaces this with a write of
        # the drained events, before the caller is answered.
        self._engine.drain_journal()
