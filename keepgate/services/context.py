"""Who is asking: the facts about a request that services record but never trust for auth."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    ip: str
    user_agent: str
    binding: str | None = None  # browser flows: hash of the CSRF cookie
    device_token: str | None = None  # trusted-device cookie or X-Keepgate-Device header
