"""Prometheus metrics (``prometheus_client``), correct when several worker processes serve.

With ``PROMETHEUS_MULTIPROC_DIR`` set before ``prometheus_client`` is first imported (``keepgate
serve`` prepares a fresh directory and removes it on exit), each process keeps its values in
memory-mapped files there and a scrape answered by any worker adds up every worker's values
(``MultiProcessCollector``). Without it (tests, a single process started another way) the
values live in this process's default registry.

The outbox backlog is read from the database at scrape time and reported as it is then, so no
gauge has to be merged across processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from keepgate.domain.audit import AuditEvent, EventKind
from keepgate.services.metrics import QueuedMessage
from keepgate.services.ports import OutboxBacklog

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

SIGN_INS = Counter("keepgate_sign_ins", "Completed and refused sign-ins, by outcome",
                   ["outcome"])
BANS = Counter("keepgate_bans", "Accounts banned from signing in after repeated failures")
CAPTCHAS = Counter("keepgate_captcha_challenges",
                   "Proof-of-work challenges: flows that came to demand one, solutions accepted",
                   ["event"])
MESSAGES = Counter("keepgate_messages_queued",
                   "Emails and SMS queued for delivery, by channel and template (codes are the "
                   "templates ending in _code)", ["channel", "template"])
REQUEST_SECONDS = Histogram("keepgate_request_duration_seconds",
                            "Time to answer a request, by route template",
                            ["method", "route", "status"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


class PrometheusMetrics:
    """The ``Metrics`` port: counts what committed units of work recorded."""

    def committed(self, events: Sequence[AuditEvent],
                  messages: Sequence[QueuedMessage]) -> None:
        for event in events:
            if event.kind is EventKind.LOGIN:
                SIGN_INS.labels(event.outcome.value).inc()
            elif event.kind is EventKind.BANNED:
                BANS.inc()
            elif event.kind is EventKind.CAPTCHA_DEMANDED:
                CAPTCHAS.labels("demanded").inc()
        for message in messages:
            MESSAGES.labels(message.channel, message.template).inc()

    def captcha_solved(self) -> None:
        CAPTCHAS.labels("solved").inc()

    @staticmethod
    def observe_request(method: str, route: str, status: int, seconds: float) -> None:
        REQUEST_SECONDS.labels(method, route, f"{status // 100}xx").observe(seconds)

    @staticmethod
    def exposition(backlog: OutboxBacklog, now: datetime) -> tuple[bytes, str]:
        """The text a scrape receives, and its content type."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Scrape(backlog, now))
        return generate_latest(registry), CONTENT_TYPE_LATEST


class _Scrape(Collector):
    """Every process's counters, plus the outbox as it stands now."""

    def __init__(self, backlog: OutboxBacklog, now: datetime) -> None:
        self._backlog = backlog
        self._now = now

    def collect(self) -> Iterator[Metric]:
        if os.environ.get(MULTIPROCESS_DIR):
            # prometheus_client leaves this collector without annotations
            merged = MultiProcessCollector(None)  # type: ignore[no-untyped-call]
            yield from merged.collect()  # type: ignore[no-untyped-call]
        else:
            yield from REGISTRY.collect()
        yield GaugeMetricFamily("keepgate_outbox_pending",
                                "Messages waiting for delivery (retries included)",
                                value=self._backlog.pending)
        yield GaugeMetricFamily("keepgate_outbox_oldest_pending_age_seconds",
                                "How long the oldest undelivered message has waited",
                                value=self._backlog.oldest_age_seconds(self._now))
