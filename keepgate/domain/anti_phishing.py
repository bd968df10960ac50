"""The anti-phishing code: a word of the owner's choosing that every genuine message shows."""

from __future__ import annotations

import re

from keepgate.domain.errors import InputRejected

ANTI_PHISHING_RE = re.compile(r"[A-Za-z0-9]{4,20}")


class InvalidAntiPhishingCode(InputRejected):
    code = "anti_phishing.invalid"
    message = "Use 4 to 20 letters and digits (A-Z, a-z, 0-9), with no spaces."


def parse_anti_phishing_code(raw: object) -> str:
    if not isinstance(raw, str) or not ANTI_PHISHING_RE.fullmatch(raw):
        raise InvalidAntiPhishingCode()
    return raw
