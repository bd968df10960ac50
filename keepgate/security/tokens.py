"""Opaque bearer tokens and identifiers."""

from __future__ import annotations

import hashlib
import secrets
import uuid

TOKEN_BYTES = 32  # 256 bits


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Tokens are stored only as their SHA-256: a database leak does not leak sessions."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    """Random (version 4) UUID: 122 bits from the OS CSPRNG; flow ids double as capabilities."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))
