"""WebAuthn (passkeys and security keys): a thin, framework-free wrapper around py_webauthn.

Every verification raises ``InvalidWebAuthnResponse`` on failure, whatever went wrong: a bad
signature, the wrong challenge, origin or relying-party id, a missing user-verification flag, a
sign-count regression, or input that is not a well-formed credential at all (invalid JSON,
missing fields, garbage base64url). No ``KeyError``/``ValueError`` from the library escapes.

Conventions:

* The browser's ``PublicKeyCredential.toJSON()`` output (or the equivalent hand-built JSON with
  base64url fields) is passed in unchanged, as a dict or as JSON text.
* Binary values (challenge, credential id, public key, user handle) are ``bytes`` here; on the
  wire they are unpadded base64url (``encode_b64url`` / ``decode_b64url``).
* The options functions return the JSON-ready dict for ``navigator.credentials.create()/get()``
  (after ``PublicKeyCredential.parseCreationOptionsFromJSON``/``parseRequestOptionsFromJSON``
  or an equivalent base64url decoding in the page).

What this module does NOT do, and the caller (the flow) must: keep the challenge (32 bytes from
``new_challenge()``), accept it at most once and for at most five minutes (SECURITY.md), then
forget it; look a credential up by ``credential_id_of`` and check it belongs to the right user;
store the sign count returned by ``verify_authentication``; refuse a credential id that is
already registered.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from keepgate.security.errors import ClonedAuthenticator, InvalidWebAuthnResponse

CHALLENGE_BYTES = 32
TIMEOUT_MS = 5 * 60 * 1000  # the browser's hint; matches the challenge lifetime
MAX_CREDENTIAL_ID_BYTES = 1023  # WebAuthn §5.8.3
MAX_USER_HANDLE_BYTES = 64  # WebAuthn §5.4.3

# Preference order: ES256 (every authenticator), EdDSA, then RS256 (Windows Hello).
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]

UserVerification = Literal["required", "preferred", "discouraged"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class RelyingParty:
    id: str  # a registrable domain: "localhost", "keepgate.example"
    name: str
    origin: str  # scheme://host[:port], exactly as the browser reports it


@dataclass(frozen=True)
class StoredCredential:
    """What the database keeps for one registered authenticator."""

    credential_id: bytes
    public_key: bytes  # COSE_Key as the authenticator gave it
    sign_count: int
    transports: tuple[str, ...]


def relying_party_from_public_url(public_url: str, name: str = "Keepgate") -> RelyingParty:
    """``https://auth.example:8443/x`` gives id ``auth.example``, origin ``https://auth.example:8443``.

    The default port of the scheme is dropped, as browsers do. Browsers refuse IP addresses as
    relying-party ids: serve ``http://localhost:PORT`` in development, not ``127.0.0.1``.
    """
    parts = urlsplit(public_url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"public URL must be http(s): {public_url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"public URL has no host: {public_url!r}")
    port = parts.port
    netloc = host
    try:
        if ipaddress.ip_address(host).version == 6:
            netloc = f"[{host}]"
    except ValueError:
        pass
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc = f"{netloc}:{port}"
    return RelyingParty(id=host, name=name, origin=f"{scheme}://{netloc}")


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def encode_b64url(data: bytes) -> str:
    """Unpadded base64url, the encoding of every binary field in WebAuthn's JSON."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_b64url(text: str) -> bytes:
    """Strict unpadded-or-padded base64url; raises ``InvalidWebAuthnResponse`` on anything else."""
    if not isinstance(text, str):
        raise InvalidWebAuthnResponse("expected a base64url string")
    body = text.rstrip("=")
    if not _B64URL.fullmatch(body) or len(body) % 4 == 1 or len(text) - len(body) > 2:
        raise InvalidWebAuthnResponse("malformed base64url")
    try:
        decoded = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidWebAuthnResponse("malformed base64url") from exc
    if encode_b64url(decoded) != body:  # non-canonical trailing bits
        raise InvalidWebAuthnResponse("malformed base64url")
    return decoded


