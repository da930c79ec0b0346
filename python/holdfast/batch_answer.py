"""A batch's answer, put together as encoded bytes.

Building one ``OperationResult`` message per operation in Python took most of
a batch call's time; the core now encodes each accepted operation's result
from its views (``Engine.encode_results``). What is only known here is added
as protobuf's merge rule allows: a message field that appears again in the
encoding is merged into the first. So an accepted result gets, appended
after it, a second ``decision`` holding ``committed_at`` (once the commit is
known), and a refusal is encoded from its status here, in the one place
statuses are made (:func:`holdfast.errors.status_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import timestamp_pb2

from holdfast import Outcome, errors
from holdfast.v1 import inventory_pb2 as pb

# The operations answered with a StockResponse (the rest but reserve: a ReservationResponse).
STOCK_OPERATIONS = frozenset({"set_stock", "adjust_stock"})
# BatchResponse.results is field 1, length-delimited: tag byte (1 << 3) | 2.
_RESULTS_TAG = b"\x0a"
_ANSWERS: dict[str, Any] = {
    "reserve": pb.ReserveResponse,
    "reservation": pb.ReservationResponse,
    "stock": pb.StockResponse,
}


def answer_field(kind: str) -> str:
    """Which field of ``OperationResult`` answers an accepted operation of ``kind``."""
    if kind == "reserve":
        return "reserve"
    return "stock" if kind in STOCK_OPERATIONS else "reservation"


class BatchAnswer:
    """One result per operation, in order.

    ``refused`` holds the results of operations refused before any decision
    (their ``error`` set); the decided ones are given by :meth:`decided`.
    """

    def __init__(self, refused: list[pb.OperationResult]) -> None:
        self._refused = refused
        self._parts: list[bytes | None] = [None] * len(refused)
        self._fields: dict[int, str] = {}
        self._outcomes: dict[int, Outcome] = {}

    def decided(
        self,
        indexes: Sequence[int],
        kinds: Sequence[str],
        outcomes: Sequence[Outcome],
        encoded: Sequence[bytes | None],
    ) -> None:
        """The decided operations (at ``indexes``) and what the core encoded for them."""
        for index, kind, outcome, part in zip(indexes, kinds, outcomes, encoded, strict=True):
            self._outcomes[index] = outcome
            if part is None:
                rejection = outcome.rejection
                if rejection is None:  # pragma: no cover (the core always says why)
                    raise AssertionError(f"refused outcome without a rejection: {outcome.reason}")
                error = pb.OperationResult(
                    error=errors.status_of(rejection, rule_version=outcome.rule_version)
                )
                self._parts[index] = error.SerializeToString()
            else:
                self._parts[index] = part
                self._fields[index] = answer_field(kind)

    def reservation_id(self, index: int) -> str:
        return self._outcomes[index].reservation_id or ""

    def encoded(self, committed_at: int | None) -> bytes:
        """The ``BatchResponse``; every accepted decision's ``committed_at``
        becomes ``committed_at`` (unix ms) when given."""
        suffixes: dict[str, bytes] = {}
        if committed_at is not None:
            seconds, millis = divmod(committed_at, 1000)
            stamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)
            for field in _ANSWERS:
                suffixes[field] = self._decision_only(field, pb.Decision(committed_at=stamp))
        pieces: list[bytes] = []
        for index, part in enumerate(self._parts):
            if part is None:
                part = self._refused[index].SerializeToString()
            elif index in self._fields and suffixes:
                part += suffixes[self._fields[index]]
            pieces += (_RESULTS_TAG, _varint(len(part)), part)
        return b"".join(pieces)

    @staticmethod
    def _decision_only(field: str, decision: pb.Decision) -> bytes:
        answer = _ANSWERS[field](decision=decision)
        return pb.OperationResult(**{field: answer}).SerializeToString()


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
