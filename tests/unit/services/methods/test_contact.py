"""keepgate.services.methods.contact: a new address is proven by a code sent to it and the
password again (the SMS and email factors follow the address); an address another account
holds gets the same answers but no code, so nothing is revealed."""

from __future__ import annotations

import pytest

from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account
from keepgate.domain.errors import (
    ContactInvalid,
    ContactUnchanged,
    CurrentPasswordIncorrect,
    InvalidCode,
    PasswordReentryRequired,
)
from keepgate.flows.base import ChangeContact, SendToContact
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.methods.base import FactorSubmission
from keepgate.services.methods.contact import ContactMethod
from keepgate.services.methods.sent_code import SentCodes
from tests.unit.services.methods.conftest import ANN, ANN_PASSWORD, in_settings
from tests.unit.services.records import IP, USER_AGENT, add_account

pytestmark = pytest.mark.anyio

OWNER = RequestContext(ip=IP, user_agent=USER_AGENT, device_token="ann-device")
NEW = "ann.new@example.com"


async def test_the_request_must_say_what_changes(store: SqlStore, reauth: PasswordReauth,
                                                 codes: SentCodes, ann: Account,
                                                 clock: FrozenClock) -> None:
    method = ContactMethod(store, reauth=reauth, codes=codes)
    with pytest.raises(ContactInvalid):
        await method.step(in_settings(clock, ann), FactorSubmission(kind="fax", value="1"),
                          OWNER, clock.now())
    with pytest.raises(ContactUnchanged):
        await method.step(in_settings(clock, ann), FactorSubmission(kind="email", value=ANN),
                          OWNER, clock.now())


async def test_a_code_to_the_new_address_makes_the_change(store: SqlStore,
                                                          reauth: PasswordReauth,
                                                          codes: SentCodes, ann: Account,
                                                          clock: FrozenClock) -> None:
    method = ContactMethod(store, reauth=reauth, codes=codes)
    asked = await method.step(in_settings(clock, ann), FactorSubmission(kind="email", value=NEW),
                              OWNER, clock.now())
    message = next(e for e in asked.effects if isinstance(e, SendToContact))
    assert (message.template, message.to.value) == ("contact_code", NEW)
    wrong = await method.step(asked.flow, FactorSubmission(code="000000", password=ANN_PASSWORD),
                              OWNER, clock.now())
    assert isinstance(wrong.error, InvalidCode)
    code = str(message.params["code"])
    with pytest.raises(PasswordReentryRequired):  # the SMS or email factor would follow it
        await method.step(asked.flow, FactorSubmission(code=code), OWNER, clock.now())
    with pytest.raises(CurrentPasswordIncorrect):
        await method.step(asked.flow, FactorSubmission(code=code, password="not it"), OWNER,
                          clock.now())
    done = await method.step(asked.flow, FactorSubmission(code=code, password=ANN_PASSWORD),
                             OWNER, clock.now())
    change = next(e for e in done.effects if isinstance(e, ChangeContact))
    assert (change.account_id, change.new.value) == (ann.id, NEW)


async def test_a_taken_address_gets_no_code(store: SqlStore, reauth: PasswordReauth,
                                            codes: SentCodes, ann: Account,
                                            clock: FrozenClock) -> None:
    await add_account(store, clock, "acc-2", email=NEW)
    asked = await ContactMethod(store, reauth=reauth, codes=codes).step(
        in_settings(clock, ann), FactorSubmission(kind="email", value=NEW), OWNER, clock.now())
    assert asked.effects == ()
    assert [m.code for m in asked.flow.messages] == ["code.sent"]  # the same answer
