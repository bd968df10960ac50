"""Who is asking: the principals Keepgate authenticates.

===================  ======================================================================
``CustomerSession``  a customer signed in through a flow: their session and account
``ApiKeyPrincipal``  a customer's API key: its scopes and the addresses it may come from
``StaffSession``     a staff member signed in to the console, with their roles
``ServiceClient``    another of the exchange's services, with the actions it may ask about
``AccountSubject``   an account asked about by one of those services, with no session of its
                     owner's: "may this account do this now?"
===================  ======================================================================

Customer sessions and service clients are authenticated today; the other records are what
the API-key and staff-console work will authenticate into. ``domain.access.authorize`` decides
for any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from keepgate.domain.accounts import Account
from keepgate.domain.sessions import Session


@dataclass(frozen=True, slots=True)
class CustomerSession:
    """A signed-in customer: the session they hold and the account it belongs to."""

    session: Session
    account: Account


@dataclass(frozen=True, slots=True)
class ApiKeyPrincipal:
    """A request signed with one of a customer's API keys."""

    key_id: str
    account: Account
    scopes: frozenset[str]  # the actions (``domain.access.Action`` values) the key may take
    allowed_ips: tuple[str, ...] = ()  # addresses or networks; empty: none is allowed


@dataclass(frozen=True, slots=True)
class StaffSession:
    """A staff member signed in to the console."""

    staff_id: str
    roles: frozenset[str]
    session_id: str


@dataclass(frozen=True, slots=True)
class ServiceClient:
    """Another service of the exchange, authenticated by its own credentials."""

    name: str
    allowed_actions: frozenset[str]
    scopes: frozenset[str] = frozenset()  # ``domain.service_clients.Scope`` values


@dataclass(frozen=True, slots=True)
class AccountSubject:
    """An account decided about on behalf of another service (which checked its own scope)."""

    account: Account


Principal = CustomerSession | ApiKeyPrincipal | StaffSession | ServiceClient | AccountSubject
