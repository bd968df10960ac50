"""Approximate location from an IP address, from a MaxMind DB file (``.mmdb``).

Plug in GeoLite2-City or GeoLite2-Country (free from MaxMind, under their licence) or any
database in the same format, with ``KEEPGATE_GEOIP_DB=/path/to/GeoLite2-City.mmdb``. Without
one, login history simply shows no location.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import maxminddb


class MaxMindGeolocator:
    def __init__(self, path: str) -> None:
        self._reader = maxminddb.open_database(path)

    def locate(self, ip: str) -> str | None:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return None
        try:
            record: Any = self._reader.get(ip)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        city = (record.get("city") or {}).get("names", {}).get("en")
        country = (record.get("country") or {}).get("names", {}).get("en")
        return ", ".join(p for p in (city, country) if p) or None

    def close(self) -> None:
        self._reader.close()
