"""keepgate.domain.errors: stable codes, the error tree, and its drawing in the docstring."""

from __future__ import annotations

import re

import pytest

from keepgate.domain import errors as E

EXPECTED_CODES = {
    E.RequestRejected: "request.invalid",
    E.FlowNotFound: "flow.not_found",
    E.FlowExpired: "flow.expired",
    E.FlowCompleted: "flow.completed",
    E.FlowConflict: "flow.conflict",
    E.UnknownFlowKind: "flow.unknown_kind",
    E.MethodNotAllowed: "flow.method_not_allowed",
    E.InvalidIdentifier: "identifier.invalid",
    E.TermsNotAccepted: "registration.terms_not_accepted",
    E.InvalidCode: "code.invalid",
    E.CodeExpired: "code.expired",
    E.CodeAttemptsExhausted: "code.attempts_exhausted",
    E.ResendTooSoon: "code.resend_too_soon",
    E.SendLimitReached: "code.send_limit_reached",
    E.InvalidCredentials: "login.invalid_credentials",
    E.RegistrationConflict: "registration.identifier_taken",
    E.AuthenticationRequired: "auth.required",
    E.SessionNotFound: "session.not_found",
    E.CsrfRejected: "csrf.invalid",
    E.MalformedJson: "request.malformed_json",
    E.UnsupportedMediaType: "request.unsupported_media_type",
    E.NoFactorToStepUp: "step_up.no_factor",
    E.InvalidEmail: "identifier.invalid_email",
    E.InvalidPhone: "identifier.invalid_phone",
    E.PasswordRejected: "password.rejected",
    E.PasswordTooShort: "password.too_short",
    E.PasswordTooLong: "password.too_long",
    E.PasswordContainsIdentifier: "password.contains_identifier",
    E.PasswordBreached: "password.breached",
    E.PasswordCommon: "password.common",
    E.PasswordTooWeak: "password.too_weak",
    E.PasswordUnchanged: "password.unchanged",
    E.CurrentPasswordIncorrect: "password.current_incorrect",
    E.ContactInvalid: "contact.invalid",
    E.ContactUnchanged: "contact.unchanged",
    E.ContactTaken: "contact.taken",
    E.InvalidAntiPhishingCode: "anti_phishing.invalid",
    E.NoticeNotMutable: "notices.not_mutable",
    E.FactorNameRequired: "factor.name_required",
    E.RecoveryCodeActionRequired: "recovery_code.action_required",
    E.MalformedCode: "code.malformed",
    E.CodeNotSent: "code.not_sent",
    E.NotFound: "not_found",
    E.DeviceNotFound: "device.not_found",
    E.FactorNotFound: "factor.not_found",
    E.FactorUnavailable: "factor.unavailable",
    E.FactorAlreadyEnrolled: "factor.already_enrolled",
    E.LastFactor: "factor.last_factor",
    E.InvalidFactorResponse: "factor.invalid_response",
    E.WebAuthnChallengeExpired: "webauthn.challenge_expired",
    E.TotpNotStarted: "totp.not_started",
    E.FreshSignInRequired: "fresh_sign_in_required",
    E.SecurityConflict: "security.conflict",
    E.Throttled: "throttle.too_many_attempts",
    E.CaptchaRequired: "captcha.required",
}


@pytest.mark.parametrize(("cls", "code"), EXPECTED_CODES.items(), ids=lambda x: str(x))
def test_stable_codes_and_messages(cls: type[E.KeepgateError], code: str) -> None:
    error = cls()
    assert error.code == code
    assert error.message and error.message != E.KeepgateError.message
    assert error.flow is None
    assert error.details == {}
    assert error.retry_after is None
    assert str(error).startswith(code)
    assert isinstance(error, E.KeepgateError)


def test_step_up_required_says_how() -> None:
    error = E.StepUpRequired()
    assert error.code == "step_up_required"
    assert error.details == {"step_up": {"start": "POST /api/v1/flows/step_up",
                                         "page": "/account/step-up", "valid_for_seconds": 300}}


def test_overrides() -> None:
    error = E.InvalidPhone("bad phone", details={"x": 1}, retry_after=5)
    assert (error.code, error.message, error.details, error.retry_after) == (
        "identifier.invalid_phone", "bad phone", {"x": 1}, 5)
    # The class default is untouched by an instance override.
    assert E.InvalidPhone.message != "bad phone"


