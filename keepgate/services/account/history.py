"""The login history: the sign-in attempts on an account, newest first, a page at a time.

Entries come from the audit log, whose sequence is global: each is shown under an opaque id
(``keepgate.security.opaque_ids``), which is also what comes back as the cursor for the next
page, so nothing reveals how many events the platform records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from keepgate.domain.audit import EventKind
from keepgate.domain.errors import UnknownHistoryEntry
from keepgate.security.errors import InvalidOpaqueId
from keepgate.security.opaque_ids import OpaqueIds
from keepgate.services.devices import describe_device
from keepgate.services.ports import AuditRecord, Store

HISTORY_KINDS = (EventKind.LOGIN.value, EventKind.BANNED.value)
PUBLIC_REASONS = {
    "wrong_password": "Wrong password", "banned": "Sign-in paused after failed attempts",
    "locked": "Sign-in locked", "refused": "Sign-in paused after failed attempts",
    "passkey_failed": "Passkey not accepted", "unknown_passkey": "Passkey not recognised",
}


class Geolocator(Protocol):
    def locate(self, ip: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class LoginEntry:
    id: str  # opaque: never the audit sequence number
    at: datetime
    outcome: str
    ip: str
    device: str
    user_agent: str
    method: str
    reason: str | None
    location: str | None


def _method_of(details: dict[str, object], outcome: str) -> str:
    if outcome == "success":
        methods = details.get("methods")
        return " + ".join(str(m) for m in methods) if isinstance(methods, list) else "password"
    reason = str(details.get("reason", ""))
    if reason.endswith("_failed"):
        return reason.removesuffix("_failed")
    if "passkey" in reason:
        return "passkey"
    return "password"


class LoginHistory:
    def __init__(self, *, store: Store, ids: OpaqueIds,
                 geolocator: Geolocator | None = None) -> None:
        self._store = store
        self._ids = ids
        self._geo = geolocator

    async def page(self, account_id: str, *, before: str | None = None,
                   outcome: str | None = None, limit: int = 20
                   ) -> tuple[list[LoginEntry], str | None]:
        """A page of sign-in attempts, newest first, and the cursor for the next page: the
        id of its last entry. ``before`` is such an id (``history.unknown_entry`` if it is
        not one of this account's)."""
        limit = max(1, min(limit, 100))
        before_seq = None if before is None else self._seq(account_id, before)
        async with self._store.unit_of_work(write=False) as uow:
            records = await uow.audit.for_account(account_id, HISTORY_KINDS,
                                                  before_seq=before_seq, outcome=outcome,
                                                  limit=limit + 1)
        entries = [self._entry(account_id, record) for record in records[:limit]]
        more = len(records) > limit
        return entries, (entries[-1].id if more and entries else None)

    def _seq(self, account_id: str, entry_id: str) -> int:
        try:
            return self._ids.decode(account_id, entry_id)
        except InvalidOpaqueId:
            raise UnknownHistoryEntry() from None

    def _entry(self, account_id: str, record: AuditRecord) -> LoginEntry:
        event = record.event
        details = dict(event.details)
        reason: str | None
        if event.kind is EventKind.BANNED:
            outcome, method, reason = "banned", "-", "Too many failed attempts"
        else:
            outcome = event.outcome.value
            method = _method_of(details, outcome)
            reason = None if outcome == "success" else PUBLIC_REASONS.get(
                str(details.get("reason", "")), "Not accepted")
        return LoginEntry(
            id=self._ids.encode(account_id, record.seq), at=record.at, outcome=outcome, ip=event.ip,
            device=describe_device(event.user_agent), user_agent=event.user_agent,
            method=method, reason=reason,
            location=self._geo.locate(event.ip) if self._geo and event.ip else None)
