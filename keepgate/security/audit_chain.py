"""The audit log's hash chain: each entry commits to the one before it.

Rewriting or deleting an entry breaks every hash after it; ``verify_chain`` finds the first break.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

GENESIS = "0" * 64


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical.encode()).hexdigest()


def verify_chain(entries: Iterable[tuple[Mapping[str, Any], str, str]], *,
                 after: str = GENESIS) -> int | None:
    """Entries as (content, prev_hash, hash) in order, the first one following the hash
    ``after`` (the genesis, or the last hash of the entries before); returns the index of the
    first bad one."""
    expected_prev = after
    for index, (content, prev_hash, stored_hash) in enumerate(entries):
        if prev_hash != expected_prev or entry_hash(prev_hash, content) != stored_hash:
            return index
        expected_prev = stored_hash
    return None
