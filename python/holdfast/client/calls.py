"""What the sync and async clients share: channels, identity, the retry loop's state.

The two clients differ only in how they wait (``time.sleep`` or
``asyncio.sleep``) and how a failed call hands over its status; everything
that decides — the deadline, which failure is retried, how long to wait — is
here and in ``retry.py``, once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from grpc_status import rpc_status

from holdfast.client.errors import (
    HoldfastError,
    error_from_status,
    pushback_from,
    request_id_from,
    status_from_trailers,
)
from holdfast.client.retry import RetryPolicy

__all__ = [
    "DEFAULT_TARGET",
    "DEFAULT_TIMEOUT",
    "CallPlan",
    "ChannelOptions",
    "Metadata",
    "channel_options",
    "error_from_rpc_error",
    "identity_metadata",
    "tls_credentials",
]

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 10.0
TENANT_KEY = "x-holdfast-tenant"
ACTOR_KEY = "x-holdfast-actor"
AUTHORIZATION_KEY = "authorization"

Metadata = tuple[tuple[str, str], ...]
ChannelOptions = Sequence[tuple[str, Any]]

# gRPC's own reconnect backoff starts at 1 s and grows to 120 s; while it waits,
# every attempt fails at once with UNAVAILABLE. This client already retries
# with its own backoff inside a deadline, so the channel should look again soon.
_RECONNECT_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


def channel_options(extra: ChannelOptions = ()) -> list[tuple[str, Any]]:
    """The client's channel options; the caller's ``extra`` win over the defaults."""
    given = {name for name, _ in extra}
    return [option for option in _RECONNECT_OPTIONS if option[0] not in given] + list(extra)


def tls_credentials(
    credentials: grpc.ChannelCredentials | None,
    tls_ca: str | os.PathLike[str] | None,
    tls_cert: str | os.PathLike[str] | None,
    tls_key: str | os.PathLike[str] | None,
) -> grpc.ChannelCredentials | None:
    """The channel's TLS credentials: ``credentials`` as given, or made from
    PEM files (``tls_ca`` the CA that signed the server's certificate, None:
    the system's roots; ``tls_cert`` and ``tls_key`` this client's
    certificate for mutual TLS), or None for plaintext when nothing is given.
    Raises ValueError on a contradiction, OSError when a file cannot be read."""
    files = (tls_ca, tls_cert, tls_key)
    if credentials is not None:
        if any(f is not None for f in files):
            raise ValueError("give either credentials or tls_ca/tls_cert/tls_key, not both")
        return credentials
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("tls_cert and tls_key go together (the client's certificate and key)")
    if all(f is None for f in files):
        return None

    def read(path: str | os.PathLike[str] | None) -> bytes | None:
        if path is None:
            return None
        with open(path, "rb") as f:
            return f.read()

    return grpc.ssl_channel_credentials(
        root_certificates=read(tls_ca),
        private_key=read(tls_key),
        certificate_chain=read(tls_cert),
    )


def identity_metadata(tenant: str | None, actor: str | None, token: str | None = None) -> Metadata:
    """Metadata naming the tenant and actor (absent ones take the server's
    defaults; a server with credentials takes both from the token's principal
    instead) and the bearer token, when given."""
    pairs: list[tuple[str, str]] = []
    if token is not None:
        pairs.append((AUTHORIZATION_KEY, f"Bearer {token}"))
    if tenant is not None:
        pairs.append((TENANT_KEY, tenant))
    if actor is not None:
        pairs.append((ACTOR_KEY, actor))
    return tuple(pairs)


class CallPlan:
    """One logical call: its overall deadline and the attempts made within it.

    ``timeout`` is the whole call's budget, retries and waits included; each
    attempt gets what is left of it as its gRPC deadline.
    """

    def __init__(
        self, timeout: float, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._deadline: float = clock() + timeout
        self._policy = policy
        self.attempts = 0

    def start_attempt(self) -> float:
        """Count an attempt and return its timeout (what is left of the deadline)."""
        self.attempts += 1
        return max(self._deadline - self._clock(), 0.0)

    def delay_after(self, error: HoldfastError) -> float | None:
        """How long to wait before the next attempt, or None: raise ``error``."""
        remaining = self._deadline - self._clock()
        return self._policy.delay_before_retry(error, self.attempts, remaining)


def _metadata_or_none(getter: Any) -> Any:
    try:
        return getter()
    except Exception:  # a call that never started has no metadata to read
        return None


def error_from_rpc_error(rpc_error: grpc.RpcError, attempts: int, *, aio: bool) -> HoldfastError:
    """The typed exception for a failed attempt, rich status details decoded.

    Sync calls are ``grpc.Call`` objects and go through grpcio-status's
    ``rpc_status.from_call`` (which checks the details agree with the status);
    aio errors carry the same ``grpc-status-details-bin`` trailer, read directly.
    """
    code_of = getattr(rpc_error, "code", None)
    if code_of is None:  # not a call at all: nothing more to read
        return error_from_status(grpc.StatusCode.UNKNOWN, str(rpc_error), None, attempts=attempts)
    code: grpc.StatusCode = code_of()
    message: str = rpc_error.details() or ""
    trailers = _metadata_or_none(rpc_error.trailing_metadata)
    status = None
    if aio:
        status = status_from_trailers(trailers)
    else:
        try:
            status = rpc_status.from_call(rpc_error)
        except ValueError:  # details disagree with the status line: trust the trailer anyway
            status = status_from_trailers(trailers)
    request_id = request_id_from(_metadata_or_none(rpc_error.initial_metadata))
    return error_from_status(
        code,
        message,
        status,
        retry_pushback=pushback_from(trailers),
        request_id=request_id,
        attempts=attempts,
    )
