"""An attempt cut short by an unexpected error (a secret that no longer decrypts, a hash that
fails) gives its reservation back at once, the IP's slot and the account's counter: five such
errors must not refuse the owner as if banned."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from keepgate.security.keyring import KeyRing
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import current_code, enrol_totp, password_step, submit
from tests.api.test_lost_races import account_row
from tests.conftest import register, sign_in

pytestmark = pytest.mark.anyio
ID = "race@example.com"  # account_row reads this account
ERRORS = 6  # more than the five attempts the account may have in flight


class BrokenStore(RuntimeError):
    """Stands for any failure that is not a refusal."""


async def test_a_failing_hash_gives_the_reservation_back(
        client: httpx.AsyncClient, kg: Keepgate, monkeypatch: pytest.MonkeyPatch) -> None:
    await register(client, kg, ID)

    async def broken(password_hash: str | None, password: str) -> bool:
        raise BrokenStore()

    with monkeypatch.context() as patched:
        patched.setattr(kg.hasher, "verify", broken)
        for _ in range(ERRORS):
            assert (await password_step(client, ID, device=None)).status_code == 500
    assert tuple(await account_row(kg)) == (0, 0)
    await sign_in(client, ID)  # neither the IP nor the account is held back


async def test_a_seed_that_no_longer_decrypts_gives_the_reservation_back(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await register(client, kg, ID)
    secret, _ = await enrol_totp(client, await sign_in(client, ID), clock)
    clock.advance(timedelta(seconds=30))
    flow = (await password_step(client, ID, device=None)).json()

    def undecryptable(self: KeyRing, token: str, *, context: str) -> bytes:
        raise BrokenStore()

    with monkeypatch.context() as patched:
        patched.setattr(KeyRing, "decrypt", undecryptable)
        for _ in range(ERRORS):
            failed = await submit(client, flow["id"], method="totp",
                                  code=current_code(secret, clock))
            assert failed.status_code == 500
    assert tuple(await account_row(kg)) == (0, 0)
    done = await submit(client, flow["id"], method="totp", code=current_code(secret, clock))
    assert done.status_code == 200, done.text
