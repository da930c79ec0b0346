"""A real ``python -m holdfast serve`` process serving TLS, for tests/tls."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import grpc
from serverproc import (
    PYTHON,
    REPO,
    SERVICE,
    START_TIMEOUT_S,
    ServerProcess,
    free_port,
    serve_command,
)
from tls_pki import Pair, Pki


def channel_credentials(pki: Pki, client: Pair | None = None) -> grpc.ChannelCredentials:
    """Trust the test CA; present ``client``'s certificate if given."""
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca.read_bytes(),
        private_key=client.key.read_bytes() if client else None,
        certificate_chain=client.cert.read_bytes() if client else None,
    )


class TlsServer(ServerProcess):
    """A server on a free loopback port with the given TLS flags (in memory
    unless they name a ``--database``);
    SERVING is awaited over TLS (with the good client certificate for mTLS)."""

    def __init__(self, log_path: Path, pki: Pki, *flags: str, client: Pair | None) -> None:
        super().__init__(log_path, free_port(), health_service=SERVICE, stdout_to_log=False)
        self.pki = pki
        self.client = client
        store = [] if "--database" in flags else ["--in-memory"]
        self.args = ["--listen", self.target, *store, *flags]

    def start(self) -> TlsServer:
        self.launch(serve_command(*self.args))
        return self

    def health_channel(self) -> grpc.Channel:
        # With the good client certificate for mTLS.
        return grpc.secure_channel(self.target, channel_credentials(self.pki, self.client))


def serve_to_exit(*args: str) -> subprocess.CompletedProcess[str]:
    """``holdfast serve ARGS`` expected to refuse to start: its exit and output."""
    return subprocess.run(
        serve_command("--in-memory", *args),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("HOLDFAST_")},
            "HOLDFAST_METRICS_LISTEN": "",
        },
    )


def ctl(
    target: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``holdfast ctl --target T ARGS`` with extra environment."""
    return subprocess.run(
        [PYTHON, "-m", "holdfast", "ctl", "--target", target, *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
