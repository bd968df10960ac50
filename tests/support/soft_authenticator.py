"""A software WebAuthn authenticator plus the browser's part of the ceremony, for tests.

``SoftAuthenticator.create(options, origin)`` and ``.get(options, origin)`` take the JSON
options the server sends (``PublicKeyCredentialCreationOptionsJSON`` /
``PublicKeyCredentialRequestOptionsJSON``, binary fields in base64url) and return what a browser's
``PublicKeyCredential.toJSON()`` would give the page: the dict to POST back to the server.

Keys are EC P-256 (ES256), attestation is ``none``. Credentials are kept in the instance, with
the user handle for resident (discoverable) ones, so a sign-in with an empty
``allowCredentials`` finds them. Each assertion increments the credential's signature counter.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40
ES256 = -7


class AuthenticatorError(Exception):
    """What the browser would report as NotAllowedError / InvalidStateError / SecurityError."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    resident: bool
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps({
            1: 2,  # kty: EC2
            3: ES256,  # alg
            -1: 1,  # crv: P-256
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        })

    def spki_public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class SoftAuthenticator:
    def __init__(self, *, transports: tuple[str, ...] = ("internal", "hybrid"),
                 attachment: str = "platform", aaguid: bytes = bytes(16),
                 browser_checks: bool = True) -> None:
        """``browser_checks=False`` plays a hostile client that skips the browser's checks
        (origin vs rp id, secure context), to produce responses a real browser would not."""
        self.transports = transports
        self.attachment = attachment
        self.aaguid = aaguid
        self.browser_checks = browser_checks
        self.credentials: dict[bytes, SoftCredential] = {}

    # -- the browser's part ------------------------------------------------------------------

    def _rp_id(self, requested: str | None, origin: str) -> str:
        parts = urlsplit(origin)
        host = (parts.hostname or "").lower()
        rp_id = (requested or host).lower()
        if self.browser_checks:
            if parts.scheme != "https" and host != "localhost" and not host.endswith(".localhost"):
                raise AuthenticatorError("SecurityError: not a secure context")
            if host != rp_id and not host.endswith("." + rp_id):
                raise AuthenticatorError("SecurityError: rp id is not a suffix of the origin")
        return rp_id

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin,
                           "crossOrigin": False}, separators=(",", ":")).encode()

    # -- registration ------------------------------------------------------------------------

    def create(self, options: dict[str, Any], origin: str, *, user_verified: bool = True,
               user_present: bool = True) -> dict[str, Any]:
        rp_id = self._rp_id(options["rp"].get("id"), origin)
        algorithms = [p.get("alg") for p in options.get("pubKeyCredParams", [])]
        if algorithms and ES256 not in algorithms:
            raise AuthenticatorError("NotSupportedError: ES256 not offered")
        for excluded in options.get("excludeCredentials", []):
            known = self.credentials.get(unb64url(excluded["id"]))
            if known is not None and known.rp_id == rp_id:
                raise AuthenticatorError("InvalidStateError: credential already registered")
        selection = options.get("authenticatorSelection", {})
        resident = (selection.get("residentKey") in ("required", "preferred")
                    or bool(selection.get("requireResidentKey")))
        user_handle = unb64url(options["user"]["id"])
        if resident:  # one resident credential per (rp, user): a new one replaces the old
            for cid, cred in list(self.credentials.items()):
                if cred.resident and cred.rp_id == rp_id and cred.user_handle == user_handle:
                    del self.credentials[cid]
        credential = SoftCredential(
            credential_id=secrets.token_bytes(32),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id, user_handle=user_handle, resident=resident)
        self.credentials[credential.credential_id] = credential

        flags = FLAG_AT | (FLAG_UP if user_present else 0) | (FLAG_UV if user_verified else 0)
        cose_key = credential.cose_public_key()
        auth_data = (hashlib.sha256(rp_id.encode()).digest()
                     + bytes([flags]) + struct.pack(">I", credential.sign_count)
                     + self.aaguid + struct.pack(">H", len(credential.credential_id))
                     + credential.credential_id + cose_key)
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "authenticatorData": b64url(auth_data),
                "transports": list(self.transports),
                "publicKey": b64url(credential.spki_public_key()),
                "publicKeyAlgorithm": ES256,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": self.attachment,
        }

    # -- authentication ----------------------------------------------------------------------

    def get(self, options: dict[str, Any], origin: str, *, user_verified: bool = True,
            user_present: bool = True, credential_id: bytes | None = None) -> dict[str, Any]:
        rp_id = self._rp_id(options.get("rpId"), origin)
        allowed = [unb64url(c["id"]) for c in options.get("allowCredentials") or []]
        if allowed:
            candidates = [self.credentials[c] for c in allowed if c in self.credentials]
        else:
            candidates = [c for c in self.credentials.values() if c.resident]
        candidates = [c for c in candidates if c.rp_id == rp_id
                      and (credential_id is None or c.credential_id == credential_id)]
        if not candidates:
            raise AuthenticatorError("NotAllowedError: no matching credential")
        credential = candidates[0]
        credential.sign_count += 1

        flags = (FLAG_UP if user_present else 0) | (FLAG_UV if user_verified else 0)
        auth_data = (hashlib.sha256(rp_id.encode()).digest()
                     + bytes([flags]) + struct.pack(">I", credential.sign_count))
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if credential.resident:
            response["userHandle"] = b64url(credential.user_handle)
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": self.attachment,
        }
