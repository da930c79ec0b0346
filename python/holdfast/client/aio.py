"""``AsyncClient``: the asyncio holdfast client (grpc.aio).

The same calls, requests, retries and errors as ``Client``; see its methods
for what each does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import grpc
from google.protobuf.message import Message

from holdfast.client import requests as rq
from holdfast.client.calls import (
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT,
    CallPlan,
    ChannelOptions,
    channel_options,
    error_from_rpc_error,
    identity_metadata,
    tls_credentials,
)
from holdfast.client.requests import DayLike, LineLike, TimeLike
from holdfast.client.retry import RetryPolicy
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc

__all__ = ["AsyncClient"]

_R = TypeVar("_R", bound=Message)


class AsyncClient:
    """An asyncio client for ``holdfast.v1.InventoryService``.

    Arguments and behaviour as ``Client`` (keys minted once per call and
    reused on every retry, retries within the call's timeout, typed errors).
    Create it inside the event loop that uses it; use ``async with`` or
    ``await close()``.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        tenant: str | None = None,
        actor: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: ChannelOptions = (),
        tls_ca: str | os.PathLike[str] | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        token: str | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.retry = retry if retry is not None else RetryPolicy()
        self._metadata = identity_metadata(tenant, actor, token)
        opts = channel_options(options)
        credentials = tls_credentials(credentials, tls_ca, tls_cert, tls_key)
        self._channel: Any = (
            grpc.aio.insecure_channel(target, options=opts)
            if credentials is None
            else grpc.aio.secure_channel(target, credentials, options=opts)
        )
        self._stub: Any = inventory_pb2_grpc.InventoryServiceStub(self._channel)

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _call(
        self, rpc: Any, request: Message, response: type[_R], timeout: float | None
    ) -> _R:
        plan = CallPlan(self.timeout if timeout is None else timeout, self.retry)
        while True:
            attempt_timeout = plan.start_attempt()
            try:
                result = await rpc(request, timeout=attempt_timeout, metadata=self._metadata)
                return cast(_R, result)
            except grpc.RpcError as rpc_error:
                error = error_from_rpc_error(rpc_error, plan.attempts, aio=True)
                delay = plan.delay_after(error)
                if delay is None:
                    raise error from rpc_error
            await asyncio.sleep(delay)

    # Storefront: holds and commitments.

    async def reserve(
        self,
        lines: Iterable[LineLike],
        *,
        order_ref: str = "",
        channel: str = "",
        hold_seconds: int = 0,
        allow_partial: bool = False,
        destination_region: str = "",
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReserveResponse:
        """See ``Client.reserve`` (``destination_region`` feeds the rule set's
        ``nearest`` strategy)."""
        request = rq.reserve_request(
            lines,
            order_ref=order_ref,
            channel=channel,
            hold_seconds=hold_seconds,
            allow_partial=allow_partial,
            destination_region=destination_region,
            idempotency_key=idempotency_key,
        )
        return await self._call(self._stub.Reserve, request, pb.ReserveResponse, timeout)

    async def allocate(
        self,
        reservation_id: str,
        lines: Iterable[LineLike] = (),
        *,
        ship_by: DayLike | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """See ``Client.allocate`` (a promise later than ``ship_by`` is
        ``Rejected`` CUTOFF_MISSED)."""
        request = rq.allocate_request(
            reservation_id, lines, ship_by=ship_by, idempotency_key=idempotency_key
        )
        return await self._call(self._stub.Allocate, request, pb.ReservationResponse, timeout)

    async def release(
        self,
        reservation_id: str,
        *,
        note: str = "",
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """See ``Client.release``."""
        request = rq.release_request(reservation_id, note=note, idempotency_key=idempotency_key)
        return await self._call(self._stub.Release, request, pb.ReservationResponse, timeout)

    async def renew_hold(
        self,
        reservation_id: str,
        *,
        hold_seconds: int = 0,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """See ``Client.renew_hold``."""
        request = rq.renew_hold_request(
            reservation_id, hold_seconds=hold_seconds, idempotency_key=idempotency_key
        )
        return await self._call(self._stub.RenewHold, request, pb.ReservationResponse, timeout)

    # Warehouse: physical facts.

    async def confirm_pick(
        self,
        reservation_id: str,
        lines: Iterable[LineLike] = (),
        *,
        as_of: TimeLike | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """See ``Client.confirm_pick``."""
        request = rq.confirm_pick_request(
            reservation_id, lines, as_of=as_of, idempotency_key=idempotency_key
        )
        return await self._call(self._stub.ConfirmPick, request, pb.ReservationResponse, timeout)

    async def unpick(
        self,
        reservation_id: str,
        lines: Iterable[LineLike] = (),
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """See ``Client.unpick``."""
        request = rq.unpick_request(reservation_id, lines, idempotency_key=idempotency_key)
        return await self._call(self._stub.Unpick, request, pb.ReservationResponse, timeout)

    async def confirm_shipment(
        self,
        reservation_id: str,
        lines: Iterable[LineLike] = (),
        *,
        as_of: TimeLike | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """See ``Client.confirm_shipment``."""
        request = rq.confirm_shipment_request(
            reservation_id, lines, as_of=as_of, idempotency_key=idempotency_key
        )
        return await self._call(
            self._stub.ConfirmShipment, request, pb.ReservationResponse, timeout
        )

    async def record_return(
        self,
        reservation_id: str,
        lines: Iterable[LineLike] = (),
        *,
        restock: bool = False,
        as_of: TimeLike | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """See ``Client.record_return``."""
        request = rq.record_return_request(
            reservation_id, lines, restock=restock, as_of=as_of, idempotency_key=idempotency_key
        )
        return await self._call(self._stub.RecordReturn, request, pb.ReservationResponse, timeout)

    async def set_stock(
        self,
        sku: str,
        location: str,
        on_hand: int,
        *,
        source_sequence: int,
        as_of: TimeLike | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.StockResponse:
        """See ``Client.set_stock``."""
        request = rq.set_stock_request(
            sku,
            location,
            on_hand,
            source_sequence=source_sequence,
            as_of=as_of,
            idempotency_key=idempotency_key,
        )
        return await self._call(self._stub.SetStock, request, pb.StockResponse, timeout)

    async def adjust_stock(
        self,
        sku: str,
        location: str,
        delta: int,
        *,
        reason: str,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.StockResponse:
        """See ``Client.adjust_stock``."""
        request = rq.adjust_stock_request(
            sku, location, delta, reason=reason, idempotency_key=idempotency_key
        )
        return await self._call(self._stub.AdjustStock, request, pb.StockResponse, timeout)

    # Reads.

    async def get_availability(
        self,
        skus: Iterable[str] = (),
        locations: Iterable[str] = (),
        *,
        timeout: float | None = None,
    ) -> pb.GetAvailabilityResponse:
        """See ``Client.get_availability``."""
        request = rq.get_availability_request(skus, locations)
        return await self._call(
            self._stub.GetAvailability, request, pb.GetAvailabilityResponse, timeout
        )

    async def get_reservation(
        self, reservation_id: str, *, timeout: float | None = None
    ) -> pb.Reservation:
        """See ``Client.get_reservation``."""
        request = rq.get_reservation_request(reservation_id)
        return await self._call(self._stub.GetReservation, request, pb.Reservation, timeout)

    async def execute_batch(
        self, operations: Iterable[pb.Operation], *, timeout: float | None = None
    ) -> pb.BatchResponse:
        """See ``Client.execute_batch``."""
        request = rq.ensure_batch_keys(operations)
        return await self._call(self._stub.ExecuteBatch, request, pb.BatchResponse, timeout)

    # The audit trail and the event feed.

    async def list_events(
        self,
        *,
        reservation_id: str = "",
        sku: str = "",
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> pb.ListEventsResponse:
        """See ``Client.list_events``."""
        request = rq.list_events_request(
            reservation_id=reservation_id,
            sku=sku,
            since=since,
            until=until,
            page_size=page_size,
            page_token=page_token,
        )
        return await self._call(self._stub.ListEvents, request, pb.ListEventsResponse, timeout)

    async def watch_events(
        self, from_sequence: int = 1, *, timeout: float | None = None
    ) -> AsyncIterator[pb.Event]:
        """See ``Client.watch_events``."""
        call = self._stub.WatchEvents(
            rq.watch_events_request(from_sequence), timeout=timeout, metadata=self._metadata
        )
        try:
            async for event in call:
                yield cast(pb.Event, event)
        except grpc.RpcError as rpc_error:
            raise error_from_rpc_error(rpc_error, 1, aio=True) from rpc_error
        finally:
            call.cancel()  # the caller stopped early: end the stream on the server too
