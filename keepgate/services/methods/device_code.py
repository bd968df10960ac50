"""The new-device confirmation: a code to the account's contact when a device signs in for
the first time, with what signed in and a "this wasn't me" link."""

from __future__ import annotations

from datetime import datetime, timedelta

from keepgate.domain.accounts import Account
from keepgate.domain.identifiers import Identifier
from keepgate.flows import login
from keepgate.flows.base import Flow, SendToContact, StepResult
from keepgate.security.codes import CodeDigester, generate_code
from keepgate.security.link_tokens import LinkSigner
from keepgate.services.context import RequestContext
from keepgate.services.defences import Attempt
from keepgate.services.devices import describe_device
from keepgate.services.methods.attempts import SignInAttempts
from keepgate.services.methods.second_factor import SignInFinish
from keepgate.services.methods.sent_code import SentCodeCheck, SentCodes

NOT_ME_LINK_LIFETIME = timedelta(hours=72)  # and single use (``TakeoverReports``)


class NewDeviceCodes:
    """Writes the new-device code message; its digest is bound to the flow."""

    def __init__(self, *, digester: CodeDigester, digits: int, lifetime: timedelta,
                 signer: LinkSigner, public_url: str) -> None:
        self._digester = digester
        self._digits = digits
        self.lifetime = lifetime
        self._signer = signer
        self._public_url = public_url

    def message(self, flow: Flow, account: Account, ctx: RequestContext,
                now: datetime) -> tuple[SendToContact, str]:
        code = generate_code(self._digits)
        digest = self._digester.digest(code, purpose="device", binding=flow.id)
        minutes = int(self.lifetime.total_seconds() // 60)
        message = SendToContact("device_code", account.contact, {
            "code": code, "minutes": minutes, "device": describe_device(ctx.user_agent),
            "ip": ctx.ip or "unknown", "time": now.strftime("%Y-%m-%d %H:%M UTC"),
            "not_me_url": self.not_me_url(flow, account, now)})
        return message, digest

    def not_me_url(self, flow: Flow, account: Account, now: datetime) -> str:
        """The signed "this wasn't me" link for a sign-in in ``flow``: following it signs
        every device out and locks sign-in."""
        link = self._signer.sign("not-me", {"a": account.id, "f": flow.id},
                                 expires_at=now + NOT_ME_LINK_LIFETIME)
        return f"{self._public_url}/not-me?token={link}"


class DeviceCodeCheck(SentCodeCheck):
    """The new-device code: sent when the factors pass, resent on request, then checked."""

    name = login.DEVICE_CODE
    purpose = "device"

    def __init__(self, attempts: SignInAttempts, *, codes: SentCodes,
                 device_codes: NewDeviceCodes) -> None:
        super().__init__(attempts, SignInFinish(device_codes), codes=codes,
                         lifetime=device_codes.lifetime)
        self._device_codes = device_codes

    def destination(self, account: Account) -> Identifier:
        return account.contact

    def message(self, flow: Flow, account: Account, ctx: RequestContext,
                now: datetime) -> tuple[SendToContact, str]:
        return self._device_codes.message(flow, account, ctx, now)

    def passed(self, flow: Flow, account: Account, ctx: RequestContext, now: datetime,
               attempt: Attempt) -> StepResult:
        return login.device_confirmed(flow)
