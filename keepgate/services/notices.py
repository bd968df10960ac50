"""Putting messages in the outbox: every email and SMS goes through here and the renderer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from keepgate.domain.identifiers import Identifier
from keepgate.services.messages import MessageRenderer
from keepgate.services.ports import UnitOfWork


class Notifier:
    def __init__(self, renderer: MessageRenderer) -> None:
        self.renderer = renderer

    async def enqueue(self, uow: UnitOfWork, to: Identifier, template: str,
                      params: Mapping[str, Any], now: datetime) -> None:
        """Render and enqueue in the caller's transaction: sent only if the change commits."""
        rendered = self.renderer.render(template, to, params)
        await uow.outbox.enqueue(rendered.channel, rendered.destination, rendered.template,
                                 rendered.subject, rendered.body, now)
