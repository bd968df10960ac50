"""keepgate.flows.registry and spec: one spec per kind, and what each spec says of itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keepgate.domain.access import Action
from keepgate.domain.errors import MethodNotAllowed, UnknownFlowKind
from keepgate.domain.policy import Policies
from keepgate.flows import login, recovery, registration, settings, step_up
from keepgate.flows.base import COMPLETED, Channel, FlowKind
from keepgate.flows.context import with_captcha_required
from keepgate.flows.registry import SPECS, spec_for
from keepgate.flows.spec import Access, FlowSpec, Opening, Owner, UnexpectedTransition

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OWNER = Owner(account_id="acct-1", session_id="sess-1", account_name="jane@example.com",
              factors=("totp", "recovery_code"))


def opening(owner: Owner | None = OWNER) -> Opening:
    return Opening("f-1", Channel.API, T0, Policies(), binding="b", owner=owner)


def test_every_kind_has_exactly_one_spec() -> None:
    assert set(SPECS) == set(FlowKind)
    for kind, spec in SPECS.items():
        assert spec.kind is kind
        assert spec_for(kind.value) is spec


def test_each_module_exports_its_spec() -> None:
    exported = {registration.SPEC.kind: registration.SPEC, login.SPEC.kind: login.SPEC,
                settings.SPEC.kind: settings.SPEC, step_up.SPEC.kind: step_up.SPEC,
                recovery.SPEC.kind: recovery.SPEC}
    assert exported == SPECS


@pytest.mark.parametrize("name", ["", "factor_reset", "LOGIN", "login ", "../login"])
def test_unknown_kinds_are_refused(name: str) -> None:
    with pytest.raises(UnknownFlowKind):
        spec_for(name)


def test_who_may_drive_each_kind() -> None:
    assert {kind: spec.access for kind, spec in SPECS.items()} == {
        FlowKind.REGISTRATION: Access.PUBLIC, FlowKind.LOGIN: Access.PUBLIC,
        FlowKind.SETTINGS: Access.PRIVILEGED, FlowKind.STEP_UP: Access.SESSION,
        FlowKind.RECOVERY: Access.PUBLIC}
    assert {kind for kind, spec in SPECS.items() if spec.signed_in} == {
        FlowKind.SETTINGS, FlowKind.STEP_UP}


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=lambda s: s.kind.value)
def test_start_makes_a_flow_of_its_kind_in_a_known_state(spec: FlowSpec) -> None:
    flow = spec.start(opening())
    assert flow.kind is spec.kind
    assert flow.id == "f-1" and flow.binding == "b" and flow.created_at == T0
    assert flow.state in spec.states
    assert set(spec.transitions) == spec.states
    assert spec.methods(flow)


def test_lifetimes_come_from_the_policies() -> None:
    policies = Policies()
    assert spec_for("registration").start(opening(None)).expires_at == \
        T0 + policies.flows.registration_lifetime
    assert spec_for("login").start(opening(None)).expires_at == \
        T0 + policies.flows.login_lifetime


def test_signed_in_flows_belong_to_their_owner() -> None:
    for kind in ("settings", "step_up"):
        flow = spec_for(kind).start(opening())
        assert (flow.account_id, flow.session_id) == ("acct-1", "sess-1")
    assert settings.account_name(spec_for("settings").start(opening())) == "jane@example.com"


def test_step_up_needs_a_factor_to_start() -> None:
    bare = Owner(account_id="a", session_id="s", account_name="a", factors=())
    with pytest.raises(MethodNotAllowed) as caught:
        spec_for("step_up").start(opening(bare))
    assert caught.value.code == "step_up.no_factor"


def test_open_methods_per_kind() -> None:
    assert spec_for("registration").methods(spec_for("registration").start(opening())) == (
        "password",)
    assert spec_for("login").methods(spec_for("login").start(opening())) == (
        "password", "webauthn")
    assert spec_for("settings").methods(spec_for("settings").start(opening())) == \
        settings.METHODS
    # Step-up offers the account's factors, strongest first.
    assert spec_for("step_up").methods(spec_for("step_up").start(opening())) == (
        "totp", "recovery_code")


def test_captcha_opens_when_demanded() -> None:
    for kind in ("registration", "settings"):
        spec = spec_for(kind)
        flow = with_captcha_required(spec.start(opening()), True)
        assert spec.methods(flow)[-1] == "captcha"


def test_a_finished_flow_offers_nothing() -> None:
    for spec in SPECS.values():
        flow = spec.start(opening()).evolve(state=COMPLETED)
        assert spec.methods(flow) == ()


def test_public_data_of_a_fresh_flow() -> None:
    shown = {}
    for kind, spec in SPECS.items():
        flow = spec.start(opening())
        shown[kind] = spec.public_data(flow, spec.methods(flow), Policies())
    assert shown == {FlowKind.REGISTRATION: {}, FlowKind.LOGIN: {}, FlowKind.SETTINGS: {},
                     FlowKind.STEP_UP: {"factors": ["totp", "recovery_code"]},
                     FlowKind.RECOVERY: {}}


def test_landing_on_an_allowed_state() -> None:
    spec = spec_for("registration")
    spec.check_landing(registration.AWAITING_CREDENTIALS, "password", registration.AWAITING_CODE,
                       refused=False)
    spec.check_landing(registration.AWAITING_CODE, "code", COMPLETED, refused=False)


@pytest.mark.parametrize(("before", "method", "after"), [
    (registration.AWAITING_CREDENTIALS, "password", COMPLETED),  # skips the code
    (registration.AWAITING_CREDENTIALS, "code", registration.AWAITING_CODE),  # wrong method
    (registration.AWAITING_CREDENTIALS, "password", registration.AWAITING_CREDENTIALS),
    (COMPLETED, "code", COMPLETED),  # nothing leaves a finished flow
    ("nowhere", "password", registration.AWAITING_CODE),
])
def test_landing_elsewhere_is_a_bug(before: str, method: str, after: str) -> None:
    with pytest.raises(UnexpectedTransition):
        spec_for("registration").check_landing(before, method, after, refused=False)


def test_a_refused_step_may_stay_but_never_move_off_the_table() -> None:
    spec = spec_for("registration")
    spec.check_landing(registration.AWAITING_CREDENTIALS, "password",
                       registration.AWAITING_CREDENTIALS, refused=True)
    with pytest.raises(UnexpectedTransition):
        spec.check_landing(registration.AWAITING_CREDENTIALS, "password", COMPLETED,
                           refused=True)


def test_every_method_of_a_privileged_kind_names_its_action() -> None:
    for spec in SPECS.values():
        methods = {m for edges in spec.transitions.values() for m in edges}
        if spec.access is Access.PRIVILEGED:
            assert set(spec.actions) == methods, spec.kind
        else:
            assert spec.actions == {}
            assert all(spec.guarded_action(m) is None for m in methods)


def test_settings_methods_are_guarded_as_what_they_change() -> None:
    spec = spec_for("settings")
    assert spec.guarded_action("totp") is Action.ADD_FACTOR
    assert spec.guarded_action("webauthn") is Action.ADD_FACTOR
    assert spec.guarded_action("recovery_code") is Action.REGENERATE_RECOVERY_CODES
    assert spec.guarded_action("contact") is Action.CHANGE_CONTACT
