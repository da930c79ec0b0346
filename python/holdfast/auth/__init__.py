"""Who is calling, and what they may do.

A call's identity is a :class:`Principal`: a name (the actor of its
decisions), the tenant whose reservations it sees and changes, and roles.
The credentials file (setting ``auth_file``, see docs/auth.md) maps bearer
tokens, stored as the SHA-256 hex of the token, and mTLS client certificates,
by the subject's common name, to principals::

    [[tokens]]
    name = "shop-eu"
    tenant = "shop"
    roles = ["storefront"]
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

    [[clients]]
    name = "dc-1"
    tenant = "shop"
    roles = ["warehouse"]
    common_name = "dc-1.warehouse.example"

:class:`Authority` answers who a call is (``identify``) and whether its
method is within the roles (``permits``); a batch's operations are each
checked like their unary call (``operation_refusal``). The token itself is
never kept, logged or repeated in an answer: only its digest is compared.
"""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# A module import (not names): errors imports interceptors, which may be
# importing this module.
from holdfast import errors

if TYPE_CHECKING:
    from holdfast.errors import Refusal

STOREFRONT = "storefront"
WAREHOUSE = "warehouse"
OPERATOR = "operator"
READER = "reader"
ROLES = (STOREFRONT, WAREHOUSE, OPERATOR, READER)

AUTHORIZATION_KEY = "authorization"
BEARER = "bearer "
# The auth context property gRPC fills with a verified client certificate's CN.
COMMON_NAME_PROPERTY = "x509_common_name"

INVENTORY = "/holdfast.v1.InventoryService/"
OPERATIONS = "/holdfast.v1.OperationsService/"
# Answered without an identity: a balancer's health checks and reflection.
OPEN_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

_OPERATIONS_METHODS = (
    "ListCircuitBreakers",
    "SetCircuitBreaker",
    "RunAudit",
    "OverrideRelease",
    "OverrideAdjust",
    "ListOperatorActions",
    "InjectFault",
    "ValidateRuleSet",
    "DeployRuleSet",
    "ListRuleSets",
    "GetRuleSet",
    "DiffRuleSets",
    "StartShadow",
    "StopShadow",
    "GetShadowReport",
    "ActivateRuleSet",
    "RollbackRuleSet",
)
_INVENTORY_READS = ("GetReservation", "GetAvailability", "ListEvents", "WatchEvents")
_OPERATIONS_READS = (
    "ListCircuitBreakers",
    "ListRuleSets",
    "GetRuleSet",
    "DiffRuleSets",
    "GetShadowReport",
    "ListOperatorActions",
)


def _methods(inventory: Iterable[str] = (), operations: Iterable[str] = ()) -> frozenset[str]:
    return frozenset([*(INVENTORY + m for m in inventory), *(OPERATIONS + m for m in operations)])


# The full method paths each role may call.
PERMISSIONS: dict[str, frozenset[str]] = {
    STOREFRONT: _methods(
        (
            "Reserve",
            "Allocate",
            "Release",
            "RenewHold",
            "GetReservation",
            "GetAvailability",
            "ExecuteBatch",
            "ListEvents",
            "WatchEvents",
        )
    ),
    WAREHOUSE: _methods(
        (
            "SetStock",
            "AdjustStock",
            "ConfirmPick",
            "Unpick",
            "ConfirmShipment",
            "RecordReturn",
            "GetAvailability",
            "GetReservation",
            "ExecuteBatch",
        )
    ),
    OPERATOR: _methods(_INVENTORY_READS, _OPERATIONS_METHODS),
    READER: _methods(_INVENTORY_READS, _OPERATIONS_READS),
}

# A batch operation's kind (the Operation oneof's field) -> its unary method.
BATCH_KINDS: dict[str, str] = {
    "reserve": INVENTORY + "Reserve",
    "allocate": INVENTORY + "Allocate",
    "release": INVENTORY + "Release",
    "renew_hold": INVENTORY + "RenewHold",
    "confirm_pick": INVENTORY + "ConfirmPick",
    "unpick": INVENTORY + "Unpick",
    "confirm_shipment": INVENTORY + "ConfirmShipment",
    "record_return": INVENTORY + "RecordReturn",
    "set_stock": INVENTORY + "SetStock",
    "adjust_stock": INVENTORY + "AdjustStock",
}


class CredentialsError(ValueError):
    """A credentials file the server cannot start with; the message says why."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a call is: its actor name, its tenant, its roles."""

    name: str
    tenant: str
    roles: frozenset[str]

    def may(self, method: str) -> bool:
        """Whether one of the roles covers the full method path."""
        return any(method in PERMISSIONS[role] for role in self.roles)


def token_digest(token: str) -> str:
    """The SHA-256 hex of a bearer token, as the credentials file stores it."""
    return hashlib.sha256(token.encode()).hexdigest()


