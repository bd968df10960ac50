"""Opaque ids for rows numbered by a global sequence (the audit log behind the login history).

A sequence number leaks the platform's volume (how many events happened between two of
mine). Shown instead is one AES block, under a key of its own, holding 8 bytes that name the
account and the 8-byte number: stable (the same entry always has the same id), in no
readable order, and reversible only with the key, so the id can come back as a cursor. An id
decrypts to the right account tag only when we made it for that account (a forged or another
account's id fails with a 2**-64 chance of a false match), so it names nothing of anyone else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from keepgate.security.errors import InvalidOpaqueId

LENGTH = 22  # one 16-byte block in unpadded base64url


class OpaqueIds:
    def __init__(self, key: bytes) -> None:
        # ECB over a single block is a keyed permutation: exactly what a stable id needs.
        self._cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305

    @staticmethod
    def _tag(account_id: str) -> bytes:
        return hashlib.sha256(account_id.encode()).digest()[:8]

    def encode(self, account_id: str, seq: int) -> str:
        block = self._tag(account_id) + seq.to_bytes(8, "big")
        encryptor = self._cipher.encryptor()
        sealed = encryptor.update(block) + encryptor.finalize()
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def decode(self, account_id: str, shown: str) -> int:
        """The number behind ``shown``; ``InvalidOpaqueId`` unless we made it for this account."""
        if len(shown) != LENGTH or not shown.isascii():
            raise InvalidOpaqueId()
        try:
            sealed = base64.urlsafe_b64decode(shown + "==")
        except (binascii.Error, ValueError):
            raise InvalidOpaqueId() from None
        if len(sealed) != 16 or base64.urlsafe_b64encode(sealed).decode().rstrip("=") != shown:
            raise InvalidOpaqueId()
        decryptor = self._cipher.decryptor()
        block = decryptor.update(sealed) + decryptor.finalize()
        if block[:8] != self._tag(account_id):
            raise InvalidOpaqueId()
        return int.from_bytes(block[8:], "big")
