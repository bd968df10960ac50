"""The error tree: every public error, its stable dotted code, one line of what it means.

Only ``web/`` knows HTTP statuses (``keepgate.web.errors``, one mapping by class: a class without
a status of its own answers with its parent's). A test keeps this drawing and the classes equal.

KeepgateError                           error                            base of every public error
├── RequestRejected                     request.invalid                  fields missing or not valid
│   ├── MalformedJson                   request.malformed_json           the body is not JSON
│   └── UnsupportedMediaType            request.unsupported_media_type   body not application/json
├── FlowError                           flow.error                       flow cannot go on as asked
│   ├── FlowNotFound                    flow.not_found                   no flow with that id
│   ├── UnknownFlowKind                 flow.unknown_kind                no flow of that kind
│   ├── FlowExpired                     flow.expired                     past its expiry
│   ├── FlowCompleted                   flow.completed                   already finished
│   ├── FlowConflict                    flow.conflict                    changed by another request
│   └── MethodNotAllowed                flow.method_not_allowed          not open at this step
│       └── NoFactorToStepUp            step_up.no_factor                nothing to step up with
├── InputRejected                       input.rejected                   a value is not acceptable
│   ├── InvalidIdentifier               identifier.invalid               neither email nor phone
│   │   ├── InvalidEmail                identifier.invalid_email         not a valid email address
│   │   │   └── EmailNotAscii           identifier.email_not_ascii       non-ASCII before the @
│   │   └── InvalidPhone                identifier.invalid_phone         not a valid mobile number
│   │       └── PhoneTypeRefused        identifier.phone_type_refused    premium-rate and the like
│   ├── PasswordRejected                password.rejected                choose another password
│   │   ├── PasswordTooShort            password.too_short               under the minimum length
│   │   ├── PasswordTooLong             password.too_long                over the maximum length
│   │   ├── PasswordContainsIdentifier  password.contains_identifier     has the address or our name
│   │   ├── PasswordBreached            password.breached                seen in published breaches
│   │   ├── PasswordCommon              password.common                  on common-password lists
│   │   ├── PasswordTooWeak             password.too_weak                too easy to guess
│   │   └── PasswordUnchanged           password.unchanged               same as the current one
│   ├── CurrentPasswordIncorrect        password.current_incorrect       wrong current password
│   ├── PasswordReentryRequired         password.reentry_required        password needed again
│   ├── TermsNotAccepted                registration.terms_not_accepted  terms not accepted
│   ├── ContactInvalid                  contact.invalid                  kind or value missing
│   ├── ContactUnchanged                contact.unchanged                same as the current one
│   ├── ContactTaken                    contact.taken                    another account's address
│   ├── InvalidAntiPhishingCode         anti_phishing.invalid            not 4-20 letters and digits
│   ├── NoticeNotMutable                notices.not_mutable              cannot be muted
│   ├── UnknownHistoryEntry             history.unknown_entry            not this account's entry
│   ├── FactorNameRequired              factor.name_required             a key needs a name
│   ├── RecoveryCodeActionRequired      recovery_code.action_required    action "regenerate" missing
│   ├── UnknownCapability               capability.unknown               no capability of that name
│   ├── ReservationKeyInvalid           limits.invalid_key               1-128 printable characters
│   └── AmountInvalid                   amount.invalid                   not a finite decimal number
│       ├── AmountNotPositive           amount.not_positive              zero or negative
│       ├── AmountTooPrecise            amount.too_precise               more decimals than allowed
│       └── AmountTooLarge              amount.too_large                 over the largest amount
├── CodeError                           code.error                       a one-time code failed
│   ├── InvalidCode                     code.invalid                     wrong code
│   │   └── MalformedCode               code.malformed                   not the expected digits
│   ├── CodeNotSent                     code.not_sent                    no code sent yet
│   ├── CodeExpired                     code.expired                     past its lifetime
│   ├── CodeAttemptsExhausted           code.attempts_exhausted          too many wrong codes
│   ├── ResendTooSoon                   code.resend_too_soon             wait before another code
│   └── SendLimitReached                code.send_limit_reached          address got too many codes
├── NotFound                            not_found                        nothing with that id
│   ├── AccountNotFound                 account.not_found                no such account
│   ├── SessionNotFound                 session.not_found                no such active session
│   └── DeviceNotFound                  device.not_found                 no such trusted device
├── FactorError                         factor.error                     sign-in method problems
│   ├── FactorNotFound                  factor.not_found                 no such method; a NotFound
│   ├── FactorUnavailable               factor.unavailable               cannot be set up here
│   │   ├── FactorAlreadyEnrolled       factor.already_enrolled          already set up
│   │   └── PasskeysUnavailable         webauthn.unavailable             refused at an IP address
│   ├── LastFactor                      factor.last_factor               the only second factor
│   ├── InvalidFactorResponse           factor.invalid_response          key's answer not verified
│   │   └── WebAuthnChallengeExpired    webauthn.challenge_expired       key request expired
│   └── TotpNotStarted                  totp.not_started                 no secret asked for yet
├── InvalidCredentials                  login.invalid_credentials        unknown, wrong or banned
├── RegistrationConflict                registration.identifier_taken    address has an account
├── AuthenticationRequired              auth.required                    no valid session
│   └── ServiceClientUnauthenticated    service_client.unauthenticated   no valid client credentials
├── StepUpRequired                      step_up_required                 second factor needed first
│   └── StrongFactorRequired            strong_factor_required           not an email code alone
├── SecondFactorRequired                second_factor_required           enrol a strong factor first
├── FreshSignInRequired                 fresh_sign_in_required           sign in again first
├── AccessDenied                        access.denied                    refused, with the reasons
├── LimitError                          limits.error                     a limit reservation failed
│   ├── LimitExceeded                   limits.exceeded                  over what is left to use
│   ├── NotLimited                      limits.not_limited               capability has no limit
│   ├── ReservationKeyConflict          limits.key_conflict              key used with other values
│   ├── ReservationNotFound             limits.reservation_not_found     no reservation by that key
│   ├── ReservationExpired              limits.reservation_expired       lapsed before its commit
│   └── ReservationSettled              limits.reservation_settled       committed or released
├── ScopeRequired                       service_client.scope_required    client lacks the scope
├── SecurityConflict                    security.conflict                settings changed meanwhile
├── Throttled                           throttle.too_many_attempts       too many tries from network
├── CaptchaRequired                     captcha.required                 proof of work needed
└── CsrfRejected                        csrf.invalid                     form token missing or wrong

Errors raised by a flow step carry the flow they left behind (``flow``), so a client can redraw
the form with the messages and counters the failed attempt produced.

Verification failures (``keepgate.security.errors.VerificationFailed`` and its subclasses) are
not in this tree: they are internal and never reach a client. The code that catches one answers
with a public error instead, in services but for CSRF (web) and the registration code (its flow):

    InvalidPassword           ->  InvalidCredentials, or CurrentPasswordIncorrect
    InvalidCodeDigest         ->  InvalidCode, or CodeAttemptsExhausted once the failures run out
    InvalidTotp               ->  InvalidCode
    InvalidWebAuthnResponse   ->  InvalidFactorResponse
    InvalidCaptcha            ->  CaptchaRequired
    InvalidCsrfToken          ->  CsrfRejected
    InvalidServiceSecret      ->  ServiceClientUnauthenticated
    a signed link's failure   ->  no error: the link's page says it is not valid
    UndecryptableSecret       ->  not translated: a server fault, answered as ``internal``
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
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.code = type(self).code
        self.message = message or type(self).message
        self.details = details or {}
        self.retry_after = retry_after
        self.flow: Any = None
        super().__init__(f"{self.code}: {self.message}")


class RequestRejected(KeepgateError):
    code = "request.invalid"
    message = "Some fields are missing or not valid."


class MalformedJson(RequestRejected):
    code = "request.malformed_json"
    message = "The request body is not valid JSON."


class UnsupportedMediaType(RequestRejected):
    code = "request.unsupported_media_type"
    message = "Send the body as application/json."


class FlowError(KeepgateError):
    code = "flow.error"


class FlowNotFound(FlowError):
    code = "flow.not_found"
    message = "This flow does not exist. Start a new one."


class UnknownFlowKind(FlowError):
    code = "flow.unknown_kind"
    message = "There is no flow of that kind."


class FlowExpired(FlowError):
    code = "flow.expired"
    message = "This flow has expired. Start a new one."


class FlowCompleted(FlowError):
    code = "flow.completed"
    message = "This flow is already finished. Start a new one."


class FlowConflict(FlowError):
    code = "flow.conflict"
    message = "This flow was changed by another request at the same time. Reload it and try again."


class MethodNotAllowed(FlowError):
    code = "flow.method_not_allowed"
    message = "That method cannot be used at this step of the flow."


class NoFactorToStepUp(MethodNotAllowed):
    code = "step_up.no_factor"
    message = "Set up a second factor first: there is nothing to step up with."


class InputRejected(KeepgateError):
    code = "input.rejected"


class InvalidIdentifier(InputRejected):
    code = "identifier.invalid"
    message = "Enter a valid email address or a mobile number in international format (+…)."


class InvalidEmail(InvalidIdentifier):
    code = "identifier.invalid_email"
    message = "That email address is not valid."


class EmailNotAscii(InvalidEmail):
    code = "identifier.email_not_ascii"
    message = ("Use an email address written in plain Latin letters, digits and punctuation "
               "before the @: ours cannot be delivered everywhere.")


class InvalidPhone(InvalidIdentifier):
    code = "identifier.invalid_phone"
    message = "That mobile number is not valid."


class PhoneTypeRefused(InvalidPhone):
    code = "identifier.phone_type_refused"
    message = ("We cannot send codes to premium-rate, shared-cost or other special numbers. "
               "Use a mobile number.")


class PasswordRejected(InputRejected):
    code = "password.rejected"
    message = "Choose a different password."


class PasswordTooShort(PasswordRejected):
    code = "password.too_short"
    message = "Use a longer password."


class PasswordTooLong(PasswordRejected):
    code = "password.too_long"
    message = "Use a shorter password."


class PasswordContainsIdentifier(PasswordRejected):
    code = "password.contains_identifier"
    message = ("Your password must not contain your email address, phone number or the name"
               " of this service.")


class PasswordBreached(PasswordRejected):
    code = "password.breached"
    message = "This password appears in published data breaches, so attackers try it early."


class PasswordCommon(PasswordRejected):
    code = "password.common"
    message = "This password is too common: it appears in lists that attackers try first."


class PasswordTooWeak(PasswordRejected):
    code = "password.too_weak"
    message = "This password is too easy to guess. Add more words."


class PasswordUnchanged(PasswordRejected):
    code = "password.unchanged"
    message = "Choose a password different from the current one."


class CurrentPasswordIncorrect(InputRejected):
    code = "password.current_incorrect"
    message = "Your current password is not correct."


class PasswordReentryRequired(InputRejected):
    code = "password.reentry_required"
    message = "Enter your password again to add a sign-in method."


class TermsNotAccepted(InputRejected):
    code = "registration.terms_not_accepted"
    message = "You must accept the terms of service to create an account."


class ContactInvalid(InputRejected):
    code = "contact.invalid"
    message = 'Send {"kind": "email" or "phone", "value": …}.'


class ContactUnchanged(InputRejected):
    code = "contact.unchanged"
    message = "That is already your address."


class ContactTaken(InputRejected):
    code = "contact.taken"
    message = "That address now belongs to another account."


class InvalidAntiPhishingCode(InputRejected):
    code = "anti_phishing.invalid"
    message = "Use 4 to 20 letters and digits (A-Z, a-z, 0-9), with no spaces."


class NoticeNotMutable(InputRejected):
    code = "notices.not_mutable"
    message = "That notice cannot be muted."


class UnknownHistoryEntry(InputRejected):
    code = "history.unknown_entry"
    message = "That is not an entry of your login history."


class FactorNameRequired(InputRejected):
    code = "factor.name_required"
    message = "Give the key a name."


class RecoveryCodeActionRequired(InputRejected):
    code = "recovery_code.action_required"
    message = 'Send {"method": "recovery_code", "action": "regenerate"}.'


class UnknownCapability(InputRejected):
    code = "capability.unknown"
    message = "There is no capability of that name."


class ReservationKeyInvalid(InputRejected):
    code = "limits.invalid_key"
    message = "The reservation key must be 1 to 128 printable ASCII characters."


class AmountInvalid(InputRejected):
    code = "amount.invalid"
    message = "The amount must be a decimal number written as a string, such as \"250.00\"."


class AmountNotPositive(AmountInvalid):
    code = "amount.not_positive"
    message = "The amount must be more than zero."


class AmountTooPrecise(AmountInvalid):
    code = "amount.too_precise"
    message = "The amount has more decimal places than allowed."


class AmountTooLarge(AmountInvalid):
    code = "amount.too_large"
    message = "The amount is larger than any allowed."


class CodeError(KeepgateError):
    code = "code.error"


class InvalidCode(CodeError):
    code = "code.invalid"
    message = "That code is not correct."


class MalformedCode(InvalidCode):
    code = "code.malformed"
    message = "Enter the code with all its digits."


class CodeNotSent(CodeError):
    code = "code.not_sent"
    message = "Ask for a code first."


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


class NotFound(KeepgateError):
    code = "not_found"
    message = "Not found."


class AccountNotFound(NotFound):
    code = "account.not_found"
    message = "There is no account with that id."


class SessionNotFound(NotFound):
    code = "session.not_found"
    message = "There is no active session with that id on your account."


class DeviceNotFound(NotFound):
    code = "device.not_found"
    message = "There is no such trusted device on your account."


class FactorError(KeepgateError):
    code = "factor.error"


class FactorNotFound(FactorError, NotFound):
    code = "factor.not_found"
    message = "There is no such sign-in method on your account."


class FactorUnavailable(FactorError):
    code = "factor.unavailable"
    message = "That method cannot be set up on this account."


class FactorAlreadyEnrolled(FactorUnavailable):
    code = "factor.already_enrolled"
    message = "This method is already set up."


class PasskeysUnavailable(FactorUnavailable):
    code = "webauthn.unavailable"
    message = ("Passkeys cannot work at this address: browsers refuse them at an IP address. "
               "Open this site by its name (in development, localhost instead of 127.0.0.1).")


class LastFactor(FactorError):
    code = "factor.last_factor"
    message = ("This is your only second factor. Add another one before removing it: an "
               "account that has two-factor sign-in cannot go back to a password alone.")


class InvalidFactorResponse(FactorError):
    code = "factor.invalid_response"
    message = "The security key's answer could not be verified. Try again."


class WebAuthnChallengeExpired(InvalidFactorResponse):
    code = "webauthn.challenge_expired"
    message = "The security key request expired. Try again."


class TotpNotStarted(FactorError):
    code = "totp.not_started"
    message = "Ask for a new authenticator secret first."


class InvalidCredentials(KeepgateError):
    code = "login.invalid_credentials"
    message = "The identifier or password is not correct."


class RegistrationConflict(KeepgateError):
    code = "registration.identifier_taken"
    message = "An account with this address already exists. Sign in instead."


class AuthenticationRequired(KeepgateError):
    code = "auth.required"
    message = "Sign in to continue."


class ServiceClientUnauthenticated(AuthenticationRequired):
    """No credentials, malformed ones, an unknown client, a wrong, replaced or revoked secret:
    one answer for all, so that a caller learns nothing about which it was."""

    code = "service_client.unauthenticated"
    message = "Authenticate as a service client (HTTP Basic or a bearer secret)."


class StepUpRequired(KeepgateError):
    code = "step_up_required"
    message = ("Confirm it is you with your second factor first: start a step_up flow "
               "(POST /api/v1/flows/step_up) and come back within 5 minutes.")

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, details={"step_up": {"start": "POST /api/v1/flows/step_up",
                                                       "page": "/account/step-up",
                                                       "valid_for_seconds": 300}})


class StrongFactorRequired(StepUpRequired):
    """Only an email code was proven recently: step up with a strong factor."""

    code = "strong_factor_required"
    message = ("An email code alone cannot approve this: confirm it is you with your "
               "authenticator app, passkey, text-message code or a recovery code (start a "
               "step_up flow, POST /api/v1/flows/step_up) and come back within 5 minutes.")


class SecondFactorRequired(KeepgateError):
    """The account has no factor strong enough for security changes: enrol one first."""

    code = "second_factor_required"
    message = ("Set up an authenticator app, a passkey or text-message codes first: security "
               "changes need one.")

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, details={"enrol": {"page": "/account/security",
                                                     "start": "POST /api/v1/flows/settings"}})


class FreshSignInRequired(KeepgateError):
    code = "fresh_sign_in_required"
    message = "For your security, sign in again before changing your sign-in methods."


class AccessDenied(KeepgateError):
    """Refused by ``domain.access.authorize`` for a reason other than step-up or a stale sign-in;
    ``details["reasons"]`` names them."""

    code = "access.denied"
    message = "This action is not allowed."


class LimitError(KeepgateError):
    code = "limits.error"
    message = "The limit could not be reserved."


class LimitExceeded(LimitError):
    """``details`` say what is left (a string amount) and in which currency."""

    code = "limits.exceeded"
    message = "This amount is over what your limits leave for now."


class NotLimited(LimitError):
    code = "limits.not_limited"
    message = "This capability moves no money and has no limit to reserve."


class ReservationKeyConflict(LimitError):
    code = "limits.key_conflict"
    message = "This key was already used for a different amount or capability."


class ReservationNotFound(LimitError):
    code = "limits.reservation_not_found"
    message = "There is no reservation with this key on this account."


class ReservationExpired(LimitError):
    code = "limits.reservation_expired"
    message = "This reservation lapsed before it was committed; reserve again."


class ReservationSettled(LimitError):
    code = "limits.reservation_settled"
    message = "This reservation was already settled the other way."
class ScopeRequired(KeepgateError):
    """A service client authenticated, but was not granted the scope this route needs."""

    code = "service_client.scope_required"
    message = "This service client was not granted the scope this request needs."


class SecurityConflict(KeepgateError):
    code = "security.conflict"
    message = ("Your security settings were changed in another window or device meanwhile. "
               "Reload them and try again; nothing was changed.")


class Throttled(KeepgateError):
    code = "throttle.too_many_attempts"
    message = "Too many attempts from your network. Wait a few minutes and try again."


class CaptchaRequired(KeepgateError):
    code = "captcha.required"
    message = "Please complete the check that you are not a robot."


class CsrfRejected(KeepgateError):
    code = "csrf.invalid"
    message = "This form has expired or was not sent by Keepgate. Reload the page and try again."
