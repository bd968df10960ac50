"""The proof-of-work CAPTCHA: issued bound and short-lived, verified strictly, never crashing."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import random
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import altcha
import jinja2
import pytest

import keepgate.web
from keepgate.security.captcha import (
    ALGORITHM,
    MAX_PAYLOAD_CHARS,
    CaptchaIssuer,
    solve_for_tests,
)
from keepgate.security.errors import InvalidCaptcha, VerificationFailed

KEY = b"unit-test-captcha-key-0123456789"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LIFETIME = timedelta(minutes=5)
BINDING = "login:flow-1"
WEB = Path(keepgate.web.__file__).resolve().parent
VENDOR = WEB / "static" / "vendor" / "altcha"


def issuer(key: bytes = KEY, **overrides: Any) -> CaptchaIssuer:
    options: dict[str, Any] = {"max_number": 1000, "lifetime": LIFETIME, "cost": 1}
    options.update(overrides)
    return CaptchaIssuer(key, **options)


def decode(payload: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(base64.b64decode(payload))
    return result


def encode(document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


@pytest.fixture(scope="module")
def solved() -> tuple[dict[str, Any], str]:
    """One challenge and its widget-style answer, shared by the read-only tests."""
    challenge = issuer().challenge(binding=BINDING, now=NOW)
    return challenge, solve_for_tests(challenge)


def test_round_trip_returns_a_stable_replay_key(solved: tuple[dict[str, Any], str]) -> None:
    challenge, payload = solved
    key = issuer().verify(payload, binding=BINDING, now=NOW + timedelta(minutes=1))
    expected = hashlib.sha256(challenge["signature"].encode()).hexdigest()
    assert key == f"captcha:{expected}"
    # Verification itself is repeatable: single use is the caller's ReplayGuard, fed this key.
    assert issuer().verify(payload, binding=BINDING, now=NOW) == key
    # The widget's JSON may also arrive already decoded.
    assert issuer().verify(decode(payload), binding=BINDING, now=NOW) == key


def test_every_challenge_is_new_and_has_its_own_replay_key() -> None:
    first = issuer().challenge(binding=BINDING, now=NOW)
    second = issuer().challenge(binding=BINDING, now=NOW)
    assert first["parameters"]["nonce"] != second["parameters"]["nonce"]
    keys = {issuer().verify(solve_for_tests(c), binding=BINDING, now=NOW) for c in (first, second)}
    assert len(keys) == 2


def test_challenge_is_what_the_widget_expects() -> None:
    challenge = issuer().challenge(binding=BINDING, now=NOW)
    assert set(challenge) == {"parameters", "signature"}
    parameters = challenge["parameters"]
    assert parameters["algorithm"] == ALGORITHM == "PBKDF2/SHA-256"
    # What the widget checks before solving (isChallengeValid) and what its worker reads.
    assert {"algorithm", "nonce", "salt", "keyPrefix", "cost", "keyLength"} <= set(parameters)
    assert parameters["cost"] == 1 and parameters["keyLength"] == 32
    assert re.fullmatch(r"[0-9a-f]{32}", parameters["keyPrefix"])  # deterministic mode
    # Expiry travels in the signed data, not as altcha's wall-clock-checked expiresAt.
    assert "expiresAt" not in parameters
    assert parameters["data"]["expiresAtMs"] == int((NOW + LIFETIME).timestamp() * 1000)
    # The binding is a keyed digest: the page does not reveal what it was bound to.
    assert BINDING not in json.dumps(challenge) and "flow-1" not in json.dumps(challenge)
    assert json.loads(json.dumps(challenge)) == challenge


def test_the_secret_counter_lies_in_the_upper_half_of_max_number() -> None:
    for _ in range(5):
        challenge = issuer(max_number=200).challenge(binding=BINDING, now=NOW)
        counter = decode(solve_for_tests(challenge))["solution"]["counter"]
        assert 100 <= counter <= 200


def test_solve_for_tests_encodes_like_the_widget(solved: tuple[dict[str, Any], str]) -> None:
    challenge, payload = solved
    text = base64.b64decode(payload, validate=True).decode()
    assert ", " not in text and ": " not in text  # JSON.stringify is compact
    document = json.loads(text)
    assert document["challenge"] == challenge
    assert list(document["solution"]) == ["counter", "derivedKey", "time"]
    assert re.fullmatch(r"[0-9a-f]{64}", document["solution"]["derivedKey"])


def test_the_real_default_cost_round_trips() -> None:
    real = CaptchaIssuer(KEY, max_number=300, lifetime=LIFETIME)
    challenge = real.challenge(binding=BINDING, now=NOW)
    assert challenge["parameters"]["cost"] == 1_000
    real.verify(solve_for_tests(challenge), binding=BINDING, now=NOW)


def test_wrong_binding_is_refused(solved: tuple[dict[str, Any], str]) -> None:
    _, payload = solved
    for other in ("login:flow-2", "signup:flow-1", "login:flow-1 ", ""):
        with pytest.raises(InvalidCaptcha):
            issuer().verify(payload, binding=other, now=NOW)


def test_expired_is_refused_at_the_millisecond(solved: tuple[dict[str, Any], str]) -> None:
    _, payload = solved
    issuer().verify(payload, binding=BINDING, now=NOW + LIFETIME - timedelta(milliseconds=1))
    with pytest.raises(InvalidCaptcha, match="expired"):
        issuer().verify(payload, binding=BINDING, now=NOW + LIFETIME)
    with pytest.raises(InvalidCaptcha, match="expired"):
        issuer().verify(payload, binding=BINDING, now=NOW + timedelta(days=400))


def test_expiry_follows_the_callers_clock_not_the_machines() -> None:
    """Issued and checked far from today's date: only the injected ``now`` counts."""
    for moment in (datetime(2001, 9, 9, tzinfo=UTC), datetime(2099, 12, 31, tzinfo=UTC)):
        challenge = issuer().challenge(binding=BINDING, now=moment)
        issuer().verify(solve_for_tests(challenge), binding=BINDING, now=moment)


