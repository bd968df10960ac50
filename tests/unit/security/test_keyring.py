"""keepgate.security.keyring: AES-256-GCM at rest, bound to its record, with rotation."""

from __future__ import annotations

import base64

import pytest

from keepgate.security.errors import VerificationFailed
from keepgate.security.keyring import KeyRing, UndecryptableSecret, key_id

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
SEED = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
CONTEXT = "totp:factor-1"


def split(token: str) -> tuple[str, str, bytes]:
    version, kid, blob = token.split(".", 2)
    return version, kid, base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))


def join(version: str, kid: str, raw: bytes) -> str:
    return f"{version}.{kid}.{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"


# --- round trip -------------------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", [SEED, b"", b"\x00" * 100, "päßwörd 🔑".encode()])
def test_round_trip(plaintext: bytes) -> None:
    ring = KeyRing([NEW])
    token = ring.encrypt(plaintext, context=CONTEXT)
    assert ring.decrypt(token, context=CONTEXT) == plaintext


def test_format_and_no_plaintext_in_token() -> None:
    token = KeyRing([NEW]).encrypt(SEED, context=CONTEXT)
    version, kid, raw = split(token)
    assert version == "v1"
    assert kid == key_id(NEW)
    assert len(raw) == 12 + len(SEED) + 16  # nonce, ciphertext, tag
    assert SEED.decode() not in token
    assert SEED not in raw
    assert "=" not in token


def test_each_encryption_uses_a_fresh_nonce() -> None:
    ring = KeyRing([NEW])
    tokens = {ring.encrypt(SEED, context=CONTEXT) for _ in range(20)}
    assert len(tokens) == 20
    assert len({split(t)[2][:12] for t in tokens}) == 20


def test_key_id_is_stable_and_reveals_nothing() -> None:
    assert key_id(NEW) == key_id(bytes(NEW))
    assert key_id(NEW) != key_id(OLD)
    assert len(key_id(NEW)) == 12
    assert NEW.hex()[:12] != key_id(NEW)


# --- context binding --------------------------------------------------------------------------


@pytest.mark.parametrize("other", ["totp:factor-2", "api-secret:factor-1", "", "totp:factor-1 "])
def test_another_context_does_not_decrypt(other: str) -> None:
    ring = KeyRing([NEW])
    token = ring.encrypt(SEED, context=CONTEXT)
    with pytest.raises(UndecryptableSecret):
        ring.decrypt(token, context=other)


# --- tampering --------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
def test_tampering_fails(where: str) -> None:
    ring = KeyRing([NEW])
    version, kid, raw = split(ring.encrypt(SEED, context=CONTEXT))
    index = {"nonce": 0, "ciphertext": 12, "tag": len(raw) - 1}[where]
    flipped = raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1:]
    with pytest.raises(UndecryptableSecret):
        ring.decrypt(join(version, kid, flipped), context=CONTEXT)


def test_truncated_ciphertext_fails() -> None:
    ring = KeyRing([NEW])
    version, kid, raw = split(ring.encrypt(SEED, context=CONTEXT))
    for length in (0, 12, 27, 28, len(raw) - 1):
        with pytest.raises(UndecryptableSecret):
            ring.decrypt(join(version, kid, raw[:length]), context=CONTEXT)


def test_key_id_swapped_to_another_known_key_fails() -> None:
    ring = KeyRing([NEW, OLD])
    version, _, raw = split(ring.encrypt(SEED, context=CONTEXT))
    with pytest.raises(UndecryptableSecret):
        ring.decrypt(join(version, key_id(OLD), raw), context=CONTEXT)


# --- rotation ---------------------------------------------------------------------------------


def test_rotation_decrypts_old_encrypts_new() -> None:
    old_ring = KeyRing([OLD])
    old_token = old_ring.encrypt(SEED, context=CONTEXT)
    rotated = KeyRing([NEW, OLD])
    assert rotated.decrypt(old_token, context=CONTEXT) == SEED
    new_token = rotated.encrypt(SEED, context=CONTEXT)
    assert split(new_token)[1] == key_id(NEW)
    assert rotated.decrypt(new_token, context=CONTEXT) == SEED
    # The old ring cannot read what the new key wrote.
    with pytest.raises(UndecryptableSecret):
        old_ring.decrypt(new_token, context=CONTEXT)


def test_needs_reencryption() -> None:
    old_token = KeyRing([OLD]).encrypt(SEED, context=CONTEXT)
    rotated = KeyRing([NEW, OLD])
    assert rotated.needs_reencryption(old_token)
    fresh = rotated.encrypt(rotated.decrypt(old_token, context=CONTEXT), context=CONTEXT)
    assert not rotated.needs_reencryption(fresh)
    assert rotated.decrypt(fresh, context=CONTEXT) == SEED
    assert KeyRing([OLD]).needs_reencryption(fresh)
    assert not KeyRing([OLD]).needs_reencryption(old_token)


def test_key_dropped_from_the_ring_no_longer_decrypts() -> None:
    old_token = KeyRing([OLD]).encrypt(SEED, context=CONTEXT)
    with pytest.raises(UndecryptableSecret):
        KeyRing([NEW]).decrypt(old_token, context=CONTEXT)


# --- unknown key id and malformed tokens ------------------------------------------------------


def test_unknown_key_id() -> None:
    ring = KeyRing([NEW])
    version, _, raw = split(ring.encrypt(SEED, context=CONTEXT))
    with pytest.raises(UndecryptableSecret):
        ring.decrypt(join(version, "000000000000", raw), context=CONTEXT)


@pytest.mark.parametrize(
    "token",
    ["", "v1", "v1.", "v1..", "garbage", "v1.abc", f"v1.{key_id(NEW)}", f"v1.{key_id(NEW)}.",
     f"v1.{key_id(NEW)}.!!!not base64!!!", f"v1.{key_id(NEW)}.A", f"v1.{key_id(NEW)}.é",
     "v2.x.y", ".....", "v1.key.id.with.dots"],
)
def test_malformed_tokens_fail(token: str) -> None:
    with pytest.raises(UndecryptableSecret):
        KeyRing([NEW]).decrypt(token, context=CONTEXT)


def test_other_version_fails() -> None:
    ring = KeyRing([NEW])
    _, kid, raw = split(ring.encrypt(SEED, context=CONTEXT))
    with pytest.raises(UndecryptableSecret):
        ring.decrypt(join("v2", kid, raw), context=CONTEXT)


def test_undecryptable_is_a_verification_failure() -> None:
    assert issubclass(UndecryptableSecret, VerificationFailed)


def test_needs_reencryption_of_garbage_is_true() -> None:
    assert KeyRing([NEW]).needs_reencryption("garbage")


# --- key validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33, 64])
def test_key_length_is_validated(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing([b"k" * length])
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing([NEW, b"k" * length])


def test_empty_ring_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        KeyRing([])
