"""What a flow shows its client: the public part of its context, never secrets or digests.

The flow's own spec says what it shows; what needs a service to show (a CAPTCHA challenge,
a pending TOTP secret to scan) is added here, for whichever flow has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keepgate.domain.policy import Policies
from keepgate.flows.base import Flow
from keepgate.flows.context import webauthn_options
from keepgate.flows.registry import spec_for
from keepgate.security.keyring import KeyRing
from keepgate.services.captcha import CaptchaGate
from keepgate.services.methods.totp import pending_totp_data


@dataclass(frozen=True, slots=True)
class FlowPresenter:
    policies: Policies
    captcha: CaptchaGate
    keyring: KeyRing  # unseals a pending TOTP secret for its own session to scan
    issuer: str = "Keepgate"  # the brand's name, shown by authenticator apps beside codes

    def public_data(self, flow: Flow) -> dict[str, Any]:
        spec = spec_for(flow.kind)
        methods = spec.methods(flow)
        data: dict[str, Any] = dict(spec.public_data(flow, methods, self.policies))
        if "captcha" in methods:
            data["captcha"] = self.captcha.challenge(flow)
        options = webauthn_options(flow)
        if options and "webauthn" in methods:
            # In awaiting_credentials these are passkey (passwordless) options; later, the
            # account's security keys as a second factor; in settings, creation options.
            data["webauthn"] = options
        data.update(pending_totp_data(self.keyring, flow, self.issuer))
        return data
