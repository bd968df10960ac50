"""What a flow shows its client: the public part of its context, never secrets or digests."""

from __future__ import annotations

from typing import Any

from keepgate.flows import registration
from keepgate.flows.base import Flow, FlowKind
from keepgate.services.enrolment import pending_totp_data
from keepgate.services.flows import methods_of
from keepgate.wiring import Keepgate


def public_data(kg: Keepgate, flow: Flow) -> dict[str, Any]:
    data: dict[str, Any] = {}
    methods = methods_of(flow)
    if flow.kind is FlowKind.REGISTRATION:
        data.update(registration.public_data(flow, kg.flows.policies.codes))
    if "captcha" in methods:
        data["captcha"] = kg.captcha.challenge(flow)
    options = flow.context.get("webauthn_options")
    if options and "webauthn" in methods:
        # In awaiting_credentials these are passkey (passwordless) options; later, the
        # account's security keys as a second factor; in settings, creation options.
        data["webauthn"] = options
    if flow.kind in (FlowKind.LOGIN, FlowKind.STEP_UP) and "factors" in flow.context:
        data["factors"] = list(methods)
        left = flow.context.get("recovery_codes_left")
        if left is not None:
            data["recovery_codes_left"] = left
    if flow.kind is FlowKind.SETTINGS:
        data.update(pending_totp_data(kg.enrolment, flow, str(flow.context["account_name"])))
    return data
