"""keepgate.services.notices: every message enters the outbox rendered, in the caller's
transaction, with the recipient's anti-phishing code; account notices go to email and phone,
and only non-critical ones can be muted."""

from __future__ import annotations

import pytest

from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.notices import MUTABLE_NOTICES
from keepgate.services.clock import FrozenClock
from keepgate.services.messages import MessageRenderer
from keepgate.services.notices import Notifier
from tests.unit.services.records import add_account, outbox

pytestmark = pytest.mark.anyio

ANN = Identifier(IdentifierKind.EMAIL, "ann@example.com")
NEW_ADDRESS = Identifier(IdentifierKind.EMAIL, "ann.new@example.org")
PHONE = "+447700900123"
CODE_PARAMS = {"code": "042917", "minutes": 10}
BANNED_PARAMS = {"minutes": 60, "ip": "203.0.113.7", "scope": "on devices you have not confirmed"}


@pytest.fixture
def notifier() -> Notifier:
    return Notifier(MessageRenderer("https://keepgate.example"))


async def test_a_message_is_rendered_into_the_outbox(notifier: Notifier, store: SqlStore,
                                                     clock: FrozenClock) -> None:
    async with store.unit_of_work(write=True) as uow:
        await notifier.enqueue(uow, ANN, "registration_code", CODE_PARAMS, clock.now())
    [message] = await outbox(store)
    assert (message.channel, message.destination, message.template) == (
        "email", ANN.value, "registration_code")
    assert message.status == "pending"
    assert message.created_at == clock.now()
    assert "042917" in message.body
    assert message.subject
    assert "anti-phishing" not in message.body.lower()


async def test_nothing_is_queued_when_the_change_rolls_back(notifier: Notifier, store: SqlStore,
                                                            clock: FrozenClock) -> None:
    with pytest.raises(RuntimeError):
        async with store.unit_of_work(write=True) as uow:
            await notifier.enqueue(uow, ANN, "registration_code", CODE_PARAMS, clock.now())
            raise RuntimeError("the change failed")
    assert await outbox(store) == []


async def test_the_owner_anti_phishing_code_is_stamped_in(notifier: Notifier, store: SqlStore,
                                                          clock: FrozenClock) -> None:
    await add_account(store, clock, email=ANN.value, anti_phishing_code="TULIP-7Q")
    async with store.unit_of_work(write=True) as uow:
        await notifier.enqueue(uow, ANN, "sign_in_code", CODE_PARAMS, clock.now())
    [message] = await outbox(store)
    assert message.body.startswith("Your anti-phishing code: TULIP-7Q\n")


async def test_the_account_the_message_is_about_gives_the_code(notifier: Notifier,
                                                               store: SqlStore,
                                                               clock: FrozenClock) -> None:
    ann = await add_account(store, clock, email=ANN.value, anti_phishing_code="TULIP-7Q")
    async with store.unit_of_work(write=True) as uow:  # an address nobody owns yet
        await notifier.enqueue(uow, NEW_ADDRESS, "contact_code", CODE_PARAMS, clock.now(),
                               account=ann)
        await notifier.enqueue(uow, NEW_ADDRESS, "registration_code", CODE_PARAMS, clock.now())
    about_ann, unowned = await outbox(store)
    assert about_ann.destination == NEW_ADDRESS.value
    assert "TULIP-7Q" in about_ann.body
    assert "TULIP-7Q" not in unowned.body


async def test_account_notices_go_to_email_and_phone(notifier: Notifier, store: SqlStore,
                                                     clock: FrozenClock) -> None:
    ann = await add_account(store, clock, email=ANN.value, phone=PHONE)
    bob = await add_account(store, clock, "acc-2", email="bob@example.com")
    async with store.unit_of_work(write=True) as uow:
        await notifier.notify_account(uow, ann, "signin_banned", BANNED_PARAMS, clock.now())
        await notifier.notify_account(uow, bob, "signin_banned", BANNED_PARAMS, clock.now())
    sent = [(m.channel, m.destination) for m in await outbox(store)]
    assert sent == [("email", ANN.value), ("sms", PHONE), ("email", "bob@example.com")]


async def test_a_phone_only_account_gets_a_text(notifier: Notifier, store: SqlStore,
                                                clock: FrozenClock) -> None:
    carl = await add_account(store, clock, email=None, phone=PHONE)
    async with store.unit_of_work(write=True) as uow:
        await notifier.notify_account(uow, carl, "account_locked", {}, clock.now())
    assert [(m.channel, m.destination) for m in await outbox(store)] == [("sms", PHONE)]


async def test_a_muted_notice_is_not_sent(notifier: Notifier, store: SqlStore,
                                          clock: FrozenClock) -> None:
    assert "anti_phishing_changed" in MUTABLE_NOTICES
    ann = await add_account(store, clock, email=ANN.value, phone=PHONE,
                            muted_notices=["anti_phishing_changed"])
    async with store.unit_of_work(write=True) as uow:
        await notifier.notify_account(uow, ann, "anti_phishing_changed", {}, clock.now())
    assert await outbox(store) == []


async def test_an_unmuted_optional_notice_is_sent(notifier: Notifier, store: SqlStore,
                                                  clock: FrozenClock) -> None:
    ann = await add_account(store, clock, email=ANN.value)
    async with store.unit_of_work(write=True) as uow:
        await notifier.notify_account(uow, ann, "anti_phishing_changed", {}, clock.now())
    assert [m.template for m in await outbox(store)] == ["anti_phishing_changed"]


async def test_critical_notices_cannot_be_muted(notifier: Notifier, store: SqlStore,
                                                clock: FrozenClock) -> None:
    assert "signin_banned" not in MUTABLE_NOTICES
    ann = await add_account(store, clock, email=ANN.value,
                            muted_notices=["signin_banned", "account_locked"])
    async with store.unit_of_work(write=True) as uow:
        await notifier.notify_account(uow, ann, "signin_banned", BANNED_PARAMS, clock.now())
        await notifier.notify_account(uow, ann, "account_locked", {}, clock.now())
    assert [m.template for m in await outbox(store)] == ["signin_banned", "account_locked"]
