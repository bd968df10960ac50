"""Without script, no dead show-password button: each toggle is rendered hidden, next to its
field, and every password field has one (issue 8, #10; the behaviour is tested in Chromium)."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("path", ["/signup", "/login"])
async def test_each_password_field_has_a_hidden_toggle(client: httpx.AsyncClient,
                                                       path: str) -> None:
    page = await client.get(path, follow_redirects=True)
    fields = re.findall(r'<input id="([a-z_]+)" name="[a-z_]+" type="password"', page.text)
    toggles = re.findall(r'<button type="button" class="reveal-password" '
                         r'aria-controls="([a-z_]+)" aria-pressed="false"[^>]*hidden>', page.text)
    assert fields and toggles == fields
    assert '<script type="module" src="http://testserver/static/reveal.js"></script>' in page.text
