"""keepgate.services.methods.recovery_code: a recovery code works once and tells how many
are left; the settings flow regenerates the set."""

from __future__ import annotations

import pytest

from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account
from keepgate.domain.errors import FactorUnavailable, InvalidCode, RecoveryCodeActionRequired
from keepgate.domain.factors import FactorKind
from keepgate.domain.holds import HoldReason
from keepgate.flows.base import COMPLETED, IssueRecoveryCodes, NotifyAccount, PlaceHold
from keepgate.flows.context import recovery_codes_left
from keepgate.security import recovery_codes
from keepgate.security.recovery_codes import RecoveryCodeHasher
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.methods.attempts import SignInAttempts
from keepgate.services.methods.base import FactorSubmission
from keepgate.services.methods.device_code import NewDeviceCodes
from keepgate.services.methods.recovery_code import (
    RecoveryCodeCheck,
    RecoveryCodeRegeneration,
    verify_recovery_code,
)
from keepgate.services.methods.second_factor import SignInFinish
from tests.unit.services.methods.conftest import PHONE, add_factor, in_settings, signing_in
from tests.unit.services.records import IP, USER_AGENT

pytestmark = pytest.mark.anyio

OWNER = RequestContext(ip=IP, user_agent=USER_AGENT, device_token="ann-device")
HASHER = RecoveryCodeHasher(b"recovery-codes-key-0123456789abc")
CODES = recovery_codes.generate(3)


@pytest.fixture
async def issued(store: SqlStore, ann: Account, clock: FrozenClock) -> Account:
    async with store.unit_of_work(write=True) as uow:
        await uow.recovery_codes.replace(ann.id, [HASHER.digest(c) for c in CODES], clock.now())
    return ann


async def test_a_code_works_once(store: SqlStore, issued: Account, clock: FrozenClock) -> None:
    assert await verify_recovery_code(store, HASHER, issued.id, CODES[0], clock.now()) == 2
    with pytest.raises(InvalidCode):
        await verify_recovery_code(store, HASHER, issued.id, CODES[0], clock.now())


async def test_something_unlike_a_code_is_refused(store: SqlStore, issued: Account,
                                                  clock: FrozenClock) -> None:
    with pytest.raises(InvalidCode, match="like ABCD"):
        await verify_recovery_code(store, HASHER, issued.id, "123456", clock.now())


async def test_as_a_second_factor_it_says_how_many_are_left(
        attempts: SignInAttempts, device_codes: NewDeviceCodes, issued: Account,
        clock: FrozenClock) -> None:
    method = RecoveryCodeCheck(attempts, SignInFinish(device_codes), hasher=HASHER,
                               device_codes=device_codes)
    done = await method.step(signing_in(clock, issued, "totp", "recovery_code"),
                             FactorSubmission(code=CODES[1]), OWNER, clock.now())
    assert done.flow.state == COMPLETED and recovery_codes_left(done.flow) == 2


async def test_a_spent_code_tells_every_contact_holds_withdrawals_and_asks_to_re_enrol(
        attempts: SignInAttempts, device_codes: NewDeviceCodes, issued: Account,
        clock: FrozenClock) -> None:
    method = RecoveryCodeCheck(attempts, SignInFinish(device_codes), hasher=HASHER,
                               device_codes=device_codes)
    done = await method.step(signing_in(clock, issued, "totp", "recovery_code"),
                             FactorSubmission(code=CODES[0]), OWNER, clock.now())
    assert done.error is None
    [notice] = [e for e in done.effects if isinstance(e, NotifyAccount)]
    assert (notice.account_id, notice.template) == (issued.id, "recovery_code_used")
    assert (notice.params["left"], notice.params["ip"]) == (2, IP)
    assert str(notice.params["not_me_url"]).startswith("https://keepgate.example/not-me?token=")
    assert PlaceHold(issued.id, HoldReason.RECOVERY_CODE_USED) in done.effects
    assert "recovery_code_used" in [m.code for m in done.flow.messages]


async def test_regeneration_needs_a_factor_and_the_action(store: SqlStore, ann: Account,
                                                          clock: FrozenClock) -> None:
    method = RecoveryCodeRegeneration(store)
    with pytest.raises(FactorUnavailable):
        await method.step(in_settings(clock, ann), FactorSubmission(action="regenerate"),
                          OWNER, clock.now())


async def test_regeneration_issues_new_codes(store: SqlStore, ann: Account,
                                             clock: FrozenClock) -> None:
    await add_factor(store, clock, ann, FactorKind.SMS_CODE, destination=PHONE)
    method = RecoveryCodeRegeneration(store)
    with pytest.raises(RecoveryCodeActionRequired):
        await method.step(in_settings(clock, ann), FactorSubmission(), OWNER, clock.now())
    result = await method.step(in_settings(clock, ann), FactorSubmission(action="regenerate"),
                               OWNER, clock.now())
    assert IssueRecoveryCodes(ann.id) in result.effects
