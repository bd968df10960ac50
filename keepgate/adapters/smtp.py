"""Email over real SMTP (aiosmtplib). ``smtp://`` (STARTTLS when offered) or ``smtps://``."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib

from keepgate.services.ports import OutboxMessage


class SmtpSender:
    def __init__(self, url: str, mail_from: str, timeout: float = 20.0, *,
                 require_tls: bool = False) -> None:
        self._require_tls = require_tls
        parts = urlsplit(url)
        self._host = parts.hostname or "localhost"
        self._implicit_tls = parts.scheme == "smtps"
        self._port = parts.port or (465 if self._implicit_tls else 25)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._from = mail_from
        self._timeout = timeout

    def build(self, message: OutboxMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._from
        email["To"] = message.destination
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(domain="keepgate")
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(message.body)
        return email

    async def send(self, message: OutboxMessage) -> None:
        await aiosmtplib.send(
            self.build(message), hostname=self._host, port=self._port,
            username=self._username, password=self._password, use_tls=self._implicit_tls,
            # In production STARTTLS is mandatory: a server that does not offer it (or a
            # downgrade in the middle) fails the delivery, which the outbox retries.
            start_tls=False if self._implicit_tls else (True if self._require_tls else None),
            timeout=self._timeout,
        )
