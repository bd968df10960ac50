"""Signed link tokens: the short tokens in links we send ("this wasn't me", undo a contact
change). HMAC-SHA-256, bound to a purpose, with an expiry.

Stateless on purpose: the link must work from any instance, and carries no secret of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from keepgate.security.errors import VerificationFailed


class InvalidLinkToken(VerificationFailed):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, purpose: str, payload: dict[str, Any], *, expires_at: datetime) -> str:
        body = _b64(json.dumps({**payload, "p": purpose, "exp": int(expires_at.timestamp())},
                               separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())}"

    def verify(self, purpose: str, token: str, *, now: datetime) -> dict[str, Any]:
        try:
            body, signature = token.split(".", 1)
            expected = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                raise InvalidLinkToken()
            payload = json.loads(_unb64(body))
        except (ValueError, TypeError):
            raise InvalidLinkToken() from None
        if not isinstance(payload, dict) or payload.get("p") != purpose:
            raise InvalidLinkToken()
        expires = payload.get("exp")
        if not isinstance(expires, int) or expires <= now.timestamp():
            raise InvalidLinkToken()
        return payload
