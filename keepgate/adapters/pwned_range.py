"""The Have I Been Pwned range API: ``GET {base}/range/{5 hex digits}`` lists hash suffixes.

k-anonymity: only the first five hex digits of the password's SHA-1 leave the service, and the
request asks for padding so the answer's size does not narrow it down either. It is called from
the password screen, which runs in a worker thread, so a blocking client is right here. Any
failure (timeout, refused connection, an answer that does not parse) counts as "not seen": the
shipped corpus has already been consulted and decides alone.
"""

from __future__ import annotations

import hashlib
import logging

import httpx

log = logging.getLogger("keepgate.adapters.pwned_range")


class PwnedRange:
    def __init__(self, base_url: str, timeout: float = 2.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout

    def seen(self, password: str) -> bool:
        try:
            return self._listed(password)
        except (httpx.HTTPError, ValueError) as error:
            log.warning("breached-password range API unavailable (%s); the local corpus decided",
                        type(error).__name__)
            return False

    def _listed(self, password: str) -> bool:
        digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
        prefix, suffix = digest[:5], digest[5:]
        response = httpx.get(f"{self._base_url}/range/{prefix}", timeout=self._timeout,
                             headers={"Add-Padding": "true", "User-Agent": "keepgate"})
        response.raise_for_status()
        for line in response.text.splitlines():
            listed, _, count = line.partition(":")
            if listed.strip().upper() == suffix and int(count or "0") > 0:
                return True
        return False
