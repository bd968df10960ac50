"""A friendly device name from a user agent: "Chrome on macOS", "Safari on iPhone"."""

from __future__ import annotations

from functools import lru_cache

from user_agents import parse

# What ua-parser calls a browser or system, as people call it.
BROWSERS = {"Mobile Safari": "Safari", "Chrome Mobile": "Chrome", "Chrome Mobile iOS": "Chrome",
            "Firefox Mobile": "Firefox", "Firefox iOS": "Firefox", "Edge Mobile": "Edge",
            "Samsung Internet": "Samsung Internet", "Opera Mobile": "Opera"}
SYSTEMS = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS"}
APPLE_DEVICES = ("iPhone", "iPad", "iPod")


@lru_cache(maxsize=1024)
def describe_device(user_agent: str) -> str:
    if not user_agent:
        return "Unknown device"
    agent = parse(user_agent)
    browser = agent.browser.family
    if browser == "Other":
        # Never the raw header: it is attacker-chosen text that would land in our emails.
        return "Unknown device"
    browser = BROWSERS.get(browser, browser)
    system = agent.os.family
    if system == "iOS" and agent.device.family in APPLE_DEVICES:
        system = agent.device.family  # "Safari on iPhone" says more than "on iOS"
    system = SYSTEMS.get(system, system)
    return browser if system == "Other" else f"{browser} on {system}"
