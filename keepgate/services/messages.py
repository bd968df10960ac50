"""The one place where every outgoing email and SMS is rendered.

Every message goes through ``MessageRenderer.render``, which is also where the account's
anti-phishing code is stamped into the message, so no template can forget it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

from keepgate.domain.identifiers import Identifier, IdentifierKind


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    subject: str
    email: str
    sms: str


TEMPLATES: dict[str, MessageTemplate] = {
    "registration_code": MessageTemplate(
        subject="Your Keepgate sign-up code",
        email=(
            "Your code to finish creating your Keepgate account is:\n\n"
            "    $code\n\n"
            "It expires in $minutes minutes. Keepgate staff will never ask you for this code.\n"
            "If you did not try to create an account, you can ignore this message."
        ),
        sms="Keepgate sign-up code: $code (valid $minutes min). Never share it with anyone.",
    ),
    "registration_attempt_existing": MessageTemplate(
        subject="Someone tried to create an account with your address",
        email=(
            "Someone just tried to create a new Keepgate account with this address, which\n"
            "already has an account. No new account was created, and none can be without access\n"
            "to this inbox.\n\n"
            "If it was you, sign in instead: $public_url/login\n"
            "If it was not you, no action is needed."
        ),
        sms=(
            "Someone tried to sign up to Keepgate with this number, which already has an "
            "account. If it was you, sign in instead. Otherwise no action is needed."
        ),
    ),
    "sign_in_code": MessageTemplate(
        subject="Your Keepgate sign-in code",
        email=("Your sign-in code is:\n\n    $code\n\nIt expires in $minutes minutes. "
               "Keepgate staff will never ask you for it.\nIf you are not signing in right "
               "now, someone has your password: change it at $public_url/login."),
        sms="Keepgate sign-in code: $code (valid $minutes min). Never share it. Not you? "
            "Change your password.",
    ),
    "factor_code": MessageTemplate(
        subject="Confirm your new sign-in method",
        email=("Your code to add this address as a sign-in method is:\n\n    $code\n\n"
               "It expires in $minutes minutes. If you did not ask for it, sign in and "
               "review your security settings."),
        sms="Keepgate code to add this number as a sign-in method: $code (valid $minutes min).",
    ),
    "device_code": MessageTemplate(
        subject="New sign-in to your Keepgate account",
        email=("Someone signed in to your account from a device we have not seen before:\n\n"
               "    Device: $device\n    IP address: $ip\n    Time: $time\n\n"
               "If it was you, enter this code to confirm the device:\n\n    $code\n\n"
               "It expires in $minutes minutes.\n\n"
               "If it was NOT you, your password is known to someone else. Sign out every "
               "device and lock sign-in now:\n$not_me_url"),
        sms=("Keepgate: new sign-in from $device ($ip). Code: $code (valid $minutes min). "
             "Not you? Lock your account: $not_me_url"),
    ),
    # A ban means sign-in attempts *failed*: the owner is sent to secure the account (change
    # the password, review sessions), not to the "this wasn't me" lock, which answers a
    # sign-in that succeeded and would lock the owner out too.
    "signin_banned": MessageTemplate(
        subject="Sign-in to your account is paused",
        email=("There were 5 failed attempts in a row to sign in to your account, the last "
               "from IP address $ip. Sign-in is paused for $minutes minutes $scope.\n\n"
               "If this was not you, someone may be guessing your password. Secure my "
               "account (sign in from a device you confirmed, then change your password and "
               "review your sessions):\n$public_url/account/security"),
        sms=("Keepgate: 5 failed sign-in attempts on your account; sign-in paused for "
             "$minutes min. Your confirmed devices still work. Not you? Secure your account: "
             "$public_url/account/security"),
    ),
    "password_changed": MessageTemplate(
        subject="Your password was changed",
        email=("Your Keepgate password was changed from $device (IP address $ip). Every other "
               "session was signed out, and withdrawals are held for 24 hours.\n\n"
               "If this was not you, recover your account now: $public_url/recover"),
        sms=("Keepgate: your password was changed; withdrawals are held for 24 h. Not you? "
             "Recover your account now: $public_url/recover"),
    ),
    "recovery_code": MessageTemplate(
        subject="Your Keepgate password reset code",
        email=("Someone, hopefully you, asked to reset the password of your Keepgate account. "
               "Your code is:\n\n    $code\n\nIt expires in $minutes minutes. Keepgate staff "
               "will never ask you for it.\nIf you did not ask for it, ignore this message: "
               "your password stays as it is."),
        sms=("Keepgate password reset code: $code (valid $minutes min). Never share it. Not "
             "you? Ignore this message."),
    ),
    "recovery_attempt_unknown": MessageTemplate(
        subject="Someone tried to recover a Keepgate account with your address",
        email=("Someone just asked to reset the password of a Keepgate account with this "
               "address, but no account uses it. If it was you, try the address or number you "
               "signed up with: $public_url/recover\nIf it was not you, no action is needed."),
        sms=("Someone tried to reset a Keepgate password with this number, but no account "
             "uses it. If it was not you, no action is needed."),
    ),
    "password_reset": MessageTemplate(
        subject="Your password was reset",
        email=("The password of your Keepgate account was reset from $device (IP address $ip). "
               "Every device was signed out, and withdrawals are held for 24 hours.\n\n"
               "If this was NOT you, sign every device out and lock sign-in now:\n$not_me_url"
               "\nThen recover your account: $public_url/recover"),
        sms=("Keepgate: your password was reset; every device was signed out and withdrawals "
             "are held for 24 h. Not you? Lock your account: $not_me_url"),
    ),
    "anti_phishing_changed": MessageTemplate(
        subject="Your anti-phishing code was changed",
        email=("Your anti-phishing code was changed. From now on, every genuine message from "
               "Keepgate shows it at the top, as this one does. A message without it is not "
               "from us."),
        sms="Keepgate: your anti-phishing code was changed. Genuine messages show it.",
    ),
    "contact_code": MessageTemplate(
        subject="Confirm your new contact details",
        email=("Your code to make this your account's email address is:\n\n    $code\n\n"
               "It expires in $minutes minutes. If you did not ask for it, ignore this message."),
        sms="Keepgate code to make this your account's number: $code (valid $minutes min).",
    ),
    "contact_confirmed": MessageTemplate(
        subject="This is now your Keepgate contact",
        email=("This address is now the email address of your Keepgate account (changed from "
               "IP address $ip). Withdrawals are held for 24 hours.\n\nIf you did not make "
               "this change, secure your account now: $public_url/login"),
        sms=("Keepgate: this is now the phone number of your account. Withdrawals are held "
             "for 24 h. Not you? Secure your account now."),
    ),
    "contact_changed": MessageTemplate(
        subject="Your contact details were changed",
        email=("The $what on your Keepgate account was changed to $new (from IP address $ip). "
               "Withdrawals are held for 24 hours.\n\nIf this was not you, undo it now; "
               "this signs out every device and locks sign-in until you recover the "
               "account:\n$undo_url"),
        sms=("Keepgate: your $what was changed to $new. Not you? Undo within 24 h: $undo_url"),
    ),
    "recovery_codes_regenerated": MessageTemplate(
        subject="New recovery codes were made for your account",
        email=("New recovery codes were made for your account (from IP address $ip); the old "
               "ones no longer work.\n\nIf this was not you, sign in and secure your account "
               "now: $public_url/login"),
        sms="Keepgate: new recovery codes were made; the old ones no longer work. Not you? "
            "Sign in now.",
    ),
    "factor_added": MessageTemplate(
        subject="A sign-in method was added to your account",
        email=("$factor was added to your account's sign-in methods (from IP address $ip)."
               "\n\nIf this was not you, sign in and secure your account now: "
               "$public_url/login"),
        sms="Keepgate: $factor was added to your sign-in methods. Not you? Sign in now.",
    ),
    "factor_removed": MessageTemplate(
        subject="A sign-in method was removed from your account",
        email=("$factor was removed from your account's sign-in methods (from IP address $ip)."
               "\n\nIf this was not you, sign in and secure your account now: "
               "$public_url/login"),
        sms="Keepgate: $factor was removed from your sign-in methods. Not you? Sign in now.",
    ),
    "session_ended": MessageTemplate(
        subject="One of your sessions was signed out",
        email=("Your account was signed in on more than $limit devices at once, so the oldest "
               "session was signed out:\n\n    Device: $device\n    IP address: $ip\n"
               "    Signed in: $signed_in\n\nIf you do not recognise every recent sign-in, "
               "review your sessions and secure your account: $public_url/account/security"),
        sms=("Keepgate: a session ($device) was signed out because your account was signed in "
             "on more than $limit devices. Not you? Review your sessions."),
    ),
    "account_locked": MessageTemplate(
        subject="Your account is locked",
        email=("As you asked, every device was signed out and sign-in to your account is "
               "locked. Nobody, you included, can sign in until the account is recovered "
               "with proof of identity. Contact support from $public_url/login."),
        sms="Keepgate: every device was signed out and sign-in is locked, as you asked.",
    ),
    "totp_replayed": MessageTemplate(
        subject="Someone reused one of your authenticator codes",
        email=("Someone who knows your password just tried to sign in with an authenticator "
               "code that was already used (from IP address $ip). It was refused.\n\n"
               "Your password is known to someone else: change it now, and check that nobody "
               "can see your authenticator app. $public_url/login"),
        sms=("Keepgate: someone with your password tried an already-used authenticator code "
             "($ip). Refused. Change your password now."),
    ),
    "passkey_cloned": MessageTemplate(
        subject="A copy of one of your security keys was used",
        email=("Your sign-in method \"$factor\" answered a sign-in from IP address $ip with an "
               "out-of-date counter: the key, or the passkey's secret, has been copied. The "
               "sign-in was refused.\n\nRemove \"$factor\" from your sign-in methods and add "
               "a new one: $public_url/login"),
        sms=("Keepgate: a copy of your sign-in method \"$factor\" was used ($ip) and refused. "
             "Remove it and add a new one."),
    ),
    "recovery_code_used": MessageTemplate(
        subject="A recovery code was used on your account",
        email=("One of your recovery codes was just used in place of your second factor (from "
               "IP address $ip); $left are left. Withdrawals are held for 24 hours.\n\n"
               "If it was you, set your second factor up again and make new recovery codes "
               "in your security settings.\n\nIf it was NOT you, someone has your password "
               "and a recovery code. Sign out every device and lock sign-in now:\n$not_me_url"),
        sms=("Keepgate: one of your recovery codes was used ($ip); $left left. Withdrawals "
             "held 24 h. Not you? Lock your account: $not_me_url"),
    ),
}


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    channel: str
    destination: str
    template: str
    subject: str
    body: str


class MessageRenderer:
    def __init__(self, public_url: str) -> None:
        self._public_url = public_url.rstrip("/")

    def render(self, template: str, to: Identifier, params: Mapping[str, Any],
               anti_phishing_code: str | None = None) -> RenderedMessage:
        spec = TEMPLATES[template]
        values = {"public_url": self._public_url, **params}
        if to.kind is IdentifierKind.EMAIL:
            body = Template(spec.email).substitute(values)
            if anti_phishing_code:
                body = f"Your anti-phishing code: {anti_phishing_code}\n\n{body}"
            body += f"\n\n--\nKeepgate · {self._public_url}"
            return RenderedMessage("email", to.value, template, spec.subject, body)
        text = Template(spec.sms).substitute(values)
        if anti_phishing_code:
            text = f"[{anti_phishing_code}] {text}"
        return RenderedMessage("sms", to.value, template, "", text)
