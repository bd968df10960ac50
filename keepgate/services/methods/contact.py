"""Changing the account's email address or phone number (a settings-flow method).

``{"method": "contact", "kind": "email", "value": "new@…"}`` sends a code to the new
address; ``{"method": "contact", "code": "…", "password": "…"}`` makes the change. The SMS
and email factors send their codes to the account's number and address, so completing a
change re-points a second factor: like adding one, it needs the password again. An address
that already belongs to another account gets the same answers, but no code is sent to it, so
the change can never complete and nothing is revealed.
"""

from __future__ import annotations

from datetime import datetime

from keepgate.domain.accounts import Account
from keepgate.domain.audit import EventKind
from keepgate.domain.errors import ContactInvalid, ContactUnchanged, KeepgateError
from keepgate.domain.factors import Factor
from keepgate.domain.identifiers import parse_email, parse_phone
from keepgate.flows.base import ChangeContact, Feedback, Flow, SendToContact, StepResult
from keepgate.flows.settings import (
    ContactChange,
    contact_changed,
    pending_contact,
    with_pending_contact,
)
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.context import RequestContext
from keepgate.services.methods.base import FactorSubmission, code_of
from keepgate.services.methods.enrolment import FactorEnrolment, refused
from keepgate.services.methods.sent_code import SentCodes, verify_sent_code
from keepgate.services.ports import Store
from keepgate.services.send_budget import Sender
from keepgate.services.sent_codes import CodeSlot


class ContactMethod(FactorEnrolment):
    """A new email address or phone number, proven by a code sent to it and the password."""

    name = "contact"
    reauth_failure = EventKind.CONTACT_CHANGED

    def __init__(self, store: Store, *, reauth: PasswordReauth, codes: SentCodes) -> None:
        super().__init__(store, reauth=reauth)
        self.codes = codes
        self.slot = CodeSlot("contact", "contact", codes.policy.lifetime, budget="foreign")

    def adds_factor(self, submission: FactorSubmission) -> bool:
        return submission.code is not None

    async def enrol(self, flow: Flow, submission: FactorSubmission, account: Account,
                    factors: list[Factor], ctx: RequestContext, now: datetime) -> StepResult:
        if submission.code is None:
            return await self._send(flow, submission, account, ctx, now)
        try:
            flow = verify_sent_code(self.codes, self.slot, flow, code_of(submission), now)
        except KeepgateError as error:
            return refused(self.slot.failed(flow, self.codes.policy), error)
        change = pending_contact(flow)
        done = contact_changed(flow.evolve(messages=(Feedback(
            "contact.changed", "Your contact details are updated. Withdrawals are held for "
            "24 hours."),)))
        return StepResult(done, (ChangeContact(account.id, change.new,
                                               change.expected_version),))

    async def _send(self, flow: Flow, submission: FactorSubmission, account: Account,
                    ctx: RequestContext, now: datetime) -> StepResult:
        if submission.kind not in ("email", "phone") or not submission.value:
            raise ContactInvalid()
        if submission.kind == "email":
            new = parse_email(submission.value, new_contact=True)
        else:
            new = parse_phone(submission.value, new_contact=True, country=submission.country)
        if new.value in (account.email, account.phone):
            raise ContactUnchanged()
        async with self.store.unit_of_work(write=False) as uow:
            taken = await uow.accounts.find(new) is not None
        codes = self.codes
        code, digest = self.slot.new(codes.digester, flow, codes.policy)
        return await self.slot.send(
            codes.budget, codes.policy,
            with_pending_contact(flow, ContactChange(new, account.security_version)), new,
            now, digest=None if taken else digest, sender=Sender(account.id, ctx.ip),
            message=None if taken else SendToContact("contact_code", new, {
                "code": code, "minutes": codes.minutes}))
