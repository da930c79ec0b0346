"""holdfast.v1.InventoryService: convert, ask the ledger, convert back.

Each method is thin on purpose. The decision is the core's, the identity and
the request id are the interceptor's, the refusal's status is errors.py's.
"""

# The method names are the proto's RPC names.
# ruff: noqa: N802

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from google.protobuf.message import Message
from grpc.aio import ServicerContext as Context

from holdfast import MAX_BATCH, Outcome, Rejection, clock, convert, errors, is_reservation_id
from holdfast.errors import Refusal
from holdfast.interceptors import current_call
from holdfast.ledger import Ledger
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc

if TYPE_CHECKING:
    from holdfast.convert import ItemBuilder

# The response each operation of a batch answers with (the unary call's).
_STOCK_OPERATIONS = frozenset({"set_stock", "adjust_stock"})


class InventoryServicer(inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    # Holds and commitments ---------------------------------------------------

    async def Reserve(self, request: pb.ReserveRequest, context: Context) -> pb.ReserveResponse:
        outcome = await self._decide(convert.reserve, request, context)
        return self._reserve_response(outcome)

    async def Allocate(
        self, request: pb.AllocateRequest, context: Context
    ) -> pb.ReservationResponse:
        return self._reservation_response(await self._decide(convert.allocate, request, context))

    async def Release(self, request: pb.ReleaseRequest, context: Context) -> pb.ReservationResponse:
        return self._reservation_response(await self._decide(convert.release, request, context))

    async def RenewHold(
        self, request: pb.RenewHoldRequest, context: Context
    ) -> pb.ReservationResponse:
        return self._reservation_response(await self._decide(convert.renew_hold, request, context))

    # Warehouse facts -----------------------------------------------------------

    async def ConfirmPick(
        self, request: pb.ConfirmPickRequest, context: Context
    ) -> pb.ReservationResponse:
        outcome = await self._decide(convert.confirm_pick, request, context)
        return self._reservation_response(outcome)

    async def Unpick(self, request: pb.UnpickRequest, context: Context) -> pb.ReservationResponse:
        return self._reservation_response(await self._decide(convert.unpick, request, context))

    async def ConfirmShipment(
        self, request: pb.ConfirmShipmentRequest, context: Context
    ) -> pb.ReservationResponse:
        outcome = await self._decide(convert.confirm_shipment, request, context)
        return self._reservation_response(outcome)

    async def RecordReturn(
        self, request: pb.RecordReturnRequest, context: Context
    ) -> pb.ReservationResponse:
        outcome = await self._decide(convert.record_return, request, context)
        return self._reservation_response(outcome)

    async def SetStock(self, request: pb.SetStockRequest, context: Context) -> pb.StockResponse:
        return self._stock_response(await self._decide(convert.set_stock, request, context))

    async def AdjustStock(
        self, request: pb.AdjustStockRequest, context: Context
    ) -> pb.StockResponse:
        return self._stock_response(await self._decide(convert.adjust_stock, request, context))

    # Reads ---------------------------------------------------------------------

    async def GetAvailability(
        self, request: pb.GetAvailabilityRequest, context: Context
    ) -> pb.GetAvailabilityResponse:
        try:
            skus = convert.availability_filter(request.skus, "skus")
            locations = convert.availability_filter(request.locations, "locations")
        except Refusal as refusal:
            await errors.abort(context, refusal)
        now = clock.now_ms()
        views = self._ledger.positions(skus, locations, now)
        return pb.GetAvailabilityResponse(
            positions=[convert.position(view) for view in views], as_of=convert.timestamp(now)
        )

    async def GetReservation(
        self, request: pb.GetReservationRequest, context: Context
    ) -> pb.Reservation:
        reservation_id = request.reservation_id
        view = self._ledger.reservation(current_call().tenant, reservation_id, clock.now_ms())
        if view is not None:
            return convert.reservation(view)
        # The core answers a malformed id and an unknown one alike (nothing);
        # the caller is told which.
        if not reservation_id:
            await errors.abort(context, Refusal.invalid("reservation_id", "must not be empty"))
        if not is_reservation_id(reservation_id):
            await errors.abort(context, Refusal.invalid("reservation_id", "is not a UUID"))
        # Another tenant's reservation is not found either: it is not theirs to know of.
        await errors.abort(context, Refusal.reservation_not_found(reservation_id))

    # Batches -------------------------------------------------------------------

    async def ExecuteBatch(self, request: pb.BatchRequest, context: Context) -> pb.BatchResponse:
        operations = request.operations
        if not operations:
            await errors.abort(context, Refusal.invalid("operations", "must not be empty"))
        if len(operations) > MAX_BATCH:
            refusal = Refusal.invalid("operations", f"must have at most {MAX_BATCH} operations")
            await errors.abort(context, refusal)
        call = current_call()
        now = clock.now_ms()
        results: list[pb.OperationResult] = [pb.OperationResult() for _ in operations]
        kinds: list[str] = []
        items = []
        decided: list[int] = []  # the index of each item's operation
        for index, operation in enumerate(operations):
            try:
                kind = convert.operation_kind(operation, index)
            except Refusal as refusal:
                # Not an operation at all: the batch is malformed, nothing is decided.
                await errors.abort(context, refusal)
            kinds.append(kind)
            build: ItemBuilder = convert.OPERATIONS[kind]
            try:
                items.append(build(getattr(operation, kind), call.tenant, call.actor, now))
            except Refusal as refusal:
                # Refused as its unary call would be; the others go on.
                results[index].error.CopyFrom(errors.status_of(refusal))
                continue
            decided.append(index)
        # Decisions are each the operation's own; the reservation or position
        # shown beside one is as the whole batch left it.
        for index, outcome in zip(decided, self._ledger.decide_batch(items), strict=True):
            self._fill_result(results[index], kinds[index], outcome)
        return pb.BatchResponse(results=results)

    def _fill_result(self, result: pb.OperationResult, kind: str, outcome: Outcome) -> None:
        if not outcome.accepted:
            result.error.CopyFrom(errors.status_of(_rejection(outcome)))
        elif kind == "reserve":
            result.reserve.CopyFrom(self._reserve_response(outcome))
        elif kind in _STOCK_OPERATIONS:
            result.stock.CopyFrom(self._stock_response(outcome))
        else:
            result.reservation.CopyFrom(self._reservation_response(outcome))

    # Shared ----------------------------------------------------------------------

    async def _decide(
        self,
        build: Callable[[Any, str, str, int], Any],
        request: Message,
        context: Context,
    ) -> Outcome:
        """Decide one request; a refusal ends the call with its status."""
        call = current_call()
        try:
            item = build(request, call.tenant, call.actor, clock.now_ms())
        except Refusal as refusal:
            await errors.abort(context, refusal)
        outcome = self._ledger.decide(item)
        if not outcome.accepted:
            await errors.abort(context, _rejection(outcome))
        call.reason = outcome.reason
        return outcome

    def _reservation(self, outcome: Outcome) -> pb.Reservation | None:
        if outcome.reservation_id is None:
            return None
        view = self._ledger.reservation_after(current_call().tenant, outcome.reservation_id)
        return None if view is None else convert.reservation(view)

    def _reserve_response(self, outcome: Outcome) -> pb.ReserveResponse:
        return pb.ReserveResponse(
            reservation=self._reservation(outcome), decision=convert.decision(outcome)
        )

    def _reservation_response(self, outcome: Outcome) -> pb.ReservationResponse:
        return pb.ReservationResponse(
            reservation=self._reservation(outcome), decision=convert.decision(outcome)
        )

    def _stock_response(self, outcome: Outcome) -> pb.StockResponse:
        view = None if outcome.position is None else self._ledger.position_after(*outcome.position)
        return pb.StockResponse(
            position=None if view is None else convert.position(view),
            decision=convert.decision(outcome),
        )


def _rejection(outcome: Outcome) -> Rejection:
    if outcome.rejection is None:  # pragma: no cover (the core always says why)
        raise AssertionError(f"refused outcome without a rejection: {outcome.reason}")
    return outcome.rejection
