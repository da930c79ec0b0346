"""holdfast.v1.InventoryService: convert, ask the ledger, convert back.

Each method is thin on purpose. The decision is the core's, the identity and
the request id are the interceptor's, the refusal's status is errors.py's.
"""

# The method names are the proto's RPC names.
# ruff: noqa: N802

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from google.protobuf.message import Message
from grpc.aio import ServicerContext as Context

from holdfast import (
    FEASIBILITY,
    MAX_BATCH,
    Outcome,
    Rejection,
    auth,
    clock,
    convert,
    convert_events,
    errors,
    is_reservation_id,
)
from holdfast.batch_answer import BatchAnswer
from holdfast.errors import Refusal
from holdfast.interceptors import current_call, decisions_logged, log_decision
from holdfast.ledger import Ledger
from holdfast.logs import fields
from holdfast.store.events import EventJournal, encode_page_token
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc

if TYPE_CHECKING:
    from holdfast._core import BatchItem, ReservationView
    from holdfast.convert import ItemBuilder
    from holdfast.feasibility import Checked, FeasibilityCheck

log = logging.getLogger("holdfast.servicer")

# Every answer to a decision carries its Decision.
AnswerT = TypeVar("AnswerT", pb.ReserveResponse, pb.ReservationResponse, pb.StockResponse)

# The response each operation of a batch answers with (the unary call's).


