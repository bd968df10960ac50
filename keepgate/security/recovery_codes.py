"""Recovery codes: ten single-use codes of 80 bits (16 base32 characters, grouped by four).

Stored only as HMAC-SHA-256 under a server key, so a database dump cannot be tried offline.
Input is forgiving: case, spaces and dashes do not matter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

COUNT = 10
CHARS = 16  # base32: 5 bits each, 80 bits in all


def generate(count: int = COUNT) -> list[str]:
    codes = []
    for _ in range(count):
        raw = base64.b32encode(secrets.token_bytes(CHARS * 5 // 8)).decode()
        codes.append("-".join(raw[i:i + 4] for i in range(0, CHARS, 4)))
    return codes


def normalize(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def looks_like_code(code: str) -> bool:
    norm = normalize(code)
    return len(norm) == CHARS and all(ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for ch in norm)


class RecoveryCodeHasher:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, code: str) -> str:
        return hmac.new(self._key, normalize(code).encode(), hashlib.sha256).hexdigest()
