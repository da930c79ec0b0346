"""What a change of hold-time rules does to holds already open (docs/rules.md):
an open hold keeps the expiry it was given; a later renew is decided under
the new set, takes its limits, and may shorten the hold."""

from __future__ import annotations

import pytest
from backends import BackendServer
from holdfast.client import HoldfastError
from rules_support import operator

LONG = """version = "long-holds"
author = "ana@shop"

[holds]
default_seconds = 3000
max_seconds = 3600
"""
SHORT = """version = "short-holds"
author = "ana@shop"

[holds]
default_seconds = 60
max_seconds = 300
"""


def test_open_holds_keep_their_expiry_and_a_renew_takes_the_new_limits(
    on_backend: BackendServer,
) -> None:
    with operator(on_backend) as ops:
        ops.set_stock("MUG", "W1", 10, source_sequence=1)
        for text in (LONG, SHORT):
            ops.deploy_rule_set(text, comment="hold times")
        ops.activate_rule_set("long-holds", reason="long holds")
        held = ops.reserve([("MUG", "W1", 1)], channel="web").reservation
        placed = held.expires_at.ToMilliseconds() - held.created_at.ToMilliseconds()
        assert placed == 3000 * 1000

        ops.activate_rule_set("short-holds", reason="short holds")
        kept = ops.get_reservation(held.reservation_id)
        assert kept.expires_at == held.expires_at  # the switch does not touch it

        with pytest.raises(HoldfastError) as too_long:
            ops.renew_hold(held.reservation_id, hold_seconds=3000)
        renewed = ops.renew_hold(held.reservation_id)  # the new default
    assert too_long.value.reason == "INVALID_ARGUMENT"
    assert "300" in too_long.value.message
    reservation = renewed.reservation
    assert renewed.decision.rule_version == "short-holds"
    shortened = (
        reservation.expires_at.ToMilliseconds() - renewed.decision.decided_at.ToMilliseconds()
    )
    assert shortened == 60 * 1000
    assert reservation.expires_at.ToMilliseconds() < held.expires_at.ToMilliseconds()
