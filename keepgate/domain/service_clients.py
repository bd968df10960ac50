"""Service clients: the exchange's other services (the trading engine, the wallet service),
each with a name, the scopes it was granted, and a secret of its own.

=============  ==========================================================================
``introspect``  ask who holds a session token, at what assurance (``POST /api/v1/introspect``)
``decide``      ask whether an account may take a capability now (``POST /api/v1/decisions``)
``limits``      reserve, commit and release limit usage (``/api/v1/limits/reservations``)
=============  ==========================================================================

A name is the client's id: 3 to 64 lowercase letters, digits and hyphens, starting with a
letter (so it never holds the ``:`` that HTTP Basic puts between id and secret). A revoked
client keeps its name for good, so that the audit log never names two clients alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

NAME = re.compile(r"[a-z][a-z0-9-]{1,62}[a-z0-9]")


class Scope(StrEnum):
    INTROSPECT = "introspect"
    DECIDE = "decide"
    LIMITS = "limits"


class InvalidServiceClient(ValueError):
    """A name or scope list an operator gave that is not acceptable; the message says why."""


def valid_name(name: str) -> str:
    if not NAME.fullmatch(name) or "--" in name:
        raise InvalidServiceClient(
            f"{name!r} is not a service-client name: use 3 to 64 lowercase letters, digits "
            "and single hyphens, starting with a letter and ending with a letter or digit")
    return name


def parse_scopes(items: Iterable[str]) -> frozenset[Scope]:
    """Scopes from an operator's list (``introspect,decide``); at least one, each known."""
    names = [item.strip().lower() for item in items if item.strip()]
    unknown = sorted({n for n in names if n not in Scope.__members__.values()})
    if unknown:
        known = ", ".join(s.value for s in Scope)
        raise InvalidServiceClient(f"unknown scope(s) {', '.join(unknown)}: choose from {known}")
    if not names:
        raise InvalidServiceClient("give at least one scope")
    return frozenset(Scope(n) for n in names)


@dataclass(frozen=True, slots=True)
class ServiceClientRecord:
    """A service client as stored: never its secret, only the secret's keyed hash."""

    id: str
    name: str
    scopes: frozenset[Scope]
    secret_hash: str
    created_at: datetime
    created_by: str  # the operator who created it
    rotated_at: datetime | None = None  # when the current secret was issued, if not at creation
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
