"""The composition root: turns ``Settings`` into a running set of services."""

from __future__ import annotations

from dataclasses import dataclass

from keepgate.adapters.sms import DevelopmentSink, WebhookSmsSender
from keepgate.adapters.smtp import SmtpSender
from keepgate.adapters.sql.engine import make_engine
from keepgate.adapters.sql.store import SqlStore
from keepgate.config import Settings
from keepgate.security.codes import CodeDigester
from keepgate.security.csrf import CsrfTokens
from keepgate.security.keys import derive_key
from keepgate.security.passwords import PasswordHasher
from keepgate.services.clock import Clock, SystemClock
from keepgate.services.flows import FlowService
from keepgate.services.hashing import AsyncPasswordHasher
from keepgate.services.messages import MessageRenderer
from keepgate.services.methods import Toolkit, default_methods
from keepgate.services.outbox import OutboxPolicy, OutboxWorker
from keepgate.services.ports import MessageSender
from keepgate.services.sessions import SessionService


@dataclass
class Keepgate:
    settings: Settings
    store: SqlStore
    clock: Clock
    flows: FlowService
    sessions: SessionService
    outbox: OutboxWorker
    csrf: CsrfTokens
    _sms: WebhookSmsSender | None = None

    async def close(self) -> None:
        if self._sms is not None:
            await self._sms.close()
        await self.store.close()


def build(settings: Settings, *, clock: Clock | None = None) -> Keepgate:
    clock = clock or SystemClock()
    master = settings.secret_key.reveal().encode()
    store = SqlStore(make_engine(settings.database_url))
    policies = settings.policies()
    hasher = AsyncPasswordHasher(PasswordHasher(settings.hash_params))
    tools = Toolkit(store=store, hasher=hasher,
                    digester=CodeDigester(derive_key(master, "one-time-codes")),
                    policies=policies)
    renderer = MessageRenderer(settings.public_url)
    senders: dict[str, MessageSender] = {}
    sms: WebhookSmsSender | None = None
    if settings.smtp_url:
        senders["email"] = SmtpSender(settings.smtp_url, settings.mail_from)
    if settings.sms_webhook_url:
        token = settings.sms_webhook_token.reveal() if settings.sms_webhook_token else None
        sms = WebhookSmsSender(settings.sms_webhook_url, token)
        senders["sms"] = sms
    if settings.dev_outbox:
        senders = {"email": DevelopmentSink(), "sms": DevelopmentSink()}
    return Keepgate(
        settings=settings, store=store, clock=clock,
        flows=FlowService(store=store, clock=clock, methods=default_methods(tools),
                          renderer=renderer, policies=policies),
        sessions=SessionService(store=store, clock=clock, policy=policies.sessions),
        outbox=OutboxWorker(store=store, clock=clock, senders=senders,
                            policy=OutboxPolicy(keep_bodies=settings.dev_outbox)),
        csrf=CsrfTokens(derive_key(master, "csrf")),
        _sms=sms,
    )
