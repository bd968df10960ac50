"""The id of the request being served, for the client, the logs and the audit log.

``web`` sets it for each request (the client's own ``X-Request-Id`` when it is short and
plain, else a new one); every log record made while the request runs carries it as
``request_id`` ("-" outside a request), every audit record's details hold it, and error
bodies quote it as their ``reference``. It lives in a context variable, so concurrent
requests never see each other's.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

CURRENT: ContextVar[str | None] = ContextVar("keepgate_request_id", default=None)
# Short, and nothing a log reader or a header could trip on.
WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,64}")
OUTSIDE = "-"


def current() -> str | None:
    return CURRENT.get()


def accept_or_new(sent: str | None) -> str:
    """The client's id when it is well formed, else a fresh random one."""
    if sent is not None and WELL_FORMED.fullmatch(sent):
        return sent
    return secrets.token_hex(16)


def stamp_log_records() -> None:
    """Make every log record carry ``request_id``, whichever logger or handler it meets
    (a filter would have to sit on every handler; a record factory cannot be missed).
    Installing twice changes nothing."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "stamps_request_id", False):
        return
    factory = _stamping(previous)
    logging.setLogRecordFactory(factory)


def _stamping(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def stamped(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.request_id = CURRENT.get() or OUTSIDE
        return record

    stamped.stamps_request_id = True  # type: ignore[attr-defined]
    return stamped


class RequestIdFilter(logging.Filter):
    """For a handler's configuration: gives a record made before ``stamp_log_records`` ran
    its ``request_id`` too, so a format naming it never fails."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = CURRENT.get() or OUTSIDE
        return True
