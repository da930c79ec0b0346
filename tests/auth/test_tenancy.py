"""Every RPC that takes a reservation id, by who calls it: the owner's tenant
with the right role decides; another tenant is told NOT_FOUND exactly as for
an id that never existed; no credentials are UNAUTHENTICATED; the owner's
tenant with a role that may not make the call is PERMISSION_DENIED. And an
idempotency key is the tenant's own: two tenants' same key never collide."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from auth_support import unique
from conftest import Connect, next_sequence
from holdfast.client import HoldfastError, OperationsClient

OWNER = "acme"
OTHER = "globex"

Act = Callable[[OperationsClient, str], Any]


@dataclass(frozen=True)
class Case:
    rpc: str
    role: str  # a role that may make the call
    wrong_role: str | None  # one that may not (None: every role may)
    state: str  # what the reservation must be for the call to succeed
    act: Act


def _override(client: OperationsClient, reservation_id: str, tenant: str) -> Any:
    return client.override_release(reservation_id, tenant=tenant, reason="auth test")


CASES = [
    # GetReservation is within every role (each reads reservations): no wrong role.
    Case("GetReservation", "storefront", None, "held", lambda c, r: c.get_reservation(r)),
    Case("Allocate", "storefront", "warehouse", "held", lambda c, r: c.allocate(r)),
    Case("Release", "storefront", "reader", "held", lambda c, r: c.release(r)),
    Case(
        "RenewHold",
        "storefront",
        "operator",
        "held",
        lambda c, r: c.renew_hold(r, hold_seconds=600),
    ),
    Case("ConfirmPick", "warehouse", "storefront", "allocated", lambda c, r: c.confirm_pick(r)),
    Case("Unpick", "warehouse", "storefront", "picked", lambda c, r: c.unpick(r)),
    Case("ConfirmShipment", "warehouse", "reader", "picked", lambda c, r: c.confirm_shipment(r)),
    Case(
        "RecordReturn",
        "warehouse",
        "storefront",
        "shipped",
        lambda c, r: c.record_return(r, restock=True),
    ),
    Case(
        "ListEvents",
        "reader",
        "warehouse",
        "held",
        lambda c, r: c.list_events(reservation_id=r),
    ),
    # The operator names the tenant it acts in: its own (see test below for another).
    Case("OverrideRelease", "operator", "reader", "held", None),  # type: ignore[arg-type]
]


def prepare(connect: Connect, state: str) -> str:
    """A reservation of OWNER in ``state``: its id."""
    sku = unique("sku")
    connect(OWNER, "warehouse").set_stock(sku, "dc1", 10, source_sequence=next_sequence())
    reservation_id = (
        connect(OWNER, "storefront").reserve([(sku, "dc1", 2)]).reservation.reservation_id
    )
    if state in ("allocated", "picked", "shipped"):
        connect(OWNER, "storefront").allocate(reservation_id)
    if state in ("picked", "shipped"):
        connect(OWNER, "warehouse").confirm_pick(reservation_id)
    if state == "shipped":
        connect(OWNER, "warehouse").confirm_shipment(reservation_id)
    return reservation_id


def call(case: Case, client: OperationsClient, reservation_id: str, tenant: str) -> Any:
    if case.rpc == "OverrideRelease":
        return _override(client, reservation_id, tenant)
    return case.act(client, reservation_id)


def refusal(action: Callable[[], Any]) -> HoldfastError:
    with pytest.raises(HoldfastError) as refused:
        action()
    return refused.value


@pytest.mark.parametrize("case", CASES, ids=[c.rpc for c in CASES])
def test_a_reservation_is_its_tenants_alone(connect: Connect, case: Case) -> None:
    reservation_id = prepare(connect, case.state)
    before = connect(OWNER, "reader").get_reservation(reservation_id)

    # Another tenant, with the role that may make the call: not found, worded
    # exactly as for an id nobody ever used (nothing says it exists).
    other = connect(OTHER, case.role)
    hidden = refusal(lambda: call(case, other, reservation_id, OTHER))
    never = str(uuid.uuid4())
    absent = refusal(lambda: call(case, other, never, OTHER))
    assert hidden.code == grpc.StatusCode.NOT_FOUND, hidden
    assert hidden.reason == absent.reason == "RESERVATION_NOT_FOUND"
    assert hidden.message.replace(reservation_id, "ID") == absent.message.replace(never, "ID")
    assert {k: v.replace(reservation_id, "ID") for k, v in hidden.facts.items()} == {
        k: v.replace(never, "ID") for k, v in absent.facts.items()
    }

    # No credentials at all.
    anonymous = refusal(lambda: call(case, connect(), reservation_id, OWNER))
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED
    assert anonymous.reason == "UNAUTHENTICATED"

    # The owner's tenant, in a role that may not make the call.
    if case.wrong_role is not None:
        wrong = connect(OWNER, case.wrong_role)
        denied = refusal(lambda: call(case, wrong, reservation_id, OWNER))
        assert denied.code == grpc.StatusCode.PERMISSION_DENIED, denied
        assert denied.reason == "PERMISSION_DENIED"
        assert denied.facts["method"] == case.rpc

    # None of the refusals changed the reservation.
    assert connect(OWNER, "reader").get_reservation(reservation_id) == before

    # The owner, in the right role: decided.
    answer = call(case, connect(OWNER, case.role), reservation_id, OWNER)
    assert answer is not None


def test_get_reservation_is_every_roles_read(connect: Connect) -> None:
    reservation_id = prepare(connect, "held")
    for role in ("storefront", "warehouse", "operator", "reader"):
        assert connect(OWNER, role).get_reservation(reservation_id).reservation_id == reservation_id


def test_an_operator_cannot_release_another_tenants_reservation_by_naming_it(
    connect: Connect,
) -> None:
    reservation_id = prepare(connect, "held")
    before = connect(OWNER, "reader").get_reservation(reservation_id)
    # The operator of OTHER names OWNER as the tenant: still not found.
    operator = connect(OTHER, "operator")
    hidden = refusal(lambda: _override(operator, reservation_id, OWNER))
    assert hidden.code == grpc.StatusCode.NOT_FOUND
    assert hidden.reason == "RESERVATION_NOT_FOUND"
    assert connect(OWNER, "reader").get_reservation(reservation_id) == before


def test_the_same_idempotency_key_in_two_tenants_is_two_reservations(connect: Connect) -> None:
    sku = unique("sku")
    connect(OWNER, "warehouse").set_stock(sku, "dc1", 10, source_sequence=next_sequence())
    key = unique("key")
    first = connect(OWNER, "storefront").reserve([(sku, "dc1", 1)], idempotency_key=key)
    second = connect(OTHER, "storefront").reserve([(sku, "dc1", 1)], idempotency_key=key)
    assert first.reservation.reservation_id != second.reservation.reservation_id
    assert not first.decision.replayed
    assert not second.decision.replayed
    # Each tenant's retry replays its own decision.
    again = connect(OTHER, "storefront").reserve([(sku, "dc1", 1)], idempotency_key=key)
    assert again.reservation.reservation_id == second.reservation.reservation_id
    assert again.decision.replayed
    # And each sees only its own reservation.
    hidden = refusal(
        lambda: connect(OTHER, "reader").get_reservation(first.reservation.reservation_id)
    )
    assert hidden.code == grpc.StatusCode.NOT_FOUND
    positions = connect(OWNER, "reader").get_availability(skus=[sku]).positions
    assert positions[0].reserved == 2
