"""Purpose-bound keys derived from the configured master secret (HKDF-SHA-256).

One configured secret yields an independent key for each purpose, so a key leaked from one use
(say a CSRF token oracle) says nothing about another (one-time code digests).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(master: bytes, purpose: str, length: int = 32) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=b"keepgate:" + purpose.encode()
    ).derive(master)
