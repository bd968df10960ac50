"""One-time numeric codes (email and SMS).

A code is drawn from the CSPRNG and stored only as an HMAC bound to its flow and purpose, so a
code issued for one flow can never be replayed in another, and a database reader learns nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from keepgate.security.errors import InvalidCodeDigest


def generate_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


class CodeDigester:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, code: str, *, purpose: str, binding: str) -> str:
        message = f"{purpose}\x1f{binding}\x1f{code}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def verify(self, stored: str | None, code: str, *, purpose: str, binding: str) -> None:
        """Raise ``InvalidCodeDigest`` unless ``code`` matches; a missing digest never matches."""
        candidate = self.digest(code, purpose=purpose, binding=binding)
        # Always compare, so a flow with no valid code costs the same as one with a wrong code.
        reference = stored if stored is not None else "0" * len(candidate)
        if not hmac.compare_digest(candidate, reference) or stored is None:
            raise InvalidCodeDigest()
