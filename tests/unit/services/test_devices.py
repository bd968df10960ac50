"""keepgate.services.devices: a friendly name for a user agent, never the raw header."""

from __future__ import annotations

import pytest

from keepgate.services.devices import describe_device

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36")
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")


CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/124.0.0.0 Mobile Safari/537.36")
SAFARI_IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
               "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")


@pytest.mark.parametrize(("user_agent", "name"), [
    (CHROME_WINDOWS, "Chrome on Windows"),
    (FIREFOX_LINUX, "Firefox on Linux"),
    (SAFARI_IPHONE, "Safari on iPhone"),
    (SAFARI_IPAD, "Safari on iPad"),
    (CHROME_MAC, "Chrome on macOS"),
    (CHROME_ANDROID, "Chrome on Android"),
])
def test_browser_and_system_as_people_call_them(user_agent: str, name: str) -> None:
    assert describe_device(user_agent) == name


def test_no_system_named_when_the_agent_gives_none() -> None:
    assert describe_device("curl/8.5.0") == "curl"


def test_an_empty_header_is_an_unknown_device() -> None:
    assert describe_device("") == "Unknown device"


def test_an_unrecognised_header_is_never_echoed() -> None:
    hostile = "<b>Click here</b> http://evil.example"
    assert describe_device(hostile) == "Unknown device"
