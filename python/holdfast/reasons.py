"""The reason catalogue, read from the core (never re-typed here)."""

from __future__ import annotations

from dataclasses import dataclass

from holdfast._core import reason_catalogue


@dataclass(frozen=True, slots=True)
class Reason:
    name: str
    number: int
    grpc_status: str
    grpc_code: int
    retryable: bool
    meaning: str


REASONS: dict[str, Reason] = {entry[0]: Reason(*entry) for entry in reason_catalogue()}
