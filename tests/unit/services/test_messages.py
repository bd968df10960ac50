"""keepgate.services.messages: every template renders on both channels, with the anti-phishing
code stamped into every message when the account has one, and every template gets exactly the
parameters the code that sends it passes."""

from __future__ import annotations

import ast
from pathlib import Path
from string import Template
from typing import Any

import pytest

import keepgate
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.services.messages import TEMPLATES, MessageRenderer, RenderedMessage

EMAIL = Identifier(IdentifierKind.EMAIL, "jane.doe@example.com")
PHONE = Identifier(IdentifierKind.PHONE, "+447911123456")
ANTI_PHISHING = "TULIP-7Q"
PUBLIC_URL = "https://keepgate.example/"
NOT_ME_URL = "https://keepgate.example/not-me?token=abc.def"
PACKAGE_ROOT = Path(keepgate.__file__).resolve().parent

# What the sending code passes for the templates of the second-factor work (the scan of the
# source below must find exactly these keys).
DOCUMENTED_PARAMS: dict[str, set[str]] = {
    "registration_code": {"code", "minutes"},
    "registration_attempt_existing": set(),
    "sign_in_code": {"code", "minutes"},
    "factor_code": {"code", "minutes"},
    "device_code": {"code", "minutes", "device", "ip", "time", "not_me_url"},
    "signin_banned": {"minutes", "ip", "scope"},
    "factor_removed": {"factor", "ip"},
    "account_locked": set(),
    "totp_replayed": {"ip"},
    "passkey_cloned": {"factor", "ip"},
    "recovery_code_used": {"left", "ip", "not_me_url"},
}
# Passed by the sender but not used by any wording of the template.
PASSED_BUT_UNUSED: dict[str, set[str]] = {}
SENDERS = ("SendToContact", "NotifyAccount", "enqueue", "notify_account")
SAMPLES: dict[str, Any] = {
    "code": "042917", "minutes": 10, "device": "Firefox on Linux", "ip": "203.0.113.7",
    "time": "2025-06-01 12:00 UTC", "not_me_url": NOT_ME_URL,
    "scope": "on devices you have not confirmed",
    "factor": "Authenticator app", "what": "email address", "new": "j•••@example.org",
    "undo_url": "https://keepgate.example/undo?token=abc.def",
}


def placeholders(template: str) -> set[str]:
    """Every ``$name`` either channel's wording needs, minus what the renderer supplies."""
    spec = TEMPLATES[template]
    names = {name for text in (spec.email, spec.sms)
             for name in Template(text).get_identifiers()}
    assert all(Template(text).is_valid() for text in (spec.email, spec.sms))
    return names - {"public_url"}


def sent_messages() -> list[tuple[str, str, set[str]]]:
    """(where, template, keys) for every call in keepgate/ that names a template and hands it a
    dict of parameters (``SendToContact(template, to, params)``, ``notifier.enqueue(uow, to,
    template, params, now)``, ``notify_account(uow, account, template, params, now)``): the
    parameters the code really passes."""
    found = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            args = list(node.args)
            for i, arg in enumerate(args):
                if not (isinstance(arg, ast.Constant) and arg.value in TEMPLATES):
                    continue
                where = f"{path.relative_to(PACKAGE_ROOT)}:{node.lineno}"
                later = [a for a in args[i + 1:] if isinstance(a, ast.Dict)]
                params = later[0] if later else next(
                    (kw.value for kw in node.keywords if kw.arg == "params"), None)
                if not isinstance(params, ast.Dict):
                    assert name not in SENDERS, f"{where}: params are not a dict literal"
                    continue
                keys = set()
                for key in params.keys:
                    assert isinstance(key, ast.Constant), f"{where}: computed key"
                    keys.add(str(key.value))
                found.append((where, str(arg.value), keys))
                break
    return found


SENT = sent_messages()


def passed_params(template: str) -> set[str]:
    keys = {frozenset(k) for _, t, k in SENT if t == template}
    assert len(keys) <= 1, f"{template} is sent with different parameters: {keys}"
    return set(next(iter(keys))) if keys else placeholders(template)


PARAMS: dict[str, dict[str, Any]] = {
    t: {k: SAMPLES.get(k, f"<{k}>") for k in sorted(passed_params(t))} for t in TEMPLATES}
