"""Background upkeep: delete long-expired flows and old counters (unknown identifiers, sends)."""

from __future__ import annotations

import logging
from datetime import timedelta

from keepgate.services.clock import Clock
from keepgate.services.ports import Store

log = logging.getLogger("keepgate.maintenance")
FLOWS_KEPT = timedelta(days=1)  # after expiry, for support questions about a failed flow
ATTEMPTS_KEPT = timedelta(days=1)


class Maintenance:
    def __init__(self, *, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def run_once(self) -> tuple[int, int]:
        async with self._store.unit_of_work(write=True) as uow:
            flows, attempts = await uow.housekeeping.purge(
                self._clock.now(), flows_after=FLOWS_KEPT, attempts_after=ATTEMPTS_KEPT)
        if flows or attempts:
            log.info("maintenance: purged %s expired flows and %s old counters", flows, attempts)
        return flows, attempts