@pytest.mark.parametrize(("cls", "base"), [
    (E.FlowNotFound, E.FlowError), (E.MethodNotAllowed, E.FlowError),
    (E.InvalidIdentifier, E.InputRejected), (E.PasswordRejected, E.InputRejected),
    (E.TermsNotAccepted, E.InputRejected), (E.ResendTooSoon, E.CodeError),
    (E.SendLimitReached, E.CodeError), (E.CodeAttemptsExhausted, E.CodeError),
    (E.SessionNotFound, E.NotFound),
])
def test_tree(cls: type[E.KeepgateError], base: type[E.KeepgateError]) -> None:
    assert issubclass(cls, base)


@pytest.mark.parametrize(("cls", "base"), [
    (E.MalformedJson, E.RequestRejected), (E.UnsupportedMediaType, E.RequestRejected),
    (E.NoFactorToStepUp, E.MethodNotAllowed), (E.InvalidEmail, E.InvalidIdentifier),
    (E.InvalidPhone, E.InvalidIdentifier), (E.PasswordTooShort, E.PasswordRejected),
    (E.PasswordUnchanged, E.PasswordRejected), (E.ContactTaken, E.InputRejected),
    (E.InvalidAntiPhishingCode, E.InputRejected), (E.MalformedCode, E.InvalidCode),
    (E.CodeNotSent, E.CodeError), (E.FactorNotFound, E.NotFound),
    (E.FactorAlreadyEnrolled, E.FactorUnavailable),
    (E.WebAuthnChallengeExpired, E.InvalidFactorResponse), (E.TotpNotStarted, E.FactorError),
])
def test_new_branches(cls: type[E.KeepgateError], base: type[E.KeepgateError]) -> None:
    assert issubclass(cls, base)


# One line of the drawing: the branch, the class, its code and what it means.
DRAWN = re.compile(r"(?P<branch>(?:[│ ]   )*(?:[├└]── )?)"
                   r"(?P<name>\w+) {2,}(?P<code>\S+) {2,}(?P<meaning>\S.*)")


def drawing() -> list[tuple[int, str, str, str]]:
    """(depth, class, code, meaning) for each line of the tree in the module docstring."""
    lines = (E.__doc__ or "").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("KeepgateError "))
    rows = []
    for line in lines[start:]:
        if not line:
            break
        match = DRAWN.match(line)
        assert match, f"not a line of the drawing: {line!r}"
        rows.append((len(match["branch"]) // 4, match["name"], match["code"], match["meaning"]))
    return rows


def defined() -> list[type[E.KeepgateError]]:
    return [value for value in vars(E).values() if isinstance(value, type)
            and issubclass(value, E.KeepgateError) and value.__module__ == E.__name__]


def test_the_drawing_names_every_class_in_order() -> None:
    assert [name for _, name, _, _ in drawing()] == [cls.__name__ for cls in defined()]


def test_the_drawing_gives_each_class_its_code() -> None:
    drawn = {name: code for _, name, code, _ in drawing()}
    assert drawn == {cls.__name__: cls.code for cls in defined()}


def test_the_drawing_hangs_each_class_under_its_parent() -> None:
    parents: list[str] = []
    for depth, name, _, meaning in drawing():
        first, *others = getattr(E, name).__bases__
        del parents[depth:]
        assert len(parents) == depth, f"{name}: a level is skipped"
        assert first.__name__ == (parents[-1] if parents else "Exception"), name
        # A second parent is named in the meaning ("a NotFound").
        assert all(re.search(rf"\b{other.__name__}\b", meaning) for other in others), name
        parents.append(name)


def test_each_code_names_one_class() -> None:
    codes = [cls.code for cls in defined()]
    assert len(codes) == len(set(codes))


def test_strength_refusals_say_what_to_do() -> None:
    strong = E.StrongFactorRequired()
    assert strong.code == "strong_factor_required" and isinstance(strong, E.StepUpRequired)
    assert strong.details["step_up"]["start"] == "POST /api/v1/flows/step_up"
    enrol = E.SecondFactorRequired()
    assert enrol.code == "second_factor_required"
    assert enrol.details == {"enrol": {"page": "/account/security",
                                       "start": "POST /api/v1/flows/settings"}}