def _check_challenge(challenge: bytes) -> None:
    if not isinstance(challenge, bytes) or len(challenge) < CHALLENGE_BYTES:
        raise ValueError(f"a WebAuthn challenge needs at least {CHALLENGE_BYTES} random bytes")


def _transports(names: Sequence[str]) -> list[AuthenticatorTransport]:
    known = {t.value: t for t in AuthenticatorTransport}
    return [known[name] for name in names if name in known]


def _descriptors(credentials: Sequence[StoredCredential]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=c.credential_id,
                                      transports=_transports(c.transports) or None)
        for c in credentials
    ]


def _options_dict(options: Any) -> dict[str, Any]:
    result = json.loads(options_to_json(options))
    assert isinstance(result, dict)
    return result


def registration_options(
    rp: RelyingParty,
    *,
    user_id: bytes,
    user_name: str,
    display_name: str,
    challenge: bytes,
    exclude: Sequence[StoredCredential],
    passkey: bool,
) -> dict[str, Any]:
    """Options for ``navigator.credentials.create()``, as JSON-ready data.

    ``user_id`` is the user handle: opaque random bytes (never an email), at most 64, and the
    same for every credential of one user. ``exclude`` lists the user's credentials so the
    same authenticator is not registered twice. A passkey must be discoverable and verify the
    user; a second-factor key is only asked to.
    """
    _check_challenge(challenge)
    if not isinstance(user_id, bytes) or not 1 <= len(user_id) <= MAX_USER_HANDLE_BYTES:
        raise ValueError(f"user_id must be 1 to {MAX_USER_HANDLE_BYTES} bytes")
    requirement = ResidentKeyRequirement.REQUIRED if passkey else ResidentKeyRequirement.PREFERRED
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_id,
        user_name=user_name,
        user_display_name=display_name or user_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=requirement,
            require_resident_key=passkey,
            user_verification=(UserVerificationRequirement.REQUIRED if passkey
                               else UserVerificationRequirement.PREFERRED),
        ),
        exclude_credentials=_descriptors(exclude),
        supported_pub_key_algs=list(ALGORITHMS),
    )
    return _options_dict(options)


def _json_object(credential: object) -> dict[str, Any]:
    if isinstance(credential, str):
        try:
            credential = json.loads(credential)
        except (ValueError, RecursionError) as exc:
            raise InvalidWebAuthnResponse("credential is not valid JSON") from exc
    if not isinstance(credential, dict):
        raise InvalidWebAuthnResponse("credential is not a JSON object")
    return credential


def _check_binary_fields(data: dict[str, Any], names: tuple[str, ...]) -> None:
    """py_webauthn's base64url decoding skips stray characters; refuse them up front."""
    response = data.get("response")
    fields = [data.get("id"), data.get("rawId")]
    if isinstance(response, dict):
        fields += [response.get(name) for name in names]
    for value in fields:
        if isinstance(value, str):
            decode_b64url(value)


def _parse_registration(credential: object) -> RegistrationCredential:
    data = _json_object(credential)
    _check_binary_fields(data, ("clientDataJSON", "attestationObject"))
    try:
        return parse_registration_credential_json(data)
    except Exception as exc:
        raise InvalidWebAuthnResponse("malformed registration credential") from exc


def _parse_authentication(credential: object) -> AuthenticationCredential:
    data = _json_object(credential)
    _check_binary_fields(data, ("clientDataJSON", "authenticatorData", "signature", "userHandle"))
    try:
        return parse_authentication_credential_json(data)
    except Exception as exc:
        raise InvalidWebAuthnResponse("malformed authentication credential") from exc


def verify_registration(
    rp: RelyingParty,
    *,
    credential: dict[str, Any] | str,
    challenge: bytes,
    require_user_verification: bool,
) -> StoredCredential:
    """Check a ``navigator.credentials.create()`` response against the challenge it answers.

    Attestation is not required (``none`` is accepted; other formats are checked by the
    library). Raises ``InvalidWebAuthnResponse`` on any failure.
    """
    if not isinstance(challenge, bytes) or len(challenge) < CHALLENGE_BYTES:
        raise InvalidWebAuthnResponse("no valid challenge to check against")
    parsed = _parse_registration(credential)
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_presence=True,
            require_user_verification=require_user_verification,
            supported_pub_key_algs=list(ALGORITHMS),
        )
    except Exception as exc:
        raise InvalidWebAuthnResponse("registration response rejected") from exc
    if not 1 <= len(verified.credential_id) <= MAX_CREDENTIAL_ID_BYTES:
        raise InvalidWebAuthnResponse("credential id has an invalid length")
    transports = tuple(t.value for t in parsed.response.transports or ())
    return StoredCredential(
        credential_id=bytes(verified.credential_id),
        public_key=bytes(verified.credential_public_key),
        sign_count=verified.sign_count,
        transports=transports,
    )


