"""keepgate.security.keys: HKDF purpose-bound keys."""

from __future__ import annotations

import hashlib
import hmac

from keepgate.security.keys import derive_key

MASTER = b"master secret that is long enough for tests"


def test_deterministic_per_purpose() -> None:
    assert derive_key(MASTER, "csrf") == derive_key(MASTER, "csrf")
    assert len(derive_key(MASTER, "csrf")) == 32


def test_differs_across_purposes() -> None:
    purposes = ["csrf", "codes", "recovery", "api-keys", "totp", "csrf2", ""]
    keys = [derive_key(MASTER, p) for p in purposes]
    assert len(set(keys)) == len(purposes)


def test_differs_across_masters() -> None:
    assert derive_key(MASTER, "csrf") != derive_key(MASTER + b"!", "csrf")


def test_key_is_not_the_master() -> None:
    key = derive_key(MASTER, "csrf")
    assert key != MASTER[:32]
    assert MASTER not in key


def test_length_is_configurable() -> None:
    assert len(derive_key(MASTER, "x", length=64)) == 64
    assert len(derive_key(MASTER, "x", length=16)) == 16
    # HKDF output of a shorter length is a prefix of the longer one (same info).
    assert derive_key(MASTER, "x", length=64)[:16] == derive_key(MASTER, "x", length=16)


def test_known_answer() -> None:
    # HKDF-SHA-256 (RFC 5869), salt=None, info=b"keepgate:" + purpose, computed independently
    # with hmac: PRK = HMAC(0^32, master); OKM = HMAC(PRK, info || 0x01). Pinned so a change of
    # the derivation (which would silently invalidate every stored digest) is noticed.
    prk = hmac.new(b"\x00" * 32, MASTER, hashlib.sha256).digest()
    expected = hmac.new(prk, b"keepgate:codes\x01", hashlib.sha256).digest()
    assert derive_key(MASTER, "codes") == expected
    assert expected.hex() == (
        "5b0b06fee489deb2a2779a1f183215e6530ccc74b24569f034155762a117f684")
