"""The published reason catalogue is the one the core uses."""

from pathlib import Path

import holdfast
from holdfast.catalogue_doc import render

DOC = Path(__file__).resolve().parent.parent / "docs" / "reasons.md"


def test_docs_reasons_md_is_generated_from_the_core() -> None:
    assert DOC.read_text() == render(), (
        "run: .venv/bin/python -m holdfast.catalogue_doc > docs/reasons.md"
    )


def test_every_reason_has_a_grpc_status_and_a_meaning() -> None:
    assert len(holdfast.REASONS) >= 30
    for reason in holdfast.REASONS.values():
        assert reason.grpc_status in {
            "OK",
            "INVALID_ARGUMENT",
            "NOT_FOUND",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "UNAVAILABLE",
            "UNAUTHENTICATED",
        }
        assert reason.meaning.endswith(".")
    assert holdfast.REASONS["INSUFFICIENT_STOCK"].grpc_status == "FAILED_PRECONDITION"
    assert holdfast.REASONS["RESERVATION_NOT_FOUND"].grpc_status == "NOT_FOUND"
    assert holdfast.REASONS["OVERLOADED"].retryable
