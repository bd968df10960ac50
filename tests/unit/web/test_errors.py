"""keepgate.web.errors: one status per error class, inherited along the MRO."""

from __future__ import annotations

import pytest

from keepgate.domain import errors as E
from keepgate.web.errors import status_for

STATUSES = {
    E.KeepgateError: 400,
    E.RequestRejected: 422,
    E.MalformedJson: 400,
    E.UnsupportedMediaType: 415,
    E.FlowError: 400,
    E.FlowNotFound: 404,
    E.UnknownFlowKind: 404,
    E.FlowExpired: 410,
    E.FlowCompleted: 409,
    E.FlowConflict: 409,
    E.MethodNotAllowed: 400,
    E.NoFactorToStepUp: 409,
    E.InputRejected: 400,
    E.InvalidIdentifier: 400,
    E.InvalidEmail: 400,
    E.EmailNotAscii: 400,
    E.InvalidPhone: 400,
    E.PhoneTypeRefused: 400,
    E.PasswordRejected: 400,
    E.PasswordTooShort: 400,
    E.PasswordTooLong: 400,
    E.PasswordContainsIdentifier: 400,
    E.PasswordBreached: 400,
    E.PasswordCommon: 400,
    E.PasswordTooWeak: 400,
    E.PasswordUnchanged: 400,
    E.CurrentPasswordIncorrect: 400,
    E.PasswordReentryRequired: 400,
    E.TermsNotAccepted: 400,
    E.ContactInvalid: 400,
    E.ContactUnchanged: 400,
    E.ContactTaken: 409,
    E.InvalidAntiPhishingCode: 400,
    E.NoticeNotMutable: 400,
    E.UnknownHistoryEntry: 400,
    E.FactorNameRequired: 400,
    E.RecoveryCodeActionRequired: 400,
    E.CodeError: 400,
    E.InvalidCode: 400,
    E.MalformedCode: 400,
    E.CodeNotSent: 400,
    E.CodeExpired: 400,
    E.CodeAttemptsExhausted: 400,
    E.ResendTooSoon: 429,
    E.SendLimitReached: 429,
    E.NotFound: 404,
    E.SessionNotFound: 404,
    E.DeviceNotFound: 404,
    E.FactorError: 400,
    E.FactorNotFound: 404,
    E.FactorUnavailable: 400,
    E.FactorAlreadyEnrolled: 409,
    E.PasskeysUnavailable: 400,
    E.LastFactor: 409,
    E.InvalidFactorResponse: 400,
    E.WebAuthnChallengeExpired: 400,
    E.TotpNotStarted: 400,
    E.InvalidCredentials: 401,
    E.RegistrationConflict: 409,
    E.AuthenticationRequired: 401,
    E.ServiceClientUnauthenticated: 401,
    E.StepUpRequired: 403,
    E.StrongFactorRequired: 403,
    E.SecondFactorRequired: 403,
    E.FreshSignInRequired: 403,
    E.AccessDenied: 403,
    E.AccountNotFound: 404,
    E.UnknownCapability: 400,
    E.ReservationKeyInvalid: 400,
    E.AmountInvalid: 400,
    E.AmountNotPositive: 400,
    E.AmountTooPrecise: 400,
    E.AmountTooLarge: 400,
    E.LimitError: 409,
    E.LimitExceeded: 403,
    E.NotLimited: 422,
    E.ReservationKeyConflict: 409,
    E.ReservationNotFound: 404,
    E.ReservationExpired: 410,
    E.ReservationSettled: 409,
    E.ScopeRequired: 403,
    E.SecurityConflict: 409,
    E.Throttled: 429,
    E.CaptchaRequired: 400,
    E.CsrfRejected: 403,
}


def test_every_class_has_its_status_stated() -> None:
    classes = {value for value in vars(E).values()
               if isinstance(value, type) and issubclass(value, E.KeepgateError)}
    assert classes == set(STATUSES)


@pytest.mark.parametrize(("cls", "status"), STATUSES.items(), ids=lambda x: str(x))
def test_status(cls: type[E.KeepgateError], status: int) -> None:
    assert status_for(cls()) == status


def test_a_subclass_answers_as_its_parent() -> None:
    class Gone(E.FlowExpired):
        code = "flow.gone"

    class Stranger(E.FactorError, E.NotFound):
        code = "factor.stranger"

    assert (status_for(Gone()), status_for(Stranger())) == (410, 404)


# The codes once passed as ``code=`` at raise sites answer as their own classes now do.
CONVERTED = [
    (E.NoFactorToStepUp, "step_up.no_factor", 409),
    (E.ContactTaken, "contact.taken", 409),
    (E.FactorAlreadyEnrolled, "factor.already_enrolled", 409),
    (E.TotpNotStarted, "totp.not_started", 400),
    (E.WebAuthnChallengeExpired, "webauthn.challenge_expired", 400),
    (E.RecoveryCodeActionRequired, "recovery_code.action_required", 400),
    (E.ContactInvalid, "contact.invalid", 400),
    (E.ContactUnchanged, "contact.unchanged", 400),
]


@pytest.mark.parametrize(("cls", "code", "status"), CONVERTED, ids=lambda x: str(x))
def test_a_converted_code_answers_as_before(cls: type[E.KeepgateError], code: str,
                                            status: int) -> None:
    error = cls()
    assert (error.code, status_for(error)) == (code, status)
