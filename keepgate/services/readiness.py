"""Readiness: can this instance serve requests right now?

Each check (the database, Redis when configured) runs concurrently under a short timeout, so
a load balancer's probe answers quickly even when a dependency hangs. The answer names each
check and, for a failed one, only the kind of failure: the full error goes to the log, not to
whoever can reach the probe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

log = logging.getLogger("keepgate.readiness")

Check = Callable[[], Awaitable[object]]
READY = "ok"


class Readiness:
    def __init__(self, checks: Mapping[str, Check], *, timeout_seconds: float = 2.0) -> None:
        self._checks = dict(checks)
        self._timeout = timeout_seconds

    async def report(self) -> dict[str, str]:
        """Each check's name and ``"ok"``, or what went wrong."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(name) for name in names))
        return dict(zip(names, results, strict=True))

    async def _run(self, name: str) -> str:
        try:
            await asyncio.wait_for(self._checks[name](), self._timeout)
        except TimeoutError:
            log.warning("readiness: %s did not answer within %s s", name, self._timeout)
            return f"timed out after {self._timeout:g} s"
        except Exception as exc:  # any failure of a dependency means "not ready"
            log.warning("readiness: %s failed: %r", name, exc)
            return f"failed: {type(exc).__name__}"
        return READY
