"""keepgate.security.opaque_ids: sequence numbers shown as stable, opaque, per-account ids."""

from __future__ import annotations

import re

import pytest

from keepgate.security.errors import InvalidOpaqueId
from keepgate.security.opaque_ids import OpaqueIds

KEY = b"opaque-id-test-key-0123456789abc"
SHAPE = re.compile(r"^[A-Za-z0-9_-]{22}$")


def test_ids_round_trip_and_are_stable() -> None:
    ids = OpaqueIds(KEY)
    for seq in (1, 2, 41, 2**40, 2**63 - 1):
        shown = ids.encode("acc-1", seq)
        assert SHAPE.match(shown)
        assert shown == ids.encode("acc-1", seq)
        assert ids.decode("acc-1", shown) == seq


def test_ids_are_distinct_and_in_no_order() -> None:
    ids = OpaqueIds(KEY)
    shown = [ids.encode("acc-1", seq) for seq in range(1, 50)]
    assert len(set(shown)) == len(shown)
    assert sorted(shown) != shown  # no order to read the platform's volume from


def test_an_id_is_only_good_for_its_own_account_and_key() -> None:
    ids = OpaqueIds(KEY)
    shown = ids.encode("acc-1", 7)
    with pytest.raises(InvalidOpaqueId):
        ids.decode("acc-2", shown)
    with pytest.raises(InvalidOpaqueId):
        OpaqueIds(b"x" * 32).decode("acc-1", shown)


@pytest.mark.parametrize("junk", ["", "7", "A" * 22, "A" * 21 + "!", "A" * 23, "é" * 22,
                                  "AAAAAAAAAAAAAAAAAAAAA="])
def test_junk_is_refused(junk: str) -> None:
    with pytest.raises(InvalidOpaqueId):
        OpaqueIds(KEY).decode("acc-1", junk)
