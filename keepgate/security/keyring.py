"""Encryption at rest (TOTP seeds, later API secrets): AES-256-GCM with a rotatable key ring.

The first key encrypts; every key decrypts, so keys rotate by prepending a new one and
re-encrypting at leisure. Keys come from configuration, never from the database. Each
ciphertext is bound to its purpose and record (associated data), so a seed copied to another
row, or into another column, does not decrypt.

Format: ``v1.<key id>.<base64url(nonce || ciphertext || tag)>``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keepgate.security.errors import VerificationFailed


class UndecryptableSecret(VerificationFailed):
    """Unknown key, tampered ciphertext, or ciphertext bound to another record."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"keepgate-key-id:" + key).hexdigest()[:12]


class KeyRing:
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        if any(len(k) != 32 for k in keys):
            raise ValueError("AES-256-GCM keys are 32 bytes")
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self._current = key_id(keys[0])

    @property
    def current_key_id(self) -> str:
        """The id of the key that encrypts (the first), as it appears in ciphertexts."""
        return self._current

    def encrypt(self, plaintext: bytes, *, context: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._keys[self._current].encrypt(nonce, plaintext, context.encode())
        blob = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"v1.{self._current}.{blob}"

    def decrypt(self, token: str, *, context: str) -> bytes:
        try:
            version, kid, blob = token.split(".", 2)
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
            if version != "v1" or kid not in self._keys or len(raw) < 28:
                raise UndecryptableSecret()
            return self._keys[kid].decrypt(raw[:12], raw[12:], context.encode())
        except (ValueError, InvalidTag):
            raise UndecryptableSecret() from None

    def needs_reencryption(self, token: str) -> bool:
        return not token.startswith(f"v1.{self._current}.")
