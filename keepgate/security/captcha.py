"""Proof-of-work CAPTCHA (ALTCHA, protocol v2): challenges bound to one action, verified here.

``CaptchaIssuer.challenge`` makes the JSON the ``<altcha-widget>`` solves; the browser submits a
base64 JSON payload (the challenge it was given plus the counter it found) in the form field the
widget creates, and ``CaptchaIssuer.verify`` checks it. A challenge is:

* **signed**: HMAC-SHA-256 over its canonical parameters (altcha ``create_challenge``), so the
  client cannot lower its cost, move its expiry or swap its binding;
* **bound** to one action: the signed ``data`` carries a keyed digest of the caller's binding
  (e.g. ``"login:<flow id>"``), so an answer solved for one flow is refused by every other;
* **short-lived**: the signed ``data`` carries the expiry in epoch milliseconds, checked against
  the ``now`` the caller passes. altcha's own ``expiresAt`` is deliberately not used: the library
  compares it with ``time.time()`` inside ``verify_solution``, which would make verification
  depend on the wall clock rather than on the caller's clock;
* **single use** only with the caller's help: ``verify`` returns a replay key, which the caller
  must record (``ReplayGuard.first_use(key, issuer.replay_ttl_seconds)``) and refuse when seen.

Difficulty. Protocol v2 has no ``maxnumber``: the work is a key derivation (PBKDF2-SHA-256 of
``cost`` iterations) per attempt. We use altcha's *deterministic* mode: the server draws a secret
counter in ``[max_number // 2, max_number]`` and publishes the first 16 bytes of that counter's
derived key; the client must try counters from 0 until it finds it. So ``max_number`` keeps its
v1 meaning (the largest number a client may have to reach, at least half of it always), and the
expected work is about ``0.75 * max_number * cost`` PBKDF2 iterations. Verification costs the
server one derivation of ``cost`` iterations.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import altcha

from keepgate.security.errors import InvalidCaptcha

ALGORITHM = "PBKDF2/SHA-256"
DEFAULT_COST = 1_000
MAX_COUNTER = 0xFFFFFFFF  # the widget writes the counter as a big-endian uint32
MAX_PAYLOAD_CHARS = 8_192  # a genuine payload is under 1 KiB; refuse to parse anything huge
REPLAY_KEY_PREFIX = "captcha:"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
# Everything hostile input can make parsing or the library raise. binascii.Error and
# UnicodeDecodeError are ValueErrors; listed for the reader.
_MALFORMED = (ValueError, binascii.Error, UnicodeDecodeError, TypeError, KeyError, AttributeError,
              IndexError, RecursionError, OverflowError)


def _epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return (moment - _EPOCH) // _MILLISECOND


class CaptchaIssuer:
    def __init__(self, key: bytes, *, max_number: int, lifetime: timedelta,
                 cost: int = DEFAULT_COST) -> None:
        if len(key) < 16:
            raise ValueError("the captcha key must be at least 16 bytes")
        if not 1 <= max_number <= MAX_COUNTER:
            raise ValueError(f"max_number must be between 1 and {MAX_COUNTER}")
        if lifetime <= timedelta(0):
            raise ValueError("lifetime must be positive")
        if cost < 1:
            raise ValueError("cost must be at least 1")
        # Independent keys for the two uses, so neither HMAC can be an oracle for the other.
        self._signing_key = hmac.new(key, b"keepgate:captcha:signature", hashlib.sha256).digest()
        self._binding_key = hmac.new(key, b"keepgate:captcha:binding", hashlib.sha256).digest()
        self._max_number = max_number
        self._lifetime = lifetime
        self._cost = cost

    @property
    def replay_ttl_seconds(self) -> int:
        """How long a used challenge must be remembered: its whole lifetime, rounded up."""
        return max(1, math.ceil(self._lifetime.total_seconds()))

    def _binding_digest(self, binding: str) -> str:
        # Keyed, so the page reveals nothing about what the binding contains.
        return hmac.new(self._binding_key, binding.encode(), hashlib.sha256).hexdigest()

    def challenge(self, *, binding: str, now: datetime) -> dict[str, Any]:
        """The challenge JSON for ``<altcha-widget challenge='...'>``: parameters + signature."""
        expires_at_ms = _epoch_ms(now + self._lifetime)
        low = self._max_number // 2
        counter = low + secrets.randbelow(self._max_number - low + 1)
        challenge = altcha.create_challenge(
            ALGORITHM, self._cost, counter=counter, hmac_secret=self._signing_key,
            data={"binding": self._binding_digest(binding), "expiresAtMs": expires_at_ms})
        result: dict[str, Any] = challenge.to_dict()
        return result

    def verify(self, payload: str | Mapping[str, Any], *, binding: str, now: datetime) -> str:
        """Check a submitted payload; return its replay key, or raise ``InvalidCaptcha``.

        ``payload`` is the base64 JSON text the widget puts in its form field, or that JSON
        already decoded. The caller must then record the key (``ReplayGuard.first_use``) and
        refuse the request when it was seen before.
        """
        now_ms = _epoch_ms(now)  # a naive ``now`` is the caller's bug, not bad input
        try:
            return self._verify(payload, binding, now_ms)
        except InvalidCaptcha:
            raise
        except _MALFORMED as exc:
            raise InvalidCaptcha("malformed payload") from exc

    def _verify(self, payload: str | Mapping[str, Any], binding: str, now_ms: int) -> str:
        parsed = _parse(payload)
        signature = parsed.challenge.signature
        data = parsed.challenge.parameters.data
        # Cheap checks first; they are only trusted once the signature below verifies, and any
        # change to these fields breaks that signature.
        if not isinstance(signature, str) or not isinstance(data, dict):
            raise InvalidCaptcha("not a Keepgate challenge")
        expires_at_ms = data.get("expiresAtMs")
        bound = data.get("binding")
        if type(expires_at_ms) is not int or not isinstance(bound, str) or not bound.isascii():
            raise InvalidCaptcha("not a Keepgate challenge")
        if now_ms >= expires_at_ms:
            raise InvalidCaptcha("expired")
        if not hmac.compare_digest(bound, self._binding_digest(binding)):
            raise InvalidCaptcha("bound to another action")
        result = altcha.verify_solution(parsed, self._signing_key)
        if not result.verified:
            # An unsigned ``expiresAt`` slipped in by a client can make the library say "expired".
            raise InvalidCaptcha("bad signature" if result.invalid_signature
                                 else "expired" if result.expired else "wrong solution")
        return REPLAY_KEY_PREFIX + hashlib.sha256(signature.encode()).hexdigest()


def _parse(payload: str | Mapping[str, Any]) -> altcha.Payload:
    if isinstance(payload, str):
        if len(payload) > MAX_PAYLOAD_CHARS:
            raise InvalidCaptcha("payload too large")
        decoded = json.loads(base64.b64decode(payload.encode("ascii"), validate=True))
    elif isinstance(payload, Mapping):
        decoded = dict(payload)
    else:
        raise InvalidCaptcha("payload is neither text nor a mapping")
    if not isinstance(decoded, dict):
        raise InvalidCaptcha("payload is not a JSON object")
    return altcha.Payload.from_dict(decoded)


def solve_for_tests(challenge: Mapping[str, Any]) -> str:
    """Solve ``challenge`` by brute force and encode the answer exactly as the widget does.

    For tests only (with a small ``max_number`` and ``cost``): the widget posts
    ``btoa(JSON.stringify({challenge: {parameters, signature}, solution}))``.
    """
    solution = altcha.solve_challenge(altcha.Challenge.from_dict(dict(challenge)), timeout=120)
    if solution is None:
        raise RuntimeError("no solution found; is max_number small enough for a test?")
    payload = {"challenge": {"parameters": challenge["parameters"],
                             "signature": challenge["signature"]},
               "solution": solution.to_dict()}
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode("ascii")
