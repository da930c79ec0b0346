"""The running service's rule sets: which one decides, and a candidate shadowed beside it.

The core decides everything here (which rule set decides a request, how a
candidate would have decided it, what counts as a divergence); this module
only switches the engine through the ledger and keeps the shadow's tally for
operators (GetShadowReport) and metrics.

Activation is atomic by construction: the engine decides one request at a
time on the event loop's thread (a batch in one crossing into the core), and
the switch is one more call on that thread, so every decision, and every
batch, is made wholly under one version.

The tally: after every decision and batch the ledger hands over the engine's
divergences and the count of decisions newly compared (:meth:`RuleControl.shadowed`);
each divergence is counted by kind and kept as a sample with the request id
of the call that made it. The core keeps no tally across a rebuilt engine (a
failed commit rebuilds it from the journal), so the tally is kept here; the
ledger sets the candidate again on the rebuilt engine before it decides.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from holdfast import clock
from holdfast.interceptors import current_call
from holdfast.metrics import DIVERGENCE_KINDS

if TYPE_CHECKING:
    from holdfast import RuleSet
    from holdfast._core import Divergence
    from holdfast.ledger import Ledger
    from holdfast.metrics import Metrics

# Samples kept for the report, newest first: enough to see the shape of a
# divergence, bounded so a long shadow holds constant memory.
MAX_SAMPLES = 100


class RuleControl:
    """Activation of rule sets and the shadow's tally, for one ledger."""

    def __init__(self, ledger: Ledger, metrics: Metrics | None) -> None:
        self._ledger = ledger
        self._metrics = metrics
        self._candidate: RuleSet | None = None
        self._since_ms: int | None = None
        self._compared = 0
        self._counts = dict.fromkeys(DIVERGENCE_KINDS, 0)
        self._samples: deque[dict[str, Any]] = deque(maxlen=MAX_SAMPLES)
        ledger.shadow_listener = self.shadowed
        if metrics is not None:
            metrics.rule_set_activated(ledger.rule_version)

    # Activation ---------------------------------------------------------------------

    async def activate(self, rules: RuleSet, actor: str, activation: str | None = None) -> bool:
        """Decide with ``rules`` from the next request on (journaled; refused
        like any decision while the journal is failing); False when another
        switch committed first (a shared store). The caller awaits
        ``ledger.settle()`` before answering, as after any decision."""
        committed = await self._ledger.activate_rules_async(
            rules, actor, clock.now_ms(), activation
        )
        if committed and self._metrics is not None:
            self._metrics.rule_set_activated(rules.version)
        return committed

    # The shadow ---------------------------------------------------------------------

    def start_shadow(self, rules: RuleSet) -> None:
        """Decide every new request under ``rules`` too, with no effect; the
        tally starts again from zero."""
        self._ledger.set_shadow(rules)
        self._candidate = rules
        self._since_ms = clock.now_ms()
        self._reset_tally()

    def stop_shadow(self) -> None:
        """Stop shadowing; the tally is kept for the report until the next start."""
        self._ledger.set_shadow(None)
        self._candidate = None

    def shadowed(self, divergences: list[Divergence], compared: int) -> None:
        """The ledger's feed after a decision or batch: the engine's new
        divergences and the count of decisions newly compared."""
        if self._candidate is None:
            return
        self._compared += compared
        if self._metrics is not None:
            self._metrics.shadow_compared(compared)
        if not divergences:
            return
        request_id = current_call().request_id
        at_ms = clock.now_ms()
        for divergence in divergences:
            kind = divergence["kind"]
            self._counts[kind] = self._counts.get(kind, 0) + 1
            self._samples.appendleft(
                {
                    "kind": kind,
                    "action": divergence["action"],
                    "active": divergence["active"],
                    "candidate": divergence["candidate"],
                    "at_ms": at_ms,
                    "request_id": request_id,
                }
            )
            if self._metrics is not None:
                self._metrics.shadow_diverged(kind)

    def report(self) -> dict[str, Any]:
        """The shadow's tally: candidate_version ("" when none), active_version,
        since_ms, compared, counts by kind, samples (newest first)."""
        return {
            "candidate_version": "" if self._candidate is None else self._candidate.version,
            "active_version": self._ledger.rule_version,
            "since_ms": self._since_ms,
            "compared": self._compared,
            "counts": dict(self._counts),
            "samples": [dict(sample) for sample in self._samples],
        }

    def _reset_tally(self) -> None:
        self._compared = 0
        self._counts = dict.fromkeys(DIVERGENCE_KINDS, 0)
        self._samples.clear()
