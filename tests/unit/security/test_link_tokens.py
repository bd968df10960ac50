"""keepgate.security.link_tokens: short HMAC-signed tokens with a purpose and an expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from keepgate.security.errors import VerificationFailed
from keepgate.security.link_tokens import InvalidLinkToken, LinkSigner

KEY = b"signing-test-key-0123456789abcdef"
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(days=7)
PAYLOAD = {"a": "acct-1", "f": "flow-1"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(KEY)


def test_round_trip(signer: LinkSigner) -> None:
    token = signer.sign("not-me", PAYLOAD, expires_at=EXPIRES)
    payload = signer.verify("not-me", token, now=T0)
    assert payload["a"] == "acct-1"
    assert payload["f"] == "flow-1"
    assert payload["p"] == "not-me"
    assert payload["exp"] == int(EXPIRES.timestamp())


def test_token_is_url_safe(signer: LinkSigner) -> None:
    token = signer.sign("not-me", {"x": "?&=/+ é"}, expires_at=EXPIRES)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert token.count(".") == 1
    assert signer.verify("not-me", token, now=T0)["x"] == "?&=/+ é"


def test_signing_is_deterministic(signer: LinkSigner) -> None:
    assert (signer.sign("not-me", PAYLOAD, expires_at=EXPIRES)
            == signer.sign("not-me", dict(reversed(PAYLOAD.items())), expires_at=EXPIRES))


def test_wrong_purpose_is_refused(signer: LinkSigner) -> None:
    token = signer.sign("not-me", PAYLOAD, expires_at=EXPIRES)
    for purpose in ("reset", "", "not-me ", "NOT-ME"):
        with pytest.raises(InvalidLinkToken):
            signer.verify(purpose, token, now=T0)


def test_payload_cannot_override_the_purpose(signer: LinkSigner) -> None:
    token = signer.sign("not-me", {"p": "reset", "exp": 1}, expires_at=EXPIRES)
    with pytest.raises(InvalidLinkToken):
        signer.verify("reset", token, now=T0)
    assert signer.verify("not-me", token, now=T0)["exp"] == int(EXPIRES.timestamp())


def test_expiry_boundary(signer: LinkSigner) -> None:
    token = signer.sign("not-me", PAYLOAD, expires_at=EXPIRES)
    signer.verify("not-me", token, now=EXPIRES - timedelta(seconds=1))
    with pytest.raises(InvalidLinkToken):
        signer.verify("not-me", token, now=EXPIRES)
    with pytest.raises(InvalidLinkToken):
        signer.verify("not-me", token, now=EXPIRES + timedelta(days=1))


def test_already_expired_when_signed(signer: LinkSigner) -> None:
    token = signer.sign("not-me", PAYLOAD, expires_at=T0 - timedelta(seconds=1))
    with pytest.raises(InvalidLinkToken):
        signer.verify("not-me", token, now=T0)


def test_other_key_is_refused(signer: LinkSigner) -> None:
    token = LinkSigner(b"another-key-0123456789abcdefghij").sign("not-me", PAYLOAD,
                                                            expires_at=EXPIRES)
    with pytest.raises(InvalidLinkToken):
        signer.verify("not-me", token, now=T0)


def test_tampered_body_is_refused(signer: LinkSigner) -> None:
    body, signature = signer.sign("not-me", PAYLOAD, expires_at=EXPIRES).split(".")
    claims = json.loads(unb64(body))
    claims["a"] = "acct-2"
    forged = b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    with pytest.raises(InvalidLinkToken):
        signer.verify("not-me", f"{forged}.{signature}", now=T0)
    # A longer expiry is just as forged.
    claims = {**json.loads(unb64(body)), "exp": int((EXPIRES + timedelta(days=365)).timestamp())}
    forged = b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    with pytest.raises(InvalidLinkToken):
        signer.verify("not-me", f"{forged}.{signature}", now=EXPIRES)


def test_tampered_signature_is_refused(signer: LinkSigner) -> None:
    body, signature = signer.sign("not-me", PAYLOAD, expires_at=EXPIRES).split(".")
    raw = unb64(signature)
    for index in (0, len(raw) // 2, len(raw) - 1):
        flipped = raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1:]
        with pytest.raises(InvalidLinkToken):
            signer.verify("not-me", f"{body}.{b64(flipped)}", now=T0)
    with pytest.raises(InvalidLinkToken):
        signer.verify("not-me", f"{body}.{b64(raw[:-1])}", now=T0)
    with pytest.raises(InvalidLinkToken):
        signer.verify("not-me", f"{body}.", now=T0)


@pytest.mark.parametrize(
    "token",
    ["", ".", "..", "garbage", "a.b", "a.b.c", "!!!.???", "é.é", "eyJ9.", ".eyJ9",
     "not base64.at all", "\x00.\x00"],
)
def test_garbage_is_refused(signer: LinkSigner, token: str) -> None:
    with pytest.raises(InvalidLinkToken):
        signer.verify("not-me", token, now=T0)


@pytest.mark.parametrize("content", [b"[1, 2]", b"\"text\"", b"42", b"null", b"not json",
                                     b"\xff\xfe", b"{\"p\": \"not-me\"}"])
def test_validly_signed_nonsense_is_refused(content: bytes) -> None:
    """Even with the key (a bug elsewhere, a test), a body that is not our claims fails."""
    body = b64(content)
    signature = b64(hmac.new(KEY, body.encode(), hashlib.sha256).digest())
    with pytest.raises(InvalidLinkToken):
        LinkSigner(KEY).verify("not-me", f"{body}.{signature}", now=T0)


def test_invalid_link_token_is_a_verification_failure() -> None:
    assert issubclass(InvalidLinkToken, VerificationFailed)
