"""Breached-password screening: the shipped corpus, its normalisation and the HIBP range API."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from keepgate.adapters.pwned_range import PwnedRange
from keepgate.domain.errors import PasswordRejected
from keepgate.domain.policy import PasswordPolicy
from keepgate.security.breached_passwords import shipped_corpus
from keepgate.security.password_screen import screen_password

# The operator floor (SECURITY.md: 12 when a second factor is mandatory at sign-up), so that the
# 14-character example is judged on the corpus rather than on its length.
FLOOR_POLICY = PasswordPolicy(min_length=12)
STRONG = "correct horse battery staple orbit"


def refusal(password: str, policy: PasswordPolicy = FLOOR_POLICY,
            range_check: Callable[[str], bool] | None = None) -> PasswordRejected:
    with pytest.raises(PasswordRejected) as info:
        screen_password(password, user_inputs=["jane.doe@example.com"], policy=policy,
                        range_check=range_check)
    return info.value


@pytest.mark.parametrize("password", ["correcthorsebatterystaple", "P@ssw0rd2024!!",
                                      "Liverpool2012!!", "Correct Horse Battery Staple"])
def test_breached_passwords_are_refused(password: str) -> None:
    error = refusal(password)
    assert error.code == "password.breached"
    assert "breach" in error.message


@pytest.mark.parametrize("password", ["correcthorsebatterystaple", "Liverpool2012!!"])
def test_breached_passwords_are_refused_at_the_default_length(password: str) -> None:
    assert refusal(password, PasswordPolicy()).code == "password.breached"


def test_the_corpus_holds_at_least_100000_entries() -> None:
    assert len(shipped_corpus()) >= 100_000


def test_a_long_random_suffix_is_not_treated_as_a_mangled_breached_password() -> None:
    # Only a short run of digits and symbols (a year, a "!!") is stripped before the look-up.
    screen_password("liverpool#8271!6%39", user_inputs=[], policy=PasswordPolicy())


def test_strong_passphrase_is_not_in_the_corpus() -> None:
    screen_password(STRONG, user_inputs=[], policy=PasswordPolicy())


# --- the Have I Been Pwned range API -------------------------------------------------------


@dataclass
class RangeServer:
    """A stand-in for the range API on 127.0.0.1: answers for the passwords it is given."""

    breached: set[str]
    fail: bool = False
    prefixes: list[str] = field(default_factory=list)
    url: str = ""

    def body(self, prefix: str) -> str:
        lines = ["0" * 35 + ":0"]  # the padding the real API adds
        for password in self.breached:
            digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
            if digest.startswith(prefix):
                lines.append(f"{digest[5:]}:42")
        return "\r\n".join(lines)


@pytest.fixture
def range_server() -> Iterator[RangeServer]:
    state = RangeServer(breached={"purple walrus juggles the moon"})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            prefix = self.path.rsplit("/", 1)[-1]
            state.prefixes.append(prefix)
            if state.fail:
                self.send_error(503)
                return
            payload = state.body(prefix).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_range_api_refuses_what_it_knows(range_server: RangeServer) -> None:
    error = refusal("purple walrus juggles the moon", range_check=PwnedRange(range_server.url).seen)
    assert error.code == "password.breached"
    # k-anonymity: only the first five hex digits of the SHA-1 left the service.
    digest = hashlib.sha1(b"purple walrus juggles the moon", usedforsecurity=False).hexdigest()
    digest = digest.upper()
    assert range_server.prefixes == [digest[:5]]


def test_range_api_accepts_what_it_does_not_know(range_server: RangeServer) -> None:
    screen_password(STRONG, user_inputs=[], policy=PasswordPolicy(),
                    range_check=PwnedRange(range_server.url).seen)
    assert len(range_server.prefixes) == 1


def test_range_api_is_off_by_default(range_server: RangeServer) -> None:
    screen_password("purple walrus juggles the moon", user_inputs=[], policy=PasswordPolicy())
    assert range_server.prefixes == []


def test_range_api_failure_falls_back_to_the_local_corpus(range_server: RangeServer) -> None:
    range_server.fail = True
    check = PwnedRange(range_server.url).seen
    screen_password("purple walrus juggles the moon", user_inputs=[], policy=PasswordPolicy(),
                    range_check=check)
    assert refusal("Liverpool2012!!", range_check=check).code == "password.breached"
    assert range_server.prefixes  # it was asked, failed, and the local corpus decided


def test_range_api_unreachable_falls_back_to_the_local_corpus() -> None:
    check = PwnedRange("http://127.0.0.1:9", timeout=0.5).seen
    screen_password(STRONG, user_inputs=[], policy=PasswordPolicy(), range_check=check)
    assert refusal("correcthorsebatterystaple", range_check=check).code == "password.breached"


def test_the_range_api_is_configured_from_the_environment() -> None:
    from keepgate.config import Settings

    assert Settings.from_env({}).pwned_range_url is None
    settings = Settings.from_env({"KEEPGATE_PWNED_RANGE_URL": "https://api.pwnedpasswords.com"})
    assert settings.pwned_range_url == "https://api.pwnedpasswords.com"
