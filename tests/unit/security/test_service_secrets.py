"""Service-client secrets: 256 bits, prefixed, checked by keyed hash in constant time."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from keepgate.security.errors import InvalidServiceSecret
from keepgate.security.service_secrets import ServiceSecretHasher, new_secret

KEY = bytes(range(32))


def test_secrets_are_prefixed_random_and_long() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(s.startswith("kgs_") and len(s) == 47 for s in secrets)


def test_the_digest_is_hmac_sha256_under_the_key() -> None:
    secret = new_secret()
    digest = ServiceSecretHasher(KEY).digest(secret)
    assert digest == hmac.new(KEY, secret.encode(), hashlib.sha256).hexdigest()
    assert digest != ServiceSecretHasher(bytes(32)).digest(secret)
    assert digest != hashlib.sha256(secret.encode()).hexdigest()


def test_verify_accepts_the_secret_and_refuses_any_other() -> None:
    hasher = ServiceSecretHasher(KEY)
    secret = new_secret()
    stored = hasher.digest(secret)
    hasher.verify(secret, stored)
    for wrong in (secret[:-1], secret + "A", new_secret(), "", "\udfff"):
        with pytest.raises(InvalidServiceSecret):
            hasher.verify(wrong, stored)
