"""The error tree. Every error carries a stable dotted code; only ``web/`` knows HTTP statuses.

    KeepgateError
    ├── RequestRejected            request.*       malformed or oversized input
    ├── FlowError                  flow.*          unknown, expired, finished or contested flows
    ├── InputRejected              identifier.*, password.*, registration.terms_*
    ├── CodeError                  code.*          wrong, expired, exhausted, sent too often
    ├── InvalidCredentials         login.invalid_credentials (also unknown and banned accounts)
    ├── RegistrationConflict       registration.identifier_taken
    ├── AuthenticationRequired     auth.required
    ├── NotFound                   session.not_found
    └── CsrfRejected               csrf.invalid

Errors raised by a flow step carry the flow they left behind (``flow``), so a client can redraw
the form with the messages and counters the failed attempt produced.
"""

from __future__ import annotations

from typing import Any


class KeepgateError(Exception):
    code = "error"
    message = "Something went wrong."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.code = code or type(self).code
        self.message = message or type(self).message
        self.details = details or {}
        self.retry_after = retry_after
        self.flow: Any = None
        super().__init__(f"{self.code}: {self.message}")


class RequestRejected(KeepgateError):
    code = "request.invalid"
    message = "The request is not valid."


class FlowError(KeepgateError):
    code = "flow.error"


class FlowNotFound(FlowError):
    code = "flow.not_found"
    message = "This flow does not exist. Start a new one."


class FlowExpired(FlowError):
    code = "flow.expired"
    message = "This flow has expired. Start a new one."


class FlowCompleted(FlowError):
    code = "flow.completed"
    message = "This flow is already finished. Start a new one."


class FlowConflict(FlowError):
    code = "flow.conflict"
    message = "This flow was changed by another request at the same time. Reload it and try again."


class UnknownFlowKind(FlowError):
    code = "flow.unknown_kind"
    message = "There is no flow of that kind."


class MethodNotAllowed(FlowError):
    code = "flow.method_not_allowed"
    message = "That method cannot be used at this step of the flow."


class InputRejected(KeepgateError):
    code = "input.rejected"


class InvalidIdentifier(InputRejected):
    code = "identifier.invalid"
    message = "Enter a valid email address or a mobile number in international format (+…)."


class PasswordRejected(InputRejected):
    code = "password.rejected"
    message = "Choose a different password."


class TermsNotAccepted(InputRejected):
    code = "registration.terms_not_accepted"
    message = "You must accept the terms of service to create an account."


class CodeError(KeepgateError):
    code = "code.error"


class InvalidCode(CodeError):
    code = "code.invalid"
    message = "That code is not correct."


class CodeExpired(CodeError):
    code = "code.expired"
    message = "That code has expired. Ask for a new one."


class CodeAttemptsExhausted(CodeError):
    code = "code.attempts_exhausted"
    message = "Too many wrong codes. Start again."


class ResendTooSoon(CodeError):
    code = "code.resend_too_soon"
    message = "Please wait before asking for another code."


class SendLimitReached(CodeError):
    code = "code.send_limit_reached"
    message = "Too many codes were sent to this address. Try again later."


class InvalidCredentials(KeepgateError):
    code = "login.invalid_credentials"
    message = "The identifier or password is not correct."


class RegistrationConflict(KeepgateError):
    code = "registration.identifier_taken"
    message = "An account with this address already exists. Sign in instead."


class AuthenticationRequired(KeepgateError):
    code = "auth.required"
    message = "Sign in to continue."


class NotFound(KeepgateError):
    code = "not_found"
    message = "Not found."


class SessionNotFound(NotFound):
    code = "session.not_found"
    message = "There is no active session with that id on your account."


class Throttled(KeepgateError):
    code = "throttle.too_many_attempts"
    message = "Too many attempts from your network. Wait a few minutes and try again."


class CaptchaRequired(KeepgateError):
    code = "captcha.required"
    message = "Please complete the check that you are not a robot."


class StepUpRequired(KeepgateError):
    code = "step_up_required"
    message = ("Confirm it is you with your second factor first: start a step_up flow "
               "(POST /api/v1/flows/step_up) and come back within 5 minutes.")

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, details={"step_up": {"start": "POST /api/v1/flows/step_up",
                                                       "page": "/account/step-up",
                                                       "valid_for_seconds": 300}})


class FreshSignInRequired(KeepgateError):
    code = "fresh_sign_in_required"
    message = "For your security, sign in again before changing your sign-in methods."


class AccessDenied(KeepgateError):
    """Refused by ``domain.access.authorize`` for a reason other than step-up or a stale sign-in;
    ``details["reasons"]`` names them."""

    code = "access.denied"
    message = "This action is not allowed."


class FactorError(KeepgateError):
    code = "factor.error"


class FactorNotFound(FactorError, NotFound):
    code = "factor.not_found"
    message = "There is no such sign-in method on your account."


class FactorUnavailable(FactorError):
    code = "factor.unavailable"
    message = "That method cannot be set up on this account."


class LastFactor(FactorError):
    code = "factor.last_factor"
    message = ("This is your only second factor. Add another one before removing it: an "
               "account that has two-factor sign-in cannot go back to a password alone.")


class InvalidFactorResponse(FactorError):
    code = "factor.invalid_response"
    message = "The security key's answer could not be verified. Try again."


class SecurityConflict(KeepgateError):
    code = "security.conflict"
    message = ("Your security settings were changed in another window or device meanwhile. "
               "Reload them and try again; nothing was changed.")


class CurrentPasswordIncorrect(InputRejected):
    code = "password.current_incorrect"
    message = "Your current password is not correct."


class DeviceNotFound(NotFound):
    code = "device.not_found"
    message = "There is no such trusted device on your account."


class CsrfRejected(KeepgateError):
    code = "csrf.invalid"
    message = "This form has expired or was not sent by Keepgate. Reload the page and try again."
