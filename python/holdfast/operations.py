"""holdfast.v1.OperationsService: breakers, the audit, overrides, the operator log.

Every mutating call needs an actor (not "anonymous") and a reason, and is
recorded: in the operator log, the log, a metric, and (for overrides of
reservations and stock) the journal's history like any decision.
"""

# The method names are the proto's RPC names.
# ruff: noqa: N802

from __future__ import annotations

from typing import TYPE_CHECKING

from holdfast.v1 import operations_pb2_grpc

if TYPE_CHECKING:
    from holdfast.breakers import Breakers
    from holdfast.config import Settings
    from holdfast.ledger import Ledger
    from holdfast.metrics import Metrics


class OperationsServicer(operations_pb2_grpc.OperationsServiceServicer):
    def __init__(
        self, ledger: Ledger, breakers: Breakers, settings: Settings, metrics: Metrics | None
    ) -> None:
        self._ledger = ledger
        self._breakers = breakers
        self._settings = settings
        self._metrics = metrics
