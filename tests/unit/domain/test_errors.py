"""keepgate.domain.errors: stable codes and the error tree."""

from __future__ import annotations

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


def test_overrides() -> None:
    error = E.InvalidIdentifier("bad phone", code="identifier.invalid_phone",
                                details={"x": 1}, retry_after=5)
    assert (error.code, error.message, error.details, error.retry_after) == (
        "identifier.invalid_phone", "bad phone", {"x": 1}, 5)
    # The class default is untouched by an instance override.
    assert E.InvalidIdentifier.code == "identifier.invalid"


@pytest.mark.parametrize(("cls", "base"), [
    (E.FlowNotFound, E.FlowError), (E.MethodNotAllowed, E.FlowError),
    (E.InvalidIdentifier, E.InputRejected), (E.PasswordRejected, E.InputRejected),
    (E.TermsNotAccepted, E.InputRejected), (E.ResendTooSoon, E.CodeError),
    (E.SendLimitReached, E.CodeError), (E.CodeAttemptsExhausted, E.CodeError),
    (E.SessionNotFound, E.NotFound),
])
def test_tree(cls: type[E.KeepgateError], base: type[E.KeepgateError]) -> None:
    assert issubclass(cls, base)
