"""Audit events as structured log lines (logger ``keepgate.audit``), one JSON object each.

Written once the transaction that appended them has committed, so a log shipper sees the
same events as the hash-chained table and never one that rolled back. Details hold no
secret (the audit log never does), and each line carries the request id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from keepgate.services.ports import AuditRecord

log = logging.getLogger("keepgate.audit")


def line(record: AuditRecord) -> str:
    event = record.event
    actor = event.acted_by
    return json.dumps({
        "seq": record.seq, "at": record.at.isoformat(), "kind": event.kind.value,
        "outcome": event.outcome.value, "account_id": event.account_id,
        "actor": {"kind": actor.kind.value, "id": actor.id, "reason": actor.reason},
        "ip": event.ip,
        "user_agent": event.user_agent, "request_id": event.details.get("request_id"),
        "details": event.details, "hash": record.hash,
    }, ensure_ascii=True, separators=(",", ":"), default=str)


def emit(records: Sequence[AuditRecord]) -> None:
    for record in records:
        log.info("%s", line(record))
