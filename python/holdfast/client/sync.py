"""``Client``: the blocking holdfast client (sync gRPC)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
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

__all__ = ["Client"]

_R = TypeVar("_R", bound=Message)


class Client:
    """A blocking client for ``holdfast.v1.InventoryService``.

    Every method is one RPC. Mutating methods take ``idempotency_key``; when
    it is None the client mints a UUID4 and sends that same key on every
    retry, so a call that is retried after a lost answer is decided once.
    Transient failures are retried within ``timeout`` (see ``RetryPolicy``);
    failures raise a ``HoldfastError`` subclass (``Rejected``, ``NotFound``, ...).

    Args:
        target: ``host:port`` of the server.
        tenant: sent as ``x-holdfast-tenant``; None uses the server's default.
        actor: sent as ``x-holdfast-actor`` (recorded in history); None: the default.
        timeout: seconds for a whole call, retries included, unless the call
            passes its own ``timeout``.
        retry: when and how to retry transient failures.
        credentials: TLS credentials; None connects in plaintext unless
            ``tls_ca``/``tls_cert``/``tls_key`` are given.
        options: extra gRPC channel options.
        tls_ca: PEM file of the CA that signed the server's certificate
            (TLS; alone, or None with ``tls_cert``: the system's roots).
        tls_cert, tls_key: PEM files of this client's certificate and key,
            for a server that requires client certificates (mutual TLS).
        token: bearer token, sent as ``authorization: Bearer <token>`` on
            every call; a server with credentials (``auth_file``) then takes
            the tenant and actor from the token's principal.

    Use it as a context manager, or call ``close()``.
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
            grpc.insecure_channel(target, options=opts)
            if credentials is None
            else grpc.secure_channel(target, credentials, options=opts)
        )
        self._stub: Any = inventory_pb2_grpc.InventoryServiceStub(self._channel)

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> Self:  # a subclass (OperationsClient) stays itself
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, rpc: Any, request: Message, response: type[_R], timeout: float | None) -> _R:
        plan = CallPlan(self.timeout if timeout is None else timeout, self.retry)
        while True:
            attempt_timeout = plan.start_attempt()
            try:
                return cast(_R, rpc(request, timeout=attempt_timeout, metadata=self._metadata))
            except grpc.RpcError as rpc_error:
                error = error_from_rpc_error(rpc_error, plan.attempts, aio=False)
                delay = plan.delay_after(error)
                if delay is None:
                    raise error from rpc_error
            time.sleep(delay)

    # Storefront: holds and commitments.

    def reserve(
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
        """Hold stock: all ``lines`` or none (unless ``allow_partial``).

        ``lines`` are ``(sku, location, quantity)`` tuples or ``LineRequest``s;
        an empty location lets holdfast choose, as the active rule set's
        allocation strategy says. ``destination_region`` is where the order
        ships to: under the ``nearest`` strategy a line takes the first
        location in the rule set's list for that region (nearest first) that
        holds it all; "" or a region the rule set does not list: the most
        available location. ``hold_seconds`` 0 takes the channel's default
        under the active rule set. Raises ``Rejected`` (``INSUFFICIENT_STOCK``
        with the requested and available quantities in ``facts``,
        ``UNKNOWN_SKU``, ``CHANNEL_CAP_REACHED``, ...).
        """
        request = rq.reserve_request(
            lines,
            order_ref=order_ref,
            channel=channel,
            hold_seconds=hold_seconds,
            allow_partial=allow_partial,
            destination_region=destination_region,
            idempotency_key=idempotency_key,
        )
        return self._call(self._stub.Reserve, request, pb.ReserveResponse, timeout)

    def allocate(
        self,
        reservation_id: str,
        lines: Iterable[LineLike] = (),
        *,
        ship_by: DayLike | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """Turn a hold into a firm commitment: all of it, or exactly ``lines``
        (whatever else is held is released). Expired: ``Rejected`` RESERVATION_EXPIRED.

        At a location the rule set gives a pick capacity or carrier cutoff,
        each line is promised a ship date (``ReservationLine.promised_ship_date``,
        the location's local day). ``ship_by`` (a ``datetime.date``, or
        "YYYY-MM-DD"; not a ``datetime``) is the latest promise accepted: a
        later one is ``Rejected`` CUTOFF_MISSED with ``facts`` location,
        ship_by, promised, cutoff and time_zone, and the hold stays a hold. A
        full day is ``Rejected`` CAPACITY_EXCEEDED. A malformed ``ship_by`` is
        ``InvalidArgument`` naming the field.
        """
        request = rq.allocate_request(
            reservation_id, lines, ship_by=ship_by, idempotency_key=idempotency_key
        )
        return self._call(self._stub.Allocate, request, pb.ReservationResponse, timeout)

    def release(
        self,
        reservation_id: str,
        *,
        note: str = "",
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """Give held and allocated stock back; ``note`` goes into the history."""
        request = rq.release_request(reservation_id, note=note, idempotency_key=idempotency_key)
        return self._call(self._stub.Release, request, pb.ReservationResponse, timeout)

    def renew_hold(
        self,
        reservation_id: str,
        *,
        hold_seconds: int = 0,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """Move a hold's expiry to ``hold_seconds`` from now (0: the default length)."""
        request = rq.renew_hold_request(
            reservation_id, hold_seconds=hold_seconds, idempotency_key=idempotency_key
        )
        return self._call(self._stub.RenewHold, request, pb.ReservationResponse, timeout)

    # Warehouse: physical facts.

    def confirm_pick(
        self,
        reservation_id: str,
        lines: Iterable[LineLike] = (),
        *,
        as_of: TimeLike | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """The warehouse picked allocated units (all, or exactly ``lines``)."""
        request = rq.confirm_pick_request(
            reservation_id, lines, as_of=as_of, idempotency_key=idempotency_key
        )
        return self._call(self._stub.ConfirmPick, request, pb.ReservationResponse, timeout)

    def unpick(
        self,
        reservation_id: str,
        lines: Iterable[LineLike] = (),
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """Picked units went back on the shelf (allocated again)."""
        request = rq.unpick_request(reservation_id, lines, idempotency_key=idempotency_key)
        return self._call(self._stub.Unpick, request, pb.ReservationResponse, timeout)

    def confirm_shipment(
        self,
        reservation_id: str,
        lines: Iterable[LineLike] = (),
        *,
        as_of: TimeLike | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """Picked units left the building; on hand goes down by as many."""
        request = rq.confirm_shipment_request(
            reservation_id, lines, as_of=as_of, idempotency_key=idempotency_key
        )
        return self._call(self._stub.ConfirmShipment, request, pb.ReservationResponse, timeout)

    def record_return(
        self,
        reservation_id: str,
        lines: Iterable[LineLike] = (),
        *,
        restock: bool = False,
        as_of: TimeLike | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.ReservationResponse:
        """Shipped units came back: back on hand if ``restock``, else written off."""
        request = rq.record_return_request(
            reservation_id, lines, restock=restock, as_of=as_of, idempotency_key=idempotency_key
        )
        return self._call(self._stub.RecordReturn, request, pb.ReservationResponse, timeout)

    def set_stock(
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
        """The warehouse's absolute count. A ``source_sequence`` not above the
        applied one is ``Rejected`` STALE_UPDATE; a count below what is committed
        is applied and answered with decision reason OVERCOMMITTED. ``as_of``
        defaults to this machine's clock."""
        request = rq.set_stock_request(
            sku,
            location,
            on_hand,
            source_sequence=source_sequence,
            as_of=as_of,
            idempotency_key=idempotency_key,
        )
        return self._call(self._stub.SetStock, request, pb.StockResponse, timeout)

    def adjust_stock(
        self,
        sku: str,
        location: str,
        delta: int,
        *,
        reason: str,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> pb.StockResponse:
        """Add (or with a negative ``delta`` remove) units on hand, saying why."""
        request = rq.adjust_stock_request(
            sku, location, delta, reason=reason, idempotency_key=idempotency_key
        )
        return self._call(self._stub.AdjustStock, request, pb.StockResponse, timeout)

    # Reads.

    def get_availability(
        self,
        skus: Iterable[str] = (),
        locations: Iterable[str] = (),
        *,
        timeout: float | None = None,
    ) -> pb.GetAvailabilityResponse:
        """Positions (all, or only these SKUs / locations) and the moment they describe."""
        request = rq.get_availability_request(skus, locations)
        return self._call(self._stub.GetAvailability, request, pb.GetAvailabilityResponse, timeout)

    def get_reservation(
        self, reservation_id: str, *, timeout: float | None = None
    ) -> pb.Reservation:
        """One reservation with its lines and full history; unknown: ``NotFound``."""
        request = rq.get_reservation_request(reservation_id)
        return self._call(self._stub.GetReservation, request, pb.Reservation, timeout)

    def execute_batch(
        self, operations: Iterable[pb.Operation], *, timeout: float | None = None
    ) -> pb.BatchResponse:
        """Many operations decided in order, one result each; a refused one does
        not stop the others and comes back as ``OperationResult.error`` (decode it
        with ``error_from_rpc_status``). Operations without a key get one."""
        request = rq.ensure_batch_keys(operations)
        return self._call(self._stub.ExecuteBatch, request, pb.BatchResponse, timeout)

    # The audit trail and the event feed.

    def list_events(
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
        """One page of this tenant's journaled events, oldest first: of one
        reservation (unknown or another tenant's: ``NotFound``), touching one
        SKU, decided in ``[since, until)``. Pass the answer's ``next_page_token``
        back for the next page (empty: no more). ``page_size`` 0 takes 100."""
        request = rq.list_events_request(
            reservation_id=reservation_id,
            sku=sku,
            since=since,
            until=until,
            page_size=page_size,
            page_token=page_token,
        )
        return self._call(self._stub.ListEvents, request, pb.ListEventsResponse, timeout)

    def watch_events(
        self, from_sequence: int = 1, *, timeout: float | None = None
    ) -> Iterator[pb.Event]:
        """Every committed event from ``from_sequence`` on, in order, then each
        new one as it commits; it ends only when the server ends it (drain),
        the optional ``timeout`` passes, or the caller stops iterating.

        Not retried: after a failure (``Unavailable`` when the server went
        away) resume with ``from_sequence`` = the last sequence processed + 1.
        """
        call = self._stub.WatchEvents(
            rq.watch_events_request(from_sequence), timeout=timeout, metadata=self._metadata
        )
        try:
            for event in call:
                yield cast(pb.Event, event)
        except grpc.RpcError as rpc_error:
            raise error_from_rpc_error(rpc_error, 1, aio=False) from rpc_error
        finally:
            call.cancel()  # the caller stopped early: end the stream on the server too