CODE_TEMPLATES = sorted(t for t in TEMPLATES if "code" in placeholders(t))


@pytest.fixture
def renderer() -> MessageRenderer:
    return MessageRenderer(PUBLIC_URL)


def render(renderer: MessageRenderer, template: str, to: Identifier,
           anti_phishing_code: str | None = None) -> RenderedMessage:
    return renderer.render(template, to, PARAMS[template], anti_phishing_code=anti_phishing_code)


def test_there_are_templates() -> None:
    assert set(DOCUMENTED_PARAMS) <= set(TEMPLATES)
    assert {"sign_in_code", "factor_code", "device_code"} <= set(CODE_TEMPLATES)


# --- parameters: what the template needs is what the code passes -----------------------------


@pytest.mark.parametrize("template", sorted(DOCUMENTED_PARAMS))
def test_the_code_passes_the_documented_params(template: str) -> None:
    sites = [(where, keys) for where, t, keys in SENT if t == template]
    assert sites, f"nothing in keepgate/ sends {template}"
    for where, keys in sites:
        assert keys == DOCUMENTED_PARAMS[template], f"{where} passes {sorted(keys)}"


def test_every_template_is_sent_somewhere() -> None:
    assert {t for _, t, _ in SENT} == set(TEMPLATES), "a template nothing sends"


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_template_needs_exactly_what_the_code_passes(template: str) -> None:
    needed = placeholders(template)
    for where, t, passed in SENT:
        if t != template:
            continue
        assert needed <= passed, f"{where}: {template} would raise KeyError on {needed - passed}"
        assert passed - needed == PASSED_BUT_UNUSED.get(template, set()), (
            f"{where} passes {sorted(passed - needed)}, which {template} never uses")


def test_the_scanner_sees_the_known_senders() -> None:
    wheres = {where.split(":")[0] for where, _, _ in SENT}
    assert {"flows/registration.py", "services/methods/device_code.py",
            "services/methods/sent_code.py", "services/methods/contact.py",
            "services/defences.py", "services/account/factors.py"} <= wheres


@pytest.mark.parametrize(("template", "param"),
                         [(t, p) for t in sorted(TEMPLATES) for p in sorted(placeholders(t))])
def test_each_missing_parameter_is_an_error(renderer: MessageRenderer, template: str,
                                            param: str) -> None:
    params = {k: v for k, v in PARAMS[template].items() if k != param}
    spec = TEMPLATES[template]
    for to, text in ((EMAIL, spec.email), (PHONE, spec.sms)):
        if param in Template(text).get_identifiers():
            with pytest.raises(KeyError):
                renderer.render(template, to, params)


# --- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_email_rendering(renderer: MessageRenderer, template: str) -> None:
    message = render(renderer, template, EMAIL)
    assert message.channel == "email"
    assert message.destination == EMAIL.value
    assert message.template == template
    assert message.subject == TEMPLATES[template].subject
    assert message.subject.strip()
    assert message.body.strip()
    assert "$" not in message.body  # every placeholder was filled
    assert "https://keepgate.example" in message.body  # footer / links use the public URL
    assert "keepgate.example//" not in message.body


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_sms_rendering(renderer: MessageRenderer, template: str) -> None:
    message = render(renderer, template, PHONE)
    assert message.channel == "sms"
    assert message.destination == PHONE.value
    assert message.template == template
    assert message.subject == ""
    assert message.body.strip()
    assert "$" not in message.body
    assert "\n" not in message.body


@pytest.mark.parametrize("template", CODE_TEMPLATES)
@pytest.mark.parametrize("to", [EMAIL, PHONE], ids=["email", "sms"])
def test_code_message_carries_code_and_lifetime(renderer: MessageRenderer, template: str,
                                                to: Identifier) -> None:
    body = render(renderer, template, to).body
    assert "042917" in body  # leading zero kept
    assert "10 min" in body


@pytest.mark.parametrize("template", sorted(set(TEMPLATES) - set(CODE_TEMPLATES)))
@pytest.mark.parametrize("to", [EMAIL, PHONE], ids=["email", "sms"])
def test_notices_carry_no_code(renderer: MessageRenderer, template: str,
                               to: Identifier) -> None:
    assert "042917" not in render(renderer, template, to).body


