"""A real holdfast server with a credentials file: two tenants, a token per
role in each, minted fresh for the session (so a token found in the log was
written there by the server, not by a test)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from serverproc import SERVICE, ServerProcess, serve_command

TENANTS = ("acme", "globex")
ROLES = ("storefront", "warehouse", "operator", "reader")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Credentials:
    """The tokens issued, by (tenant, role), and the file that lists their digests."""

    path: Path
    tokens: dict[tuple[str, str], str]

    def token(self, tenant: str, role: str) -> str:
        return self.tokens[(tenant, role)]

    def name(self, tenant: str, role: str) -> str:
        return f"{tenant}-{role}"


def write_credentials(directory: Path) -> Credentials:
    tokens: dict[tuple[str, str], str] = {}
    entries = []
    for tenant in TENANTS:
        for role in ROLES:
            token = secrets.token_urlsafe(32)
            tokens[(tenant, role)] = token
            digest = hashlib.sha256(token.encode()).hexdigest()
            entries.append(
                "[[tokens]]\n"
                f'name = "{tenant}-{role}"\n'
                f'tenant = "{tenant}"\n'
                f'roles = ["{role}"]\n'
                f'sha256 = "{digest}"\n'
            )
    path = directory / "credentials.toml"
    path.write_text("\n".join(entries))
    return Credentials(path, tokens)


class AuthServer(ServerProcess):
    """``holdfast serve --auth-file`` on a database in ``directory``, logging
    at DEBUG (the most it ever writes: the token must be in none of it)."""

    def __init__(self, directory: Path, credentials: Credentials) -> None:
        super().__init__(directory / "server.log", health_service=SERVICE)
        self.database = directory / "holdfast.db"
        self.credentials = credentials

    def start(self) -> AuthServer:
        self.launch(
            serve_command(
                "--listen", self.target, "--database", str(self.database),
                "--auth-file", str(self.credentials.path), "--log-level", "DEBUG",
            )
        )  # fmt: skip
        self.wait_serving()
        return self
