"""Times in the customer's own time zone.

``static/timezone.js`` stores the zone the browser reports (an IANA name such as
``Europe/London``) in the ``keepgate_tz`` cookie; pages then show times in it, the zone named
beside them. Without the cookie (no script, first visit) or with a zone this server does not
know, times are in UTC, and say so.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import pass_context
from jinja2.runtime import Context

TZ_COOKIE = "keepgate_tz"
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")


def zone_named(name: str | None) -> tuple[tzinfo, str]:
    """The zone called ``name`` and its name, or UTC for a missing, malformed or unknown one."""
    if name and len(name) <= 64 and _ZONE_NAME.fullmatch(name) and name != "UTC":
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    return UTC, "UTC"


def _zone(context: Context) -> tzinfo:
    zone = context.get("zone")
    return zone if isinstance(zone, tzinfo) else UTC


def _local(context: Context, value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(_zone(context))


@pass_context
def local_time(context: Context, value: datetime | None) -> str:
    """``2026-12-02 19:57`` in the customer's zone (named separately by ``zone_name``)."""
    return "" if value is None else _local(context, value).strftime("%Y-%m-%d %H:%M")


@pass_context
def local_seconds(context: Context, value: datetime | None) -> str:
    return "" if value is None else _local(context, value).strftime("%Y-%m-%d %H:%M:%S")


@pass_context
def local_date(context: Context, value: datetime | None) -> str:
    return "" if value is None else _local(context, value).strftime("%Y-%m-%d")


FILTERS: dict[str, Any] = {"local_time": local_time, "local_seconds": local_seconds,
                           "local_date": local_date}
