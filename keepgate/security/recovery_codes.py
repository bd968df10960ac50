"""Recovery codes: ten single-use codes of 120 bits (24 base32 characters, in six groups of
four for reading and typing).

Stored only as HMAC-SHA-256 under a server key, unsalted, and that suffices at this length:
* the key comes from configuration, never the database, so a database dump alone gives
  nothing to try codes against;
* with the key as well, 2**120 guesses per code stay out of reach, so neither a salt (there
  are no shared or guessable values to precompute) nor a slow hash (it would only add a
  small constant to 120 bits) buys anything, and checking a code stays one fast lookup.
Codes issued before were 16 characters (80 bits) and digested the same way: they keep
working until used or regenerated.

Input is forgiving: case, spaces and dashes do not matter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

COUNT = 10
CHARS = 24  # base32: 5 bits each, 120 bits in all
EARLIER_CHARS = 16  # 80 bits: codes issued before, still accepted
GROUP = 4
ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def generate(count: int = COUNT) -> list[str]:
    codes = []
    for _ in range(count):
        raw = base64.b32encode(secrets.token_bytes(CHARS * 5 // 8)).decode()
        codes.append("-".join(raw[i:i + GROUP] for i in range(0, CHARS, GROUP)))
    return codes


def normalize(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def looks_like_code(code: str) -> bool:
    norm = normalize(code)
    return len(norm) in (CHARS, EARLIER_CHARS) and set(norm) <= ALPHABET


class RecoveryCodeHasher:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, code: str) -> str:
        return hmac.new(self._key, normalize(code).encode(), hashlib.sha256).hexdigest()
