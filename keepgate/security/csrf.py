"""CSRF tokens for server-rendered forms: a signed double-submit.

The browser holds a random value in an HttpOnly cookie (``__Host-`` prefixed outside
development, so a sibling subdomain cannot plant one); every form carries HMAC(key, value).
An attacker's page can neither read the cookie nor compute the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from keepgate.security.errors import InvalidCsrfToken


class CsrfTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @staticmethod
    def new_cookie_value() -> str:
        return secrets.token_urlsafe(32)

    def token_for(self, cookie_value: str) -> str:
        return hmac.new(self._key, cookie_value.encode(), hashlib.sha256).hexdigest()

    def verify(self, cookie_value: str | None, token: str | None) -> None:
        if not cookie_value or not token:
            raise InvalidCsrfToken()
        if not hmac.compare_digest(self.token_for(cookie_value), token):
            raise InvalidCsrfToken()

    @staticmethod
    def binding(cookie_value: str) -> str:
        """What a browser flow stores to tie itself to this browser (not the secret itself)."""
        return hashlib.sha256(b"flow-binding:" + cookie_value.encode()).hexdigest()
