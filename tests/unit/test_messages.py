"""keepgate.services.messages: every template renders on both channels, with the anti-phishing
code stamped into every message when the account has one."""

from __future__ import annotations

import pytest

from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.services.messages import TEMPLATES, MessageRenderer, RenderedMessage

EMAIL = Identifier(IdentifierKind.EMAIL, "jane.doe@example.com")
PHONE = Identifier(IdentifierKind.PHONE, "+447911123456")
PARAMS = {"code": "042917", "minutes": 10}
ANTI_PHISHING = "TULIP-7Q"
PUBLIC_URL = "https://keepgate.example/"


@pytest.fixture
def renderer() -> MessageRenderer:
    return MessageRenderer(PUBLIC_URL)


def render(renderer: MessageRenderer, template: str, to: Identifier,
           anti_phishing_code: str | None = None) -> RenderedMessage:
    return renderer.render(template, to, PARAMS, anti_phishing_code=anti_phishing_code)


def test_there_are_templates() -> None:
    assert {"registration_code", "registration_attempt_existing"} <= set(TEMPLATES)


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


@pytest.mark.parametrize("to", [EMAIL, PHONE], ids=["email", "sms"])
def test_code_message_carries_code_and_lifetime(renderer: MessageRenderer,
                                                to: Identifier) -> None:
    body = render(renderer, "registration_code", to).body
    assert "042917" in body  # leading zero kept
    assert "10 min" in body


def test_existing_account_notice_links_to_sign_in(renderer: MessageRenderer) -> None:
    body = render(renderer, "registration_attempt_existing", EMAIL).body
    assert "https://keepgate.example/login" in body
    assert "042917" not in body


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


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_no_anti_phishing_line_without_a_code(renderer: MessageRenderer, template: str) -> None:
    assert "anti-phishing" not in render(renderer, template, EMAIL).body.lower()


def test_missing_parameter_is_an_error(renderer: MessageRenderer) -> None:
    with pytest.raises(KeyError):
        renderer.render("registration_code", EMAIL, {"minutes": 10})


def test_unknown_template_is_an_error(renderer: MessageRenderer) -> None:
    with pytest.raises(KeyError):
        renderer.render("no_such_template", EMAIL, PARAMS)
