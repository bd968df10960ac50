"""keepgate.security.tokens: opaque 256-bit tokens, their SHA-256 and v4 ids."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid

from keepgate.security.tokens import TOKEN_BYTES, hash_token, new_id, new_token


def _decode(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def test_token_is_256_bits_url_safe() -> None:
    assert TOKEN_BYTES * 8 == 256
    token = new_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert len(_decode(token)) == 32


def test_tokens_are_unique_and_high_entropy() -> None:
    tokens = [new_token() for _ in range(5000)]
    assert len(set(tokens)) == len(tokens)
    # Sanity of the byte distribution: all 256 byte values show up over 160,000 random bytes,
    # and no byte value is wildly over-represented.
    raw = b"".join(_decode(t) for t in tokens)
    counts = [raw.count(bytes([b])) for b in range(256)]
    assert min(counts) > 0
    assert max(counts) < 3 * (len(raw) / 256)
    # No shared prefix (e.g. a timestamp) across tokens.
    assert len({t[:6] for t in tokens}) > 4900


def test_hash_token_is_sha256_hex() -> None:
    token = new_token()
    digest = hash_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert token not in digest
    assert hash_token("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_hash_token_distinguishes_tokens() -> None:
    assert hash_token("a") != hash_token("b")
    assert hash_token(new_token()) != hash_token(new_token())


def test_new_id_is_a_v4_uuid() -> None:
    ids = {new_id() for _ in range(2000)}
    assert len(ids) == 2000
    for value in list(ids)[:200]:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
