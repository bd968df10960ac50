"""Password screening: length, the account's own words, breached, common and guessable passwords.

zxcvbn keeps module-global state and is not thread-safe, so calls are serialised by a lock.
It also raises on inputs above 72 characters: longer passphrases are scored on their first 72
characters, which already carry more than enough entropy to clear the bar when they are strong.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Sequence

import phonenumbers
from zxcvbn import zxcvbn

from keepgate.domain.errors import (
    PasswordBreached,
    PasswordCommon,
    PasswordContainsIdentifier,
    PasswordTooLong,
    PasswordTooShort,
    PasswordTooWeak,
)
from keepgate.domain.policy import PasswordPolicy
from keepgate.security.breached_passwords import is_breached

ZXCVBN_MAX = 72
_lock = threading.Lock()


def _words_of(user_inputs: Sequence[str]) -> list[str]:
    """Meaningful pieces of the identifier: 'jane.doe@example.com' -> jane.doe, jane, doe, ..."""
    words: set[str] = set()
    for item in user_inputs:
        item = item.lower()
        local = item.split("@", 1)[0]
        candidates = {item, local, item.lstrip("+")} | set(re.split(r"[^0-9a-z]+", local))
        if item.startswith("+"):  # the number as people type it at home: no country code
            try:
                number = phonenumbers.parse(item, None)
                candidates.add(phonenumbers.national_significant_number(number))
            except phonenumbers.NumberParseException:
                pass
        words.update(w for w in candidates if len(w) >= 4)
    return sorted(words, key=len, reverse=True)


def screen_password(password: str, *, user_inputs: Sequence[str], policy: PasswordPolicy,
                    range_check: Callable[[str], bool] | None = None) -> None:
    """Raise a ``PasswordRejected`` subclass with a stable code and a reason a person can act on.

    ``range_check`` asks a breached-password range API after the shipped corpus (optional).
    """
    normalized = unicodedata.normalize("NFKC", password)
    length = len(normalized)
    if length < policy.min_length:
        raise PasswordTooShort(
            f"Use at least {policy.min_length} characters. Spaces and any characters are allowed;"
            " a few unrelated words make a strong password.")
    if length > policy.max_length:
        raise PasswordTooLong(f"Use at most {policy.max_length} characters.")
    lowered = normalized.casefold()
    for word in _words_of([*user_inputs, *policy.product_words]):
        if word in lowered:
            raise PasswordContainsIdentifier()
    if is_breached(normalized, range_check=range_check):
        raise PasswordBreached(
            "This password appears in published data breaches, so attackers try it early."
            " Choose one you have never used anywhere else; a few unrelated words work well.")
    with _lock:
        result = zxcvbn(normalized[:ZXCVBN_MAX], user_inputs=[*user_inputs, *policy.product_words])
    if result["score"] >= policy.min_score:
        return
    sequence = result.get("sequence") or []
    is_common = any(
        m.get("pattern") == "dictionary" and m.get("dictionary_name") == "passwords"
        and len(m.get("token", "")) >= length // 2
        for m in sequence
    )
    feedback = result.get("feedback") or {}
    hint = " ".join(
        s for s in [feedback.get("warning") or "", *(feedback.get("suggestions") or [])] if s
    )
    if is_common:
        raise PasswordCommon(
            "This password is too common: it appears in lists that attackers try first."
            + (f" {hint}" if hint else ""))
    raise PasswordTooWeak(
        "This password is too easy to guess." + (f" {hint}" if hint else " Add more words."))