def test_existing_account_notice_links_to_sign_in(renderer: MessageRenderer) -> None:
    body = render(renderer, "registration_attempt_existing", EMAIL).body
    assert "https://keepgate.example/login" in body


@pytest.mark.parametrize("to", [EMAIL, PHONE], ids=["email", "sms"])
def test_device_code_says_what_signed_in_and_how_to_stop_it(renderer: MessageRenderer,
                                                            to: Identifier) -> None:
    body = render(renderer, "device_code", to).body
    for value in ("Firefox on Linux", "203.0.113.7", NOT_ME_URL):
        assert value in body
    if to is EMAIL:
        assert "2025-06-01 12:00 UTC" in body


def test_ban_notice_says_how_long_and_from_where(renderer: MessageRenderer) -> None:
    email = render(renderer, "signin_banned", EMAIL).body
    assert "10 minutes" in email
    assert "203.0.113.7" in email
    assert "10 min" in render(renderer, "signin_banned", PHONE).body


@pytest.mark.parametrize("to", [EMAIL, PHONE])
def test_ban_notice_links_to_securing_the_account(renderer: MessageRenderer,
                                                  to: Identifier) -> None:
    body = render(renderer, "signin_banned", to).body
    assert "https://keepgate.example/account/security" in body
    if to is EMAIL:
        assert "Secure my account" in body


def test_account_locked_needs_no_params(renderer: MessageRenderer) -> None:
    assert placeholders("account_locked") == set()
    assert "locked" in renderer.render("account_locked", EMAIL, {}).body


@pytest.mark.parametrize("template", sorted(t for t in TEMPLATES if t.startswith("factor_")
                                            and "factor" in placeholders(t)))
@pytest.mark.parametrize("to", [EMAIL, PHONE], ids=["email", "sms"])
def test_factor_notices_name_the_factor(renderer: MessageRenderer, template: str,
                                        to: Identifier) -> None:
    body = render(renderer, template, to).body
    assert "Authenticator app" in body
    if to is EMAIL:
        assert "203.0.113.7" in body
        assert "https://keepgate.example/login" in body


# --- anti-phishing code -----------------------------------------------------------------------


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("to", [EMAIL, PHONE], ids=["email", "sms"])
def test_anti_phishing_code_in_every_message(renderer: MessageRenderer, template: str,
                                             to: Identifier) -> None:
    message = render(renderer, template, to, anti_phishing_code=ANTI_PHISHING)
    assert ANTI_PHISHING in message.body
    without = render(renderer, template, to)
    assert ANTI_PHISHING not in without.body
    # The rest of the message is unchanged.
    assert message.subject == without.subject
    assert message.destination == without.destination
    assert without.body in message.body


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_anti_phishing_code_comes_first(renderer: MessageRenderer, template: str) -> None:
    email = render(renderer, template, EMAIL, anti_phishing_code=ANTI_PHISHING).body
    sms = render(renderer, template, PHONE, anti_phishing_code=ANTI_PHISHING).body
    assert email.startswith(f"Your anti-phishing code: {ANTI_PHISHING}\n")
    assert sms.startswith(f"[{ANTI_PHISHING}] ")


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_no_anti_phishing_line_without_a_code(renderer: MessageRenderer, template: str) -> None:
    assert "your anti-phishing code:" not in render(renderer, template, EMAIL).body.lower()
    assert not render(renderer, template, PHONE).body.startswith("[")


def test_missing_parameter_is_an_error(renderer: MessageRenderer) -> None:
    with pytest.raises(KeyError):
        renderer.render("registration_code", EMAIL, {"minutes": 10})


def test_unknown_template_is_an_error(renderer: MessageRenderer) -> None:
    with pytest.raises(KeyError):
        renderer.render("no_such_template", EMAIL, PARAMS["registration_code"])


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_message_that_says_recover_links_to_the_recovery_pages(template: str) -> None:
    spec = TEMPLATES[template]
    for wording in (spec.email, spec.sms):
        if "recover your account" in wording.lower():
            assert "$public_url/recover" in wording, template
