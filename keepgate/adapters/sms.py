"""SMS through an HTTP gateway: ``POST {"to": "+…", "text": "…"}`` as JSON; 2xx means accepted."""

from __future__ import annotations

import httpx

from keepgate.services.ports import OutboxMessage


class WebhookSmsSender:
    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self._url = url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(timeout=timeout, headers=headers)

    async def send(self, message: OutboxMessage) -> None:
        response = await self._client.post(self._url, json={"to": message.destination,
                                                            "text": message.body})
        response.raise_for_status()

    async def close(self) -> None:
        await self._client.aclose()


class DevelopmentSink:
    """Development without SMTP or a gateway: the message stays readable at /dev/messages."""

    async def send(self, message: OutboxMessage) -> None:
        return None
