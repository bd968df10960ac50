"""The sign-in page's second factors, passkey form and CAPTCHA over ASGI: whatever is posted,
the page answers with the flow's current state and the error announced, never a 500."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import httpx
import pytest

from keepgate.security.captcha import solve_for_tests
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import current_code, enrol_totp
from tests.conftest import DEVICES, PASSWORD, register, sign_in

pytestmark = pytest.mark.anyio
ID = "factor.pages@example.com"
CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
ALERT = 'role="alert"'


def csrf_of(text: str) -> str:
    match = CSRF_RE.search(text)
    assert match, "page has no CSRF field"
    return match.group(1)


async def open_login(client: httpx.AsyncClient) -> tuple[str, httpx.Response]:
    start = await client.get("/login")
    assert start.status_code == 303, start.text
    page = await client.get(start.headers["location"])
    assert page.status_code == 200
    return start.headers["location"], page


async def post(client: httpx.AsyncClient, url: str, page: httpx.Response,
               **fields: str) -> httpx.Response:
    return await client.post(url, data={"csrf_token": csrf_of(page.text), **fields})


async def test_passkey_form_and_garbage_answers(client: httpx.AsyncClient, kg: Keepgate) -> None:
    url, page = await open_login(client)
    form = re.search(r'<form[^>]*id="passkey-sign-in"[^>]*data-options="([^"]+)"', page.text)
    assert form, page.text
    options = json.loads(html.unescape(form.group(1)))
    assert options["userVerification"] == "required" and options["challenge"]
    assert 'data-webauthn="get"' in page.text and 'name="credential"' in page.text
    assert "webauthn.js" in page.text and "<altcha-widget" not in page.text

    for credential in ("not json", "[1, 2]", '{"id": 5}', "{}", '{"id": "AAAA", "rawId": '
                       '"AAAA", "type": "public-key", "response": {}}', "x" * 10_000):
        answer = await post(client, url, page, method="webauthn", credential=credential)
        assert answer.status_code == 400, (credential[:20], answer.text)
        assert ALERT in answer.text and "factor.invalid_response" in answer.text
        assert 'id="password-sign-in"' in answer.text  # still the sign-in form
    for method in ("", "totp", "device_code", "nonsense"):
        answer = await post(client, url, page, method=method, code="123456")
        assert 400 <= answer.status_code < 500, (method, answer.status_code)
        assert ALERT in answer.text and 'id="password-sign-in"' in answer.text


async def test_second_factor_forms_survive_every_mistake(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    secret, codes = await enrol_totp(client, await sign_in(client, ID), clock)
    client.cookies.set("keepgate_device", DEVICES[ID])  # the registering device: trusted
    url, page = await open_login(client)
    after = await post(client, url, page, method="password", identifier=ID, password=PASSWORD)
    assert after.status_code == 303 and after.headers["location"] == url
    second = await client.get(url)
    assert 'id="totp"' in second.text and "Try another way" in second.text
    assert f'href="?flow={url.split("=")[1]}&amp;method=recovery_code"' in second.text

    # Not enrolled, not a method, not the state's method: refused before any counting.
    for method in ("webauthn", "password", "sms_code"):
        answer = await post(client, url, second, method=method, credential="{}",
                            action="send")
        assert answer.status_code in (400, 403, 409), (method, answer.status_code)
        assert ALERT in answer.text and 'id="totp"' in answer.text  # the default form
    # A wrong recovery code comes back on the recovery-code form, marked.
    answer = await client.post(f"{url}&method=recovery_code", data={
        "csrf_token": csrf_of(second.text), "method": "recovery_code", "code": "nope"})
    assert answer.status_code == 400 and ALERT in answer.text
    assert re.search(r'id="recovery-code"[^>]*aria-invalid="true"', answer.text)
    answer = await post(client, url, second, method="totp", code="12ab56")
    assert answer.status_code == 400 and re.search(r'id="totp"[^>]*aria-invalid="true"',
                                                   answer.text)
    # "Try another way" after an error shows the other form without the stale error.
    other = await client.get(f"{url}&method=recovery_code")
    assert 'id="recovery-code"' in other.text and ALERT not in other.text

    clock.advance(timedelta(seconds=30))  # the enrolment used this step's code
    done = await post(client, url, second, method="totp", code=current_code(secret, clock))
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert codes  # (recovery codes came with the factor)


async def test_the_captcha_field_reaches_the_password_method(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, ID)
    for _ in range(3):  # from a device the account has never seen
        url, page = await open_login(client)
        wrong = await post(client, url, page, method="password", identifier=ID,
                           password="not the password at all")
        assert wrong.status_code == 401
    url, page = await open_login(client)
    demanded = await post(client, url, page, method="password", identifier=ID,
                          password=PASSWORD)
    assert demanded.status_code == 400 and "captcha.required" in demanded.text
    widgets = re.findall(r'<altcha-widget name="captcha" auto="onload" challenge="([^"]+)"',
                         demanded.text)
    assert len(widgets) == 1  # one widget; the passkey form copies its answer
    assert 'name="captcha" value="" data-captcha-from="password-sign-in"' in demanded.text
    solution = solve_for_tests(json.loads(html.unescape(widgets[0])))
    passed = await post(client, url, demanded, method="password", identifier=ID,
                        password=PASSWORD, captcha=solution)
    assert passed.status_code == 303, passed.text  # on to the new-device code
    assert passed.headers["location"] == url
