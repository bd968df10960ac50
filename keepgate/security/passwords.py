"""Password hashing with Argon2id.

Passwords are NFKC-normalised before hashing so the same password typed on two keyboards
matches; they are never truncated or case-folded. An unknown identifier is verified against a
dummy hash made with the same parameters, so timing does not reveal whether an account exists.
"""

from __future__ import annotations

import contextlib
import secrets
import unicodedata
from dataclasses import dataclass

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from keepgate.security.errors import InvalidPassword

# The OWASP minimum for Argon2id; SECURITY.md's floor.
FLOOR_MEMORY_KIB = 19 * 1024
FLOOR_TIME_COST = 2


@dataclass(frozen=True, slots=True)
class HashParams:
    memory_kib: int = FLOOR_MEMORY_KIB
    time_cost: int = FLOOR_TIME_COST
    parallelism: int = 1

    def below_floor(self) -> bool:
        return self.memory_kib < FLOOR_MEMORY_KIB or self.time_cost < FLOOR_TIME_COST


def normalize_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


class PasswordHasher:
    """Synchronous and CPU-bound: callers run it off the event loop (see services.hashing)."""

    def __init__(self, params: HashParams) -> None:
        self.params = params
        self._argon = argon2.PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        self._dummy_hash = self._argon.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        return self._argon.hash(normalize_password(password))

    def verify(self, password_hash: str, password: str) -> None:
        """Raise ``InvalidPassword`` unless ``password`` matches ``password_hash``."""
        try:
            self._argon.verify(password_hash, normalize_password(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise InvalidPassword() from None

    def verify_dummy(self, password: str) -> None:
        """Spend the time ``verify`` would for an identifier with no account; always raises."""
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            self._argon.verify(self._dummy_hash, normalize_password(password))
        raise InvalidPassword()

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon.check_needs_rehash(password_hash)
