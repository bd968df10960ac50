"""Service-client secrets: 256 random bits, shown once, stored only as a keyed hash.

The hash is HMAC-SHA-256 under a key derived from the configured secret key, never stored in
the database. That suffices, as for recovery codes: nobody can guess among 2**256 secrets, so
neither a salt nor a slow hash (Argon2) would buy anything, while every call of the trading
engine (one per order) must be checked in microseconds. A database dump alone gives nothing to
test secrets against.

A secret reads ``kgs_`` and 43 URL-safe characters; the prefix lets secret scanners find
leaked ones. ``verify`` compares digests in constant time and raises on a mismatch.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from keepgate.security.errors import InvalidServiceSecret

PREFIX = "kgs_"
SECRET_BYTES = 32  # 256 bits
MAX_SECRET_LENGTH = 128  # anything longer is refused before it is hashed


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(SECRET_BYTES)


class ServiceSecretHasher:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()

    def verify(self, secret: str, stored_digest: str) -> None:
        """Return if ``secret`` hashes to ``stored_digest``; raise ``InvalidServiceSecret``."""
        if not hmac.compare_digest(self.digest(secret), stored_digest):
            raise InvalidServiceSecret()