def test_naive_datetimes_are_a_programming_error(solved: tuple[dict[str, Any], str]) -> None:
    _, payload = solved
    with pytest.raises(ValueError, match="timezone"):
        issuer().challenge(binding=BINDING, now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        issuer().verify(payload, binding=BINDING, now=datetime(2026, 1, 1))


def test_another_key_is_refused(solved: tuple[dict[str, Any], str]) -> None:
    _, payload = solved
    with pytest.raises(InvalidCaptcha):
        issuer(key=b"another-captcha-key-0123456789ab").verify(payload, binding=BINDING, now=NOW)


def tampered(payload: str, change: Any) -> str:
    document = decode(payload)
    change(document)
    return encode(document)


def _set(path: tuple[str, ...], value: Any) -> Any:
    def change(document: dict[str, Any]) -> None:
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return change


@pytest.mark.parametrize(("path", "value"), [
    (("challenge", "signature"), "0" * 64),
    (("challenge", "signature"), ""),
    (("challenge", "signature"), None),
    (("challenge", "parameters", "cost"), 2),
    (("challenge", "parameters", "keyPrefix"), "00"),
    (("challenge", "parameters", "algorithm"), "SHA-256"),
    (("challenge", "parameters", "data", "expiresAtMs"), 4_102_444_800_000),
    (("challenge", "parameters", "expiresAt"), 4_102_444_800),
    (("challenge", "parameters", "data", "extra"), 1),
], ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v))
def test_tampered_challenge_is_refused(solved: tuple[dict[str, Any], str],
                                       path: tuple[str, ...], value: Any) -> None:
    _, payload = solved
    with pytest.raises(InvalidCaptcha):
        issuer().verify(tampered(payload, _set(path, value)), binding=BINDING, now=NOW)


def test_a_binding_copied_from_another_challenge_breaks_the_signature() -> None:
    mine = solve_for_tests(issuer().challenge(binding=BINDING, now=NOW))
    theirs = issuer().challenge(binding="login:flow-2", now=NOW)
    forged = tampered(mine, _set(("challenge", "parameters", "data"), theirs["parameters"]["data"]))
    with pytest.raises(InvalidCaptcha, match="signature"):
        issuer().verify(forged, binding="login:flow-2", now=NOW)


