"""A token is never written down by the server: not in any log line (at DEBUG,
the most it writes), after calls that succeeded and calls that failed, nor in
an error message."""

from __future__ import annotations

import secrets

import grpc
import pytest
from auth_support import AuthServer, unique
from conftest import Connect, next_sequence
from holdfast.client import HoldfastError
from polling import until


def test_no_token_in_the_log_or_in_answers(server: AuthServer, connect: Connect) -> None:
    credentials = server.credentials
    wrong = secrets.token_urlsafe(32)
    sku = unique("sku")
    # Succeeded: a count, a hold, reads, an operator's read.
    connect("acme", "warehouse").set_stock(sku, "dc1", 3, source_sequence=next_sequence())
    held = connect("acme", "storefront").reserve([(sku, "dc1", 1)]).reservation
    connect("acme", "reader").list_events(reservation_id=held.reservation_id)
    connect("acme", "operator").list_circuit_breakers()
    # Failed: an unknown token, a role outside its calls, another tenant's id.
    messages = []
    for action in (
        lambda: connect(token=wrong).get_availability(),
        lambda: connect("acme", "storefront").set_stock(sku, "dc1", 9, source_sequence=1),
        lambda: connect("globex", "storefront").release(held.reservation_id),
        lambda: connect(token=credentials.token("acme", "reader") + "x").get_availability(),
    ):
        with pytest.raises(HoldfastError) as refused:
            action()
        messages.append(str(refused.value) + repr(refused.value))
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    # The calls' log lines are written as each ends: wait until the last is there.
    until(
        lambda: True if server.log_text().count('"UNAUTHENTICATED"') >= 2 else None,
        "the refused calls' log lines",
    )
    log = server.log_text()
    assert "acme-storefront" in log  # the principal's name is logged, its token never
    for token in [*credentials.tokens.values(), wrong]:
        assert token not in log
        assert all(token not in message for message in messages)