class Authority:
    """The principals of a credentials file, and who may call what."""

    def __init__(
        self,
        tokens: Iterable[tuple[str, Principal]] = (),
        clients: Mapping[str, Principal] | None = None,
    ) -> None:
        self._tokens = [(bytes.fromhex(digest), principal) for digest, principal in tokens]
        self._clients = dict(clients or {})

    @classmethod
    def load(cls, path: str | Path) -> Authority:
        """The credentials file at ``path``; raises :class:`CredentialsError`."""
        try:
            with Path(path).open("rb") as f:
                table = tomllib.load(f)
        except OSError as e:
            raise CredentialsError(f"cannot read auth_file {path}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise CredentialsError(f"auth_file {path} is not valid TOML: {e}") from None
        unknown = sorted(set(table) - {"tokens", "clients"})
        if unknown:
            raise CredentialsError(f"auth_file {path}: unknown tables {', '.join(unknown)}")
        tokens: list[tuple[str, Principal]] = []
        for index, entry in enumerate(_entries(table, "tokens", path)):
            where = f"auth_file {path}: tokens[{index}]"
            principal = _principal(entry, where, "sha256")
            digest = str(entry.get("sha256", "")).lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise CredentialsError(
                    f"{where}: sha256 must be 64 hex digits (python -m holdfast hash-token)"
                )
            if any(digest == known for known, _ in tokens):
                raise CredentialsError(f"{where}: the same token is listed twice")
            tokens.append((digest, principal))
        clients: dict[str, Principal] = {}
        for index, entry in enumerate(_entries(table, "clients", path)):
            where = f"auth_file {path}: clients[{index}]"
            principal = _principal(entry, where, "common_name")
            common_name = entry.get("common_name")
            if not isinstance(common_name, str) or not common_name:
                raise CredentialsError(f"{where}: common_name must be a non-empty string")
            if common_name in clients:
                raise CredentialsError(f"{where}: common_name {common_name!r} is listed twice")
            clients[common_name] = principal
        if not tokens and not clients:
            raise CredentialsError(f"auth_file {path}: lists no [[tokens]] and no [[clients]]")
        return cls(tokens, clients)

    def identify(self, metadata: Mapping[str, Any], context: Any) -> Principal | None:
        """The caller's principal: by its bearer token when it sends one (a
        token that matches no entry is no identity, whatever the certificate),
        else by its verified client certificate's common name; None when neither."""
        header = metadata.get(AUTHORIZATION_KEY)
        if header is not None:
            text = header.decode(errors="replace") if isinstance(header, bytes) else str(header)
            if text[: len(BEARER)].lower() != BEARER:
                return None
            return self._by_token(text[len(BEARER) :].strip())
        if not self._clients:
            return None
        try:
            properties = context.auth_context()
        except Exception:  # no transport security: no certificate either
            return None
        for name in properties.get(COMMON_NAME_PROPERTY, ()):
            common_name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
            principal = self._clients.get(common_name)
            if principal is not None:
                return principal
        return None

    def _by_token(self, token: str) -> Principal | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        # Every entry compared, in constant time each: how long the answer
        # takes says nothing of which entry (if any) came close.
        for known, principal in self._tokens:
            if hmac.compare_digest(digest, known):
                found = principal
        return found


def _entries(table: Mapping[str, Any], name: str, path: str | Path) -> list[Mapping[str, Any]]:
    entries = table.get(name, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CredentialsError(f"auth_file {path}: {name} must be an array of tables [[{name}]]")
    return entries


def _principal(entry: Mapping[str, Any], where: str, key: str) -> Principal:
    unknown = sorted(set(entry) - {"name", "tenant", "roles", key})
    if unknown:
        raise CredentialsError(f"{where}: unknown keys {', '.join(unknown)}")
    name, tenant, roles = entry.get("name"), entry.get("tenant"), entry.get("roles")
    if not isinstance(name, str) or not name:
        raise CredentialsError(f"{where}: name must be a non-empty string")
    if not isinstance(tenant, str) or not tenant:
        raise CredentialsError(f"{where}: tenant must be a non-empty string")
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        raise CredentialsError(f"{where}: roles must be a non-empty list of role names")
    unknown_roles = sorted(set(roles) - set(ROLES))
    if unknown_roles:
        raise CredentialsError(
            f"{where}: unknown roles {', '.join(unknown_roles)} (known: {', '.join(ROLES)})"
        )
    return Principal(name, tenant, frozenset(roles))


def is_open(method: str) -> bool:
    """Whether the method is answered without an identity (health, reflection)."""
    return method.startswith(OPEN_SERVICES)


def unauthenticated() -> Refusal:
    """No identity, or one nobody issued. Never repeats what was sent."""
    return errors.Refusal(
        "UNAUTHENTICATED",
        "the call carries no valid identity: send 'authorization: Bearer <token>' "
        "metadata or a client certificate the server knows",
        {},
    )


def permission_denied(principal: Principal, method: str) -> Refusal:
    """The principal's roles do not cover the method."""
    short = method.rsplit("/", 1)[-1]
    roles = ",".join(sorted(principal.roles))
    return errors.Refusal(
        "PERMISSION_DENIED",
        f"{principal.name} (roles {roles}) may not call {short}",
        {"principal": principal.name, "method": short, "roles": roles},
    )


def operation_refusal(principal: Principal | None, kind: str) -> Refusal | None:
    """A batch operation of ``kind`` checked as its unary call would be: the
    refusal when the principal may not make it (None when anonymous or allowed)."""
    if principal is None:
        return None
    method = BATCH_KINDS.get(kind)
    if method is None or principal.may(method):
        return None
    return permission_denied(principal, method)