def test_wrong_number_is_refused(solved: tuple[dict[str, Any], str]) -> None:
    challenge, payload = solved
    counter = decode(payload)["solution"]["counter"]
    for wrong in (counter + 1, counter - 1, 0):
        with pytest.raises(InvalidCaptcha, match="wrong solution"):
            issuer().verify(tampered(payload, _set(("solution", "counter"), wrong)),
                            binding=BINDING, now=NOW)
    # A wrong counter with the key honestly derived from it: the prefix does not match.
    parameters = altcha.ChallengeParameters.from_dict(challenge["parameters"])
    nonce, salt = bytes.fromhex(parameters.nonce), bytes.fromhex(parameters.salt)
    honest = altcha.derive_key_pbkdf2(parameters, salt, nonce + (counter + 1).to_bytes(4, "big"))
    forged = tampered(payload, lambda d: d["solution"].update(counter=counter + 1,
                                                              derivedKey=honest.hex()))
    with pytest.raises(InvalidCaptcha, match="wrong solution"):
        issuer().verify(forged, binding=BINDING, now=NOW)
    with pytest.raises(InvalidCaptcha, match="wrong solution"):
        issuer().verify(tampered(payload, _set(("solution", "derivedKey"), "00" * 32)),
                        binding=BINDING, now=NOW)


GARBAGE: list[Any] = [
    "", " ", "not base64!", "====", "YQ", "\u00e9t\u00e9", "\ud800", "A" * (MAX_PAYLOAD_CHARS + 4),
    encode(None), encode([]), encode("text"), encode(42), encode({}),
    encode({"challenge": 1, "solution": 2}), encode({"challenge": {}, "solution": {}}),
    encode({"challenge": {"parameters": []}, "solution": {"counter": 1}}),
    base64.b64encode(b"\xff\xfe not utf-8").decode(), base64.b64encode(b"{").decode(),
    base64.b64encode(b"[" * 100_000 + b"]" * 100_000).decode()[:MAX_PAYLOAD_CHARS],
    base64.b64encode(b'{"challenge":' * 3000 + b"1" + b"}" * 3000).decode(),
    base64.b64encode(b'{"a": ' + b"9" * 5000 + b"}").decode(),
    {}, {"challenge": None}, {"challenge": "x", "solution": "y"}, [], None, 7, b"bytes",
]


