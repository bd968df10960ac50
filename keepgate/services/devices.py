"""A readable device name from a user agent ("Chrome 120 on Windows")."""

from __future__ import annotations

from functools import lru_cache

from user_agents import parse


@lru_cache(maxsize=1024)
def describe_device(user_agent: str) -> str:
    if not user_agent:
        return "Unknown device"
    agent = parse(user_agent)
    browser = agent.browser.family
    if browser == "Other":
        # Never the raw header: it is attacker-chosen text that would land in our emails.
        return "Unknown device"
    version = agent.browser.version_string.split(".")[0]
    system = agent.os.family
    name = f"{browser} {version}".strip()
    return name if system == "Other" else f"{name} on {system}"
