"""What page tests share: the form's CSRF token and following redirects as a browser would."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match
    return match.group(1)


async def follow(client: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    while response.status_code in (302, 303):
        response = await client.get(response.headers["location"])
    return response
