"""The anti-phishing code: a word of the owner's choosing that every genuine message shows."""

from __future__ import annotations

import re

from keepgate.domain.errors import InvalidAntiPhishingCode

ANTI_PHISHING_RE = re.compile(r"[A-Za-z0-9]{4,20}")


def parse_anti_phishing_code(raw: object) -> str:
    if not isinstance(raw, str) or not ANTI_PHISHING_RE.fullmatch(raw):
        raise InvalidAntiPhishingCode()
    return raw