class InventoryServicer(inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(self, ledger: Ledger, feasibility: FeasibilityCheck | None = None) -> None:
        self._ledger = ledger
        # Asked before a reserve is decided anew (None: no check configured).
        self._feasibility = feasibility

    # Holds and commitments ---------------------------------------------------

    async def Reserve(self, request: pb.ReserveRequest, context: Context) -> pb.ReserveResponse:
        return await self._decide(convert.reserve, request, context, self._reserve_response)

    async def Allocate(
        self, request: pb.AllocateRequest, context: Context
    ) -> pb.ReservationResponse:
        return await self._decide(convert.allocate, request, context, self._reservation_response)

    async def Release(self, request: pb.ReleaseRequest, context: Context) -> pb.ReservationResponse:
        return await self._decide(convert.release, request, context, self._reservation_response)

    async def RenewHold(
        self, request: pb.RenewHoldRequest, context: Context
    ) -> pb.ReservationResponse:
        return await self._decide(convert.renew_hold, request, context, self._reservation_response)

    # Warehouse facts -----------------------------------------------------------

    async def ConfirmPick(
        self, request: pb.ConfirmPickRequest, context: Context
    ) -> pb.ReservationResponse:
        return await self._decide(
            convert.confirm_pick, request, context, self._reservation_response
        )

    async def Unpick(self, request: pb.UnpickRequest, context: Context) -> pb.ReservationResponse:
        return await self._decide(convert.unpick, request, context, self._reservation_response)

    async def ConfirmShipment(
        self, request: pb.ConfirmShipmentRequest, context: Context
    ) -> pb.ReservationResponse:
        return await self._decide(
            convert.confirm_shipment, request, context, self._reservation_response
        )

    async def RecordReturn(
        self, request: pb.RecordReturnRequest, context: Context
    ) -> pb.ReservationResponse:
        return await self._decide(
            convert.record_return, request, context, self._reservation_response
        )

    async def SetStock(self, request: pb.SetStockRequest, context: Context) -> pb.StockResponse:
        return await self._decide(convert.set_stock, request, context, self._stock_response)

    async def AdjustStock(
        self, request: pb.AdjustStockRequest, context: Context
    ) -> pb.StockResponse:
        return await self._decide(convert.adjust_stock, request, context, self._stock_response)

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
        try:
            await self._ledger.fresh()
            views = self._ledger.positions(skus, locations, now)
            # Shown only once everything decided before it is durable.
            await self._ledger.settle()
        except Refusal as refusal:
            await errors.abort(context, refusal)
        return pb.GetAvailabilityResponse(
            positions=[convert.position(view) for view in views], as_of=convert.timestamp(now)
        )

    async def GetReservation(
        self, request: pb.GetReservationRequest, context: Context
    ) -> pb.Reservation:
        reservation_id = request.reservation_id
        try:
            await self._ledger.fresh()
            view = self._ledger.reservation(current_call().tenant, reservation_id, clock.now_ms())
            await self._ledger.settle()
        except Refusal as refusal:
            await errors.abort(context, refusal)
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

    async def ExecuteBatch(self, request: pb.BatchRequest, context: Context) -> bytes:  # type: ignore[override]
        """The batch's answer as encoded bytes (the server registers this
        method with no response serializer): the core encodes each accepted
        operation's result (:mod:`holdfast.batch_answer`)."""
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
            # Each operation within the caller's roles, as its unary call would be.
            denied = auth.operation_refusal(call.principal, kind)
            if denied is not None:
                results[index].error.CopyFrom(errors.status_of(denied))
                continue
            build: ItemBuilder = convert.OPERATIONS[kind]
            try:
                items.append(build(getattr(operation, kind), call.tenant, call.actor, now))
            except Refusal as refusal:
                # Refused as its unary call would be; the others go on.
                results[index].error.CopyFrom(errors.status_of(refusal))
                continue
            decided.append(index)
        # Reserves are checked for feasibility each as its unary call would be.
        try:
            items, decided, unverified = await self._checked_batch(items, decided, results)
        except Refusal as refusal:
            await errors.abort(context, refusal)
        # Decisions are each the operation's own; the reservation or position
        # shown beside one is as the whole batch left it (encoded before the
        # commit wait lets other calls change it).
        answer = BatchAnswer(results)
        try:
            outcomes = await self._ledger.decide_batch_async(items)
            decided_kinds = [kinds[i] for i in decided]
            encoded = self._ledger.encode_results(call.tenant, outcomes, decided_kinds)
            answer.decided(decided, decided_kinds, outcomes, encoded)
            # Each answer says so itself (the core marked the hold); count the new ones.
            for index, outcome in zip(decided, outcomes, strict=True):
                if index in unverified and outcome.accepted and not outcome.replayed:
                    self._counted_unverified(answer.reservation_id(index), unverified[index])
            committed_at = await self._ledger.settle()
        except Refusal as refusal:
            await errors.abort(context, refusal)
        # One line per decision, once it is durable (a batch refused at the
        # commit decided nothing the caller was told of); not built unless read.
        if decisions_logged():
            for index, kind, outcome in zip(decided, decided_kinds, outcomes, strict=True):
                key = getattr(getattr(operations[index], kind), "idempotency_key", "")
                log_decision(call, index, kind, key, outcome)
        return answer.encoded(committed_at)

    # Shared ----------------------------------------------------------------------

    async def _decide(
        self,
        build: Callable[[Any, str, str, int], Any],
        request: Message,
        context: Context,
        respond: Callable[[Outcome], AnswerT],
    ) -> AnswerT:
        """Decide one request and answer once it is durable; a refusal ends
        the call with its status. ``respond`` builds the answer from the state
        the decision left, before the wait lets other calls change it."""
        call = current_call()
        # For the call's log line (every decision request has a key).
        call.idempotency_key = getattr(request, "idempotency_key", "")
        try:
            item = build(request, call.tenant, call.actor, clock.now_ms())
            item, unverified = await self._checked(item)
            outcome = await self._ledger.decide_async(item)
            call.rule_version = outcome.rule_version
            call.reservation_id = outcome.reservation_id or ""
            answer = None
            if outcome.accepted:
                answer = respond(outcome)
                if unverified and not outcome.replayed:
                    self._counted_unverified(call.reservation_id, unverified)
            # A rejection is journaled (it replays) and waits like an acceptance.
            committed_at = await self._ledger.settle()
        except Refusal as refusal:
            await errors.abort(context, refusal)
        if answer is None:
            await errors.abort(context, _rejection(outcome))
        call.reason = outcome.reason
        if committed_at is not None:
            answer.decision.committed_at.FromMilliseconds(committed_at)
        return answer

    # The feasibility check -------------------------------------------------------

    async def _checked(self, item: BatchItem) -> tuple[BatchItem, list[str]]:
        """A reserve about to be decided anew asks the feasibility check first:
        the item to decide (stamped when the check answered) and the checks
        left unverified, or :class:`Refusal` when the verdict refuses it."""
        feasibility = self._feasibility
        if feasibility is None or item[0] != "reserve" or not self._ledger.would_decide(item):
            return item, []
        checked = await feasibility.check(item)
        item = _stamped(item, clock.now_ms())
        if checked.refusal is None:
            return _marked(item, checked.unverified), checked.unverified
        if self._ledger.would_decide(item):
            raise checked.refusal
        # Its key was decided while the check ran: that decision is the answer.
        return item, []

    async def _checked_batch(
        self, items: list[BatchItem], decided: list[int], results: list[pb.OperationResult]
    ) -> tuple[list[BatchItem], list[int], dict[int, list[str]]]:
        """Every reserve of a batch checked (at most CHECKS_AT_ONCE at a time);
        the items and indexes still to decide and the unverified checks by
        index. A refused reserve gets its refusal as its result."""
        feasibility = self._feasibility
        if feasibility is None or not any(item[0] == "reserve" for item in items):
            return items, decided, {}
        at_once = asyncio.Semaphore(CHECKS_AT_ONCE)

        async def check(item: BatchItem) -> Checked | None:
            if item[0] != "reserve" or not self._ledger.would_decide(item):
                return None
            async with at_once:
                return await feasibility.check(item)

        checks = await asyncio.gather(*(check(item) for item in items))
        now = clock.now_ms()
        kept: list[BatchItem] = []
        kept_indexes: list[int] = []
        unverified: dict[int, list[str]] = {}
        for index, item, checked in zip(decided, items, checks, strict=True):
            item = _stamped(item, now)
            if checked is not None and checked.refusal is not None:
                if self._ledger.would_decide(item):
                    results[index].error.CopyFrom(errors.status_of(checked.refusal))
                    continue
            elif checked is not None and checked.unverified:
                unverified[index] = checked.unverified
                item = _marked(item, checked.unverified)
            kept.append(item)
            kept_indexes.append(index)
        return kept, kept_indexes, unverified

    def _counted_unverified(self, reservation_id: str, dependencies: list[str]) -> None:
        """Count and log a hold newly decided without these checks."""
        for dependency in dependencies:
            if self._ledger.metrics is not None:
                self._ledger.metrics.decided_unverified(dependency)
            log.warning(
                f"reserve decided without the {dependency} check",
                extra=fields(
                    dependency=dependency,
                    reservation_id=reservation_id,
                    tenant=current_call().tenant,
                    request_id=current_call().request_id,
                ),
            )

    def _view(self, outcome: Outcome) -> ReservationView | None:
        if outcome.reservation_id is None:
            return None
        return self._ledger.reservation_after(current_call().tenant, outcome.reservation_id)

    def _reservation(self, outcome: Outcome) -> pb.Reservation | None:
        view = self._view(outcome)
        return None if view is None else convert.reservation(view)

    def _reserve_response(self, outcome: Outcome) -> pb.ReserveResponse:
        view = self._view(outcome)
        decision = convert.decision(outcome)
        # The hold, and every replay of it, says it was held without the check.
        if view is not None and view["unverified"]:
            decision.unverified.append(FEASIBILITY)
        return pb.ReserveResponse(
            reservation=None if view is None else convert.reservation(view), decision=decision
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

    # The audit trail and the event feed ------------------------------------------
    #
    # Both read the journal (the events table), never the engine: a
    # reservation's history outlives the process, and the feed shows only what
    # is durable. The queries run off the event loop (holdfast.store.events).

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: Context
    ) -> pb.ListEventsResponse:
        tenant = current_call().tenant
        try:
            selected = convert_events.event_filter(request, tenant)
            size = convert_events.page_size(request)
            after = convert_events.page_after(request)
        except Refusal as refusal:
            await errors.abort(context, refusal)
        journal = await self._journal(context)
        # Only what is durable, whatever the writer commits meanwhile.
        up_to = self._ledger.committed_seq
        reservation_id = selected.reservation_id
        if reservation_id is not None and not await journal.has_reservation(tenant, reservation_id):
            # Another tenant's reservation is not found either.
            await errors.abort(context, Refusal.reservation_not_found(reservation_id))
        # One more than asked for says whether there is a next page.
        stored = await journal.page(selected, after, up_to, size + 1)
        shown = stored[:size]
        more = len(stored) > size
        return pb.ListEventsResponse(
            events=[convert_events.event(row) for row in shown],
            next_page_token=encode_page_token(shown[-1].seq) if more else "",
        )

    async def WatchEvents(
        self, request: pb.WatchEventsRequest, context: Context
    ) -> AsyncIterator[pb.Event]:
        call = current_call()
        # An authenticated caller sees its own tenant's events; anonymous, all.
        tenant = call.tenant if call.principal is not None else None
        journal = await self._journal(context)
        next_seq = max(request.from_sequence, 1)
        # Read what is committed before asking for the oldest event: an event
        # committed between the two would otherwise look already deleted.
        committed_before = self._ledger.committed_seq
        oldest = await journal.oldest_seq()
        first_retained = committed_before + 1 if oldest is None else oldest
        if next_seq < first_retained:
            await errors.abort(context, _not_retained(next_seq, first_retained))
        while True:
            committed = self._ledger.committed_seq
            # Catch up a page at a time, then wait for the writer's next commit.
            while next_seq <= committed:
                page = await journal.events_from(next_seq, committed, FEED_PAGE)
                if not page or page[0].seq != next_seq:
                    # Retention deleted events this consumer had not read yet.
                    first_retained = page[0].seq if page else committed + 1
                    await errors.abort(context, _not_retained(next_seq, first_retained))
                for row in page:
                    if row.seq != next_seq:
                        break  # the next page says what happened
                    event = convert_events.event(row)
                    next_seq += 1
                    if tenant is None or event.tenant == tenant:
                        yield event
            if self._feed_ended.is_set():
                return  # drained: the consumer resumes from next_seq elsewhere or later
            await self._until_committed_or_drained(next_seq - 1)

    def end_watches(self) -> None:
        """At drain: end every WatchEvents stream (OK) once it has sent what is
        committed, so shutdown does not wait on consumers that never hang up."""
        self._feed_ended.set()

    async def _until_committed_or_drained(self, after_seq: int) -> None:
        committed = asyncio.ensure_future(self._ledger.wait_committed(after_seq))
        ended = asyncio.ensure_future(self._feed_ended.wait())
        try:
            await asyncio.wait((committed, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            committed.cancel()
            ended.cancel()

    @functools.cached_property
    def _feed_ended(self) -> asyncio.Event:
        return asyncio.Event()

    @functools.cached_property
    def _journal_reader(self) -> EventJournal:
        # One per servicer: it keeps a read connection per worker thread.
        return self._ledger.journal_reader()

    async def _journal(self, context: Context) -> EventJournal:
        """The journal's reader; in memory mode there is none, and the call says so."""
        if not self._ledger.durable:
            await errors.abort(context, NO_JOURNAL)
        return self._journal_reader


def _stamped(item: BatchItem, now: int) -> BatchItem:
    """The item decided at ``now`` (after waiting on a dependency)."""
    return cast("BatchItem", (*item[:4], now, *item[5:]))


def _marked(item: BatchItem, unverified: list[str]) -> BatchItem:
    """A reserve the core is to mark as held without the feasibility check
    (its last element; the destination region before it is filled in)."""
    if not unverified:
        return item
    reserve = cast("tuple[Any, ...]", item)
    destination = reserve[10] if len(reserve) > 10 else ""
    return cast("BatchItem", (*reserve[:10], destination, True))


# Feasibility checks of one batch in flight at once.
CHECKS_AT_ONCE = 16


def _rejection(outcome: Outcome) -> Rejection:
    if outcome.rejection is None:  # pragma: no cover (the core always says why)
        raise AssertionError(f"refused outcome without a rejection: {outcome.reason}")
    return outcome.rejection


# The audit trail and the event feed ---------------------------------------------

# Events read from the journal per query while the feed catches up.
FEED_PAGE = 500

# A server in memory never has a journal: retrying it cannot help.
NO_JOURNAL = Refusal(
    "DEPENDENCY_UNAVAILABLE",
    "the audit trail and the event feed need the journal; this server runs in memory",
    {"dependency": "journal", "detail": "running in memory: no journal"},
    retry_after_s=errors.NEVER,
)


def _not_retained(from_sequence: int, first_retained: int) -> Refusal:
    return Refusal.invalid(
        "from_sequence",
        f"events before {first_retained} are no longer retained (asked from {from_sequence})",
    )
