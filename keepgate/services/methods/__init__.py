"""Flow methods as strategies, one module per way of proving something.

Each module exposes a *check* any flow can reuse (``verify_password``, ``verify_totp``,
``verify_sent_code``, ``verify_recovery_code``, ``verify_assertion``): it returns nothing
useful to test or raises, so no caller can forget a boolean. The classes the runner drives
(sign-in, step-up, enrolment, registration) are thin adapters over these checks.

    password        sign-in's and registration's password
    totp            authenticator-app codes: check, second factor, enrolment
    sent_code       codes we deliver by SMS or email, and registration's address code
    recovery_code   single-use recovery codes: check, second factor, regeneration
    webauthn        passkeys and security keys: assertion check, second factor, passwordless
                    sign-in, enrolment
    device_code     the new-device confirmation
    contact         changing the account's email address or phone number
    reset           the forgotten-password flow: identifier, reset code, second factor
                    (sign-in's checks), new password
    attempts        reserving, refusing and settling a sign-in attempt (shared by sign-in)
    second_factor   the shape every second factor shares in sign-in and step-up
    enrolment       the shape every settings-flow method shares
"""

from keepgate.services.methods.base import (
    CodeSubmission,
    FactorSubmission,
    IdentifierSubmission,
    Method,
    NewPasswordSubmission,
    PasswordSubmission,
    Submission,
)

__all__ = ["CodeSubmission", "FactorSubmission", "IdentifierSubmission", "Method",
           "NewPasswordSubmission", "PasswordSubmission", "Submission"]
