"""Breached passwords: a shipped corpus of hashed entries and, when enabled, the HIBP range API.

The corpus (``data/breached-sha1-48.bin``, built by ``scripts/build_breach_corpus.py``) is a
sorted run of 6-byte prefixes of the SHA-1 of each normalised entry: 48 bits per entry, so a
look-up falsely matches with a probability of about n / 2**48 (below 2e-9 for 412,000 entries).

A password is looked up as typed (after NFKC, case folding and without spaces) and, when it ends
in a short run of digits and symbols, also without that run: "Liverpool2012!!" and
"P@ssw0rd2024!!" are a breached word with a year and a "!!" appended, which is the first rule a
cracking dictionary applies. Only runs of up to six characters are stripped, so a long random
tail still counts as the entropy it is.

A range API (``keepgate.adapters.pwned_range``: k-anonymity, only the first five hex digits of
the SHA-1 leave the service) is asked after the corpus, and only when an operator configures it.
Any failure falls back to the corpus alone.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable
from importlib import resources

CORPUS_FILE = "breached-sha1-48.bin"
KEY_BYTES = 6
MAX_STRIPPED_SUFFIX = 6
MIN_ENTRY_LENGTH = 4
_TAIL = re.compile(r"[\W\d_]+$")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The form both corpus entries and candidate passwords are hashed in."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text).casefold())


def corpus_key(normalised: str) -> bytes:
    return hashlib.sha1(normalised.encode(), usedforsecurity=False).digest()[:KEY_BYTES]


def lookup_forms(password: str) -> set[str]:
    """The password as typed, and its stem when a short run of digits and symbols ends it."""
    whole = normalise(password)
    tail = _TAIL.search(whole)
    if tail is None or len(tail.group()) > MAX_STRIPPED_SUFFIX:
        return {whole}
    stem = whole[:tail.start()]
    return {whole, stem} if len(stem) >= MIN_ENTRY_LENGTH else {whole}


class BreachCorpus:
    """Sorted fixed-width keys, searched in place: no per-entry objects, a few MiB per worker."""

    def __init__(self, keys: bytes) -> None:
        if len(keys) % KEY_BYTES:
            raise ValueError("the corpus file is truncated")
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys) // KEY_BYTES

    def __getitem__(self, index: int) -> bytes:
        start = index * KEY_BYTES
        return self._keys[start:start + KEY_BYTES]

    def holds(self, normalised: str) -> bool:
        key = corpus_key(normalised)
        index = bisect.bisect_left(self, key)
        return index < len(self) and self[index] == key

    def seen(self, password: str) -> bool:
        return any(self.holds(form) for form in lookup_forms(password))


@functools.cache
def shipped_corpus() -> BreachCorpus:
    """The corpus in the installed package, read once per process."""
    data = resources.files("keepgate.security").joinpath("data", CORPUS_FILE)
    return BreachCorpus(data.read_bytes())


def is_breached(password: str, *, range_check: Callable[[str], bool] | None = None) -> bool:
    """The shipped corpus first; then, when configured, a range API (which answers False when it
    cannot be asked, so the corpus alone decides)."""
    if shipped_corpus().seen(password):
        return True
    return range_check is not None and range_check(unicodedata.normalize("NFKC", password))
