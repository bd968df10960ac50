"""Service tests run on SQLite only: a fresh migrated database per test and a store on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from keepgate.adapters.sql.engine import make_engine
from keepgate.adapters.sql.store import SqlStore


@pytest.fixture
def backend() -> str:
    """Overrides the root fixture: the storage contract runs on PostgreSQL elsewhere."""
    return "sqlite"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore(make_engine(database_url))
    yield store
    await store.close()
