"""The proto mirrors the core: one source for reason codes and states."""

import holdfast
from holdfast.v1 import inventory_pb2, reasons_pb2


def test_reason_code_enum_mirrors_the_core_catalogue() -> None:
    proto = {
        value.name: value.number
        for value in reasons_pb2.ReasonCode.DESCRIPTOR.values
        if value.number != 0
    }
    core = {reason.name: reason.number for reason in holdfast.REASONS.values()}
    assert proto == core
    assert reasons_pb2.ReasonCode.Name(0) == "REASON_CODE_UNSPECIFIED"


def test_line_state_enum_mirrors_the_core_states() -> None:
    proto = [
        value.name.removeprefix("LINE_STATE_")
        for value in inventory_pb2.LineState.DESCRIPTOR.values
        if value.number != 0
    ]
    assert proto == holdfast.line_states()


def test_every_enum_starts_with_unspecified() -> None:
    for enum in (reasons_pb2.ReasonCode, inventory_pb2.LineState, inventory_pb2.Owner):
        assert enum.DESCRIPTOR.values[0].number == 0
        assert enum.DESCRIPTOR.values[0].name.endswith("_UNSPECIFIED")