@pytest.mark.parametrize("payload", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_is_refused_with_invalid_captcha_only(payload: Any) -> None:
    with pytest.raises(InvalidCaptcha) as caught:
        issuer().verify(payload, binding=BINDING, now=NOW)
    assert isinstance(caught.value, VerificationFailed)


MUTANTS: list[Any] = [None, True, False, 0, -1, 1.5, 2**32, 2**64, 10**30, float("inf"), "",
                      "zz", "0" * 64, "\ud800", [], [1], {}, {"a": 1}, {"__proto__": 1}]


def test_mutated_payloads_never_escape_as_other_errors(
        solved: tuple[dict[str, Any], str]) -> None:
    """Every field of a genuine payload replaced or deleted, one at a time: refused, cleanly."""
    _, payload = solved
    original = decode(payload)
    paths: list[tuple[str, ...]] = [("challenge",), ("solution",), ("challenge", "signature"),
                                    ("challenge", "parameters")]
    paths += [("challenge", "parameters", k) for k in original["challenge"]["parameters"]]
    paths += [("challenge", "parameters", "data", k)
              for k in original["challenge"]["parameters"]["data"]]
    paths += [("solution", k) for k in original["solution"] if k != "time"]
    for path in paths:
        for value in [*MUTANTS, "<deleted>"]:
            document = decode(payload)
            target = document
            for part in path[:-1]:
                target = target[part]
            if value == "<deleted>":
                del target[path[-1]]
            else:
                target[path[-1]] = value
            if path[-1] == "keyLength" and value == "<deleted>":
                # Absent means the default, 32: the same signed parameters, so still valid.
                issuer().verify(document, binding=BINDING, now=NOW)
                continue
            for candidate in (document, encode(document)):
                with pytest.raises(InvalidCaptcha):
                    issuer().verify(candidate, binding=BINDING, now=NOW)


def test_random_byte_flips_never_escape_as_other_errors(
        solved: tuple[dict[str, Any], str]) -> None:
    _, payload = solved
    raw = bytearray(base64.b64decode(payload))
    rng = random.Random(20260101)
    for _ in range(300):
        mutated = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        for candidate in (base64.b64encode(bytes(mutated)).decode(),
                          payload[: rng.randrange(len(payload))]):
            # A flip inside the unsigned "time" field may leave a valid payload: no raise then.
            with contextlib.suppress(InvalidCaptcha):
                issuer().verify(candidate, binding=BINDING, now=NOW)


def test_time_field_is_not_part_of_the_proof(solved: tuple[dict[str, Any], str]) -> None:
    _, payload = solved
    issuer().verify(tampered(payload, _set(("solution", "time"), 0)), binding=BINDING, now=NOW)


@pytest.mark.parametrize("options", [
    {"max_number": 0}, {"max_number": 2**32}, {"lifetime": timedelta(0)},
    {"lifetime": timedelta(seconds=-1)}, {"cost": 0},
])
def test_bad_configuration_is_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        issuer(**options)
    with pytest.raises(ValueError):
        issuer(key=b"short")


def test_replay_ttl_covers_the_whole_lifetime() -> None:
    assert issuer().replay_ttl_seconds == 300
    assert issuer(lifetime=timedelta(seconds=90.2)).replay_ttl_seconds == 91
    assert issuer(lifetime=timedelta(milliseconds=10)).replay_ttl_seconds == 1


# The widget's markup and the vendored files it loads.


def sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def render_macro(challenge: Any) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB / "templates"), autoescape=True)
    env.globals["url_for"] = lambda name, path: f"/{name}/{path}"
    template = env.from_string('{% from "_captcha.html" import captcha_widget with context %}'
                               "{{ captcha_widget(challenge) }}")
    return template.render(challenge=challenge)


@pytest.mark.parametrize("as_text", [False, True], ids=["dict", "json-text"])
def test_macro_renders_the_widget_without_inline_script_or_style(as_text: bool) -> None:
    challenge = issuer().challenge(binding=BINDING, now=NOW)
    challenge["parameters"]["data"]["note"] = "</altcha-widget><script>alert(1)</script>'\"&"
    html = render_macro(json.dumps(challenge) if as_text else challenge)
    parser = Tags()
    parser.feed(html)
    tags = dict(parser.tags)
    widget = tags["altcha-widget"]
    assert widget["name"] == "captcha" and widget["auto"] == "onload"
    assert json.loads(widget["challenge"] or "") == challenge
    assert "<script>alert" not in html
    assert all(tag != "style" and "style" not in attrs for tag, attrs in parser.tags)
    assert "<script>" not in html.replace("<script type", "")  # every script is external
    script = tags["script"]
    assert script["type"] == "module" and script["crossorigin"] == "anonymous"
    assert script["src"] == "/static/vendor/altcha/keepgate-altcha.js"


def test_macro_and_integrity_file_carry_the_vendored_files_hashes() -> None:
    html = render_macro({"parameters": {}, "signature": ""})
    parser = Tags()
    parser.feed(html)
    loaded = {attrs.get("href") or attrs.get("src"): attrs.get("integrity")
              for tag, attrs in parser.tags if tag in ("link", "script")}
    assert loaded == {f"/static/vendor/altcha/{name}": sri(VENDOR / name)
                      for name in ("altcha.css", "altcha.min.js", "keepgate-altcha.js")}
    record = (VENDOR / "INTEGRITY.txt").read_text()
    for name in ("altcha.min.js", "altcha.css", "workers/pbkdf2.js", "keepgate-altcha.js"):
        assert sri(VENDOR / name) in record, name
    assert "altcha 3.2.2" in record
    entry = (VENDOR / "keepgate-altcha.js").read_text()
    assert 'import "./altcha.min.js"' in entry and "./workers/pbkdf2.js" in entry
