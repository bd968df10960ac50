"""keepgate.security.audit_chain: the hash chain finds the first broken entry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keepgate.security.audit_chain import GENESIS, entry_hash, verify_chain

Entry = tuple[Mapping[str, Any], str, str]


def build(contents: list[dict[str, Any]]) -> list[Entry]:
    chain: list[Entry] = []
    prev = GENESIS
    for content in contents:
        digest = entry_hash(prev, content)
        chain.append((content, prev, digest))
        prev = digest
    return chain


CONTENTS = [
    {"seq": i, "kind": "login", "outcome": "success" if i % 2 else "failure",
     "account_id": f"acct-{i}", "at": f"2025-01-01T00:00:0{i}+00:00", "ip": "203.0.113.7"}
    for i in range(6)
]


def test_intact_chain_verifies() -> None:
    assert verify_chain(build(CONTENTS)) is None


def test_empty_chain_verifies() -> None:
    assert verify_chain([]) is None


def test_first_entry_links_to_genesis() -> None:
    chain = build(CONTENTS)
    assert chain[0][1] == GENESIS == "0" * 64
    bad_start = [(CONTENTS[0], "f" * 64, entry_hash("f" * 64, CONTENTS[0])), *chain[1:]]
    assert verify_chain(bad_start) == 0


def test_entry_hash_is_canonical_over_key_order() -> None:
    content = {"b": 1, "a": "ü"}
    assert entry_hash(GENESIS, content) == entry_hash(GENESIS, dict(reversed(content.items())))
    assert entry_hash(GENESIS, content) != entry_hash("1" * 64, content)


def test_tampered_content_is_found() -> None:
    for index in range(len(CONTENTS)):
        chain = build(CONTENTS)
        content, prev, digest = chain[index]
        chain[index] = ({**content, "outcome": "tampered"}, prev, digest)
        assert verify_chain(chain) == index


def test_tampered_content_with_recomputed_hash_breaks_the_next_entry() -> None:
    chain = build(CONTENTS)
    content, prev, _ = chain[2]
    forged = {**content, "account_id": "attacker"}
    chain[2] = (forged, prev, entry_hash(prev, forged))
    assert verify_chain(chain) == 3


def test_tampered_stored_hash_is_found() -> None:
    chain = build(CONTENTS)
    content, prev, _ = chain[4]
    chain[4] = (content, prev, "a" * 64)
    assert verify_chain(chain) == 4


def test_reordered_entries_are_found() -> None:
    chain = build(CONTENTS)
    chain[1], chain[2] = chain[2], chain[1]
    assert verify_chain(chain) == 1


def test_deleted_entry_is_found() -> None:
    for index in range(len(CONTENTS) - 1):
        chain = build(CONTENTS)
        del chain[index]
        assert verify_chain(chain) == index


def test_inserted_entry_is_found() -> None:
    chain = build(CONTENTS)
    extra = {"seq": 99, "kind": "login", "outcome": "success"}
    prev = chain[2][2]
    chain.insert(3, (extra, prev, entry_hash(prev, extra)))
    assert verify_chain(chain) == 4


def test_only_the_first_break_is_reported() -> None:
    chain = build(CONTENTS)
    for index in (1, 3):
        content, prev, digest = chain[index]
        chain[index] = ({**content, "ip": "198.51.100.1"}, prev, digest)
    assert verify_chain(chain) == 1


def test_accepts_any_iterable() -> None:
    assert verify_chain(iter(build(CONTENTS))) is None
