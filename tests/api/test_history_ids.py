"""Login-history ids are opaque, not the global audit sequence (issue 8, #19)."""

from __future__ import annotations

import re

import httpx
import pytest

from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.identifiers import parse_identifier
from keepgate.wiring import Keepgate
from tests.api.test_security_pages import ID as PAGES_ID
from tests.api.test_security_pages import signed_up_and_in
from tests.conftest import bearer, register, sign_in

pytestmark = pytest.mark.anyio


async def test_history_ids_do_not_reveal_the_audit_sequence(client: httpx.AsyncClient,
                                                            kg: Keepgate) -> None:
    await register(client, kg, "first@example.com")
    await register(client, kg, "second@example.com")
    token = await sign_in(client, "second@example.com")
    await sign_in(client, "second@example.com")
    page = (await client.get("/api/v1/security/login-history?limit=1",
                             headers=bearer(token))).json()
    entry_id = page["entries"][0]["id"]
    async with kg.store.unit_of_work(write=False) as uow:
        sequence = [record.seq for record in await uow.audit.read()]
    assert isinstance(entry_id, str) and len(entry_id) == 22
    assert entry_id not in {str(n) for n in sequence}
    assert page["next_before"] == entry_id  # the id is what comes back as the cursor
    rest = (await client.get(f"/api/v1/security/login-history?before={entry_id}",
                             headers=bearer(token))).json()
    assert len(rest["entries"]) == 1 and rest["entries"][0]["id"] != entry_id


async def test_another_accounts_history_id_is_refused(client: httpx.AsyncClient,
                                                      kg: Keepgate) -> None:
    await register(client, kg, "first@example.com")
    await register(client, kg, "second@example.com")
    first = await sign_in(client, "first@example.com")
    second = await sign_in(client, "second@example.com")
    theirs = (await client.get("/api/v1/security/login-history",
                               headers=bearer(first))).json()["entries"][0]["id"]
    refused = await client.get(f"/api/v1/security/login-history?before={theirs}",
                               headers=bearer(second))
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "history.unknown_entry"


async def test_the_history_page_links_with_an_opaque_cursor(client: httpx.AsyncClient,
                                                            kg: Keepgate) -> None:
    await signed_up_and_in(client, kg)
    async with kg.store.unit_of_work(write=True) as uow:
        account = await uow.accounts.find(parse_identifier(PAGES_ID))
        assert account is not None
        for _ in range(21):
            await uow.audit.append(AuditEvent(EventKind.LOGIN, Outcome.SUCCESS, account.id,
                                              "203.0.113.7", "test", {}), kg.clock.now())
    page = await client.get("/account/security/history")
    cursor = re.search(r"history\?before=([^\"&]+)", page.text)
    assert cursor is not None and len(cursor.group(1)) == 22
    assert not cursor.group(1).isdigit()
    older = await client.get(f"/account/security/history?before={cursor.group(1)}")
    assert older.status_code == 200 and "Signed in" in older.text