def authentication_options(
    rp: RelyingParty,
    *,
    challenge: bytes,
    allow: Sequence[StoredCredential],
    user_verification: UserVerification,
) -> dict[str, Any]:
    """Options for ``navigator.credentials.get()``, as JSON-ready data.

    ``user_verification``: "required" for passwordless (passkey) sign-in, "preferred" for a
    second factor. An empty ``allow`` asks for a discoverable credential (the user is not known
    yet: passkey sign-in / conditional UI).
    """
    _check_challenge(challenge)
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement(user_verification),
    )
    return _options_dict(options)


def credential_id_of(credential: dict[str, Any] | str) -> bytes:
    """The raw credential id of an assertion (or attestation), to look the stored key up.

    Nothing is verified except the shape: ``rawId`` must be base64url, 1 to 1023 bytes, and
    agree with ``id`` when both are present.
    """
    data = _json_object(credential)
    raw_id = data.get("rawId", data.get("id"))
    if not isinstance(raw_id, str):
        raise InvalidWebAuthnResponse("credential has no id")
    decoded = decode_b64url(raw_id)
    if not 1 <= len(decoded) <= MAX_CREDENTIAL_ID_BYTES:
        raise InvalidWebAuthnResponse("credential id has an invalid length")
    other = data.get("id")
    if other is not None and (not isinstance(other, str) or decode_b64url(other) != decoded):
        raise InvalidWebAuthnResponse("id and rawId disagree")
    return decoded


def user_handle_of(credential: dict[str, Any] | str) -> bytes | None:
    """The user handle an assertion carries (discoverable credentials), or ``None``."""
    data = _json_object(credential)
    response = data.get("response")
    if not isinstance(response, dict):
        raise InvalidWebAuthnResponse("credential has no response")
    handle = response.get("userHandle")
    if handle is None or handle == "":
        return None
    return decode_b64url(handle)


def verify_authentication(
    rp: RelyingParty,
    *,
    credential: dict[str, Any] | str,
    challenge: bytes,
    stored: StoredCredential,
    require_user_verification: bool,
    expected_user_handle: bytes | None = None,
) -> int:
    """Check a ``navigator.credentials.get()`` response; return the new sign count to store.

    ``stored`` is the credential looked up by ``credential_id_of``; the response must name the
    same id. When ``expected_user_handle`` is given and the response carries a user handle,
    they must match. A sign count that does not increase (when either count is non-zero) means
    a cloned authenticator or a replay and is rejected as ``ClonedAuthenticator``, only once the
    signature is proven (so a forged answer cannot raise a false alarm).
    """
    if not isinstance(challenge, bytes) or len(challenge) < CHALLENGE_BYTES:
        raise InvalidWebAuthnResponse("no valid challenge to check against")
    parsed = _parse_authentication(credential)
    if not hmac.compare_digest(bytes(parsed.raw_id), stored.credential_id):
        raise InvalidWebAuthnResponse("response is for another credential")
    handle = parsed.response.user_handle
    if expected_user_handle is not None and handle and not hmac.compare_digest(
        bytes(handle), expected_user_handle
    ):
        raise InvalidWebAuthnResponse("response is for another user")
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=stored.public_key,
            # The count is compared below, after the signature: the library compares first.
            credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except Exception as exc:
        raise InvalidWebAuthnResponse("authentication response rejected") from exc
    count = verified.new_sign_count
    if (count > 0 or stored.sign_count > 0) and count <= stored.sign_count:
        raise ClonedAuthenticator(f"sign count {count} after {stored.sign_count}")
    return count
