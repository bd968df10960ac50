"""The composition root: turns ``Settings`` into a running set of services."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from keepgate.adapters.metrics import PrometheusMetrics
from keepgate.adapters.pwned_range import PwnedRange
from keepgate.adapters.ratelimit import LimitsWindowCounters
from keepgate.adapters.replay import MemoryReplayGuard, RedisReplayGuard
from keepgate.adapters.sms import DevelopmentSink, WebhookSmsSender
from keepgate.adapters.smtp import SmtpSender
from keepgate.adapters.sql.engine import make_engine
from keepgate.adapters.sql.store import SqlStore
from keepgate.config import Settings
from keepgate.domain.factors import DefencePolicy
from keepgate.domain.policy import Policies
from keepgate.security.captcha import CaptchaIssuer
from keepgate.security.codes import CodeDigester
from keepgate.security.csrf import CsrfTokens
from keepgate.security.keyring import KeyRing
from keepgate.security.keys import derive_key
from keepgate.security.link_tokens import LinkSigner
from keepgate.security.opaque_ids import OpaqueIds
from keepgate.security.passwords import PasswordHasher
from keepgate.security.recovery_codes import RecoveryCodeHasher
from keepgate.security.service_secrets import ServiceSecretHasher
from keepgate.security.webauthn import relying_party_from_public_url
from keepgate.services.access import AccessService
from keepgate.services.account import AccountServices
from keepgate.services.account.devices import DeviceService
from keepgate.services.account.factors import FactorService
from keepgate.services.account.history import Geolocator, LoginHistory
from keepgate.services.account.notices import NoticeSettings
from keepgate.services.account.overview import SecurityOverview
from keepgate.services.account.password import PasswordService
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.account.takeover import TakeoverReports
from keepgate.services.admin import AdminService
from keepgate.services.captcha import CaptchaGate
from keepgate.services.clock import Clock, SystemClock
from keepgate.services.decisions import DecisionService
from keepgate.services.defences import SignInDefences
from keepgate.services.flows import FlowService
from keepgate.services.hashing import AsyncPasswordHasher
from keepgate.services.limits import LimitService
from keepgate.services.maintenance import Maintenance
from keepgate.services.messages import MessageRenderer
from keepgate.services.methods import Method
from keepgate.services.methods.attempts import SignInAttempts
from keepgate.services.methods.contact import ContactMethod
from keepgate.services.methods.device_code import DeviceCodeCheck, NewDeviceCodes
from keepgate.services.methods.password import PasswordSignIn, RegistrationPassword
from keepgate.services.methods.recovery_code import RecoveryCodeCheck, RecoveryCodeRegeneration
from keepgate.services.methods.reset import (
    NewPassword,
    RecoveryCode,
    RecoveryFinish,
    RecoveryIdentifier,
    RecoveryWebAuthnCheck,
    ResetAttempts,
    ResetCodes,
)
from keepgate.services.methods.second_factor import Finish, SignInFinish, StepUpFinish
from keepgate.services.methods.sent_code import (
    EmailCodeCheck,
    EmailCodeEnrolment,
    RegistrationCode,
    SentCodes,
    SmsCodeCheck,
    SmsCodeEnrolment,
)
from keepgate.services.methods.totp import TotpCheck, TotpEnrolment
from keepgate.services.methods.webauthn import (
    Challenges,
    UserHandles,
    WebAuthnCheck,
    WebAuthnEnrolment,
)
from keepgate.services.metrics import CountedSolutions, OutboxStatus
from keepgate.services.notices import Notifier
from keepgate.services.outbox import OutboxPolicy, OutboxWorker
from keepgate.services.ports import (
    MessageSender,
    ReplayGuard,
)
from keepgate.services.readiness import Check, Readiness
from keepgate.services.send_budget import SendBudget
from keepgate.services.service_clients import ServiceClients
from keepgate.services.sessions import SessionService
from keepgate.services.throttle import Throttle


def _async(close: Any) -> Any:
    async def closer() -> None:
        close()

    return closer


@dataclass
class Keepgate:
    settings: Settings
    store: SqlStore
    clock: Clock
    flows: FlowService
    sessions: SessionService
    access: AccessService
    outbox: OutboxWorker
    csrf: CsrfTokens
    defences: SignInDefences
    captcha: CaptchaGate
    hasher: AsyncPasswordHasher
    keyring: KeyRing
    account: AccountServices
    maintenance: Maintenance
    metrics: PrometheusMetrics
    outbox_status: OutboxStatus
    readiness: Readiness
    admin: AdminService
    limits: LimitService
    decisions: DecisionService
    service_clients: ServiceClients
    _closers: tuple[Any, ...] = ()

    async def close(self) -> None:
        await self.service_clients.flush()  # the introspections counted since the last minute
        for closer in self._closers:
            await closer()
        await self.store.close()


def build(settings: Settings, *, clock: Clock | None = None,
          defence_policy: DefencePolicy | None = None) -> Keepgate:
    clock = clock or SystemClock()
    master = settings.secret_key.reveal().encode()
    metrics = PrometheusMetrics()
    store = SqlStore(make_engine(settings.database_url), metrics)
    checks: dict[str, Check] = {"database": store.ping}
    policies = settings.policies()
    range_check = PwnedRange(settings.pwned_range_url).seen if settings.pwned_range_url else None
    defence = defence_policy or DefencePolicy(
        allow_removing_last_factor=settings.allow_removing_last_factor)
    # Each worker process hashes on its share of the CPUs: two workers each running
    # cpu_count hashes at once would starve both event loops.
    hasher = AsyncPasswordHasher(PasswordHasher(settings.hash_params),
                                 concurrency=max(1, (os.cpu_count() or 1) // settings.workers))
    digester = CodeDigester(derive_key(master, "one-time-codes"))
    renderer = MessageRenderer(settings.public_url)
    notifier = Notifier(renderer)
    closers: list[Any] = []

    guard: ReplayGuard
    if settings.redis_url:
        import redis.asyncio as aioredis

        pool = aioredis.ConnectionPool.from_url(settings.redis_url)
        client = aioredis.Redis(connection_pool=pool)
        counters = LimitsWindowCounters.on_redis(settings.redis_url, pool)
        guard = RedisReplayGuard(client)
        checks["redis"] = client.ping
        closers.append(pool.aclose)
    else:
        counters = LimitsWindowCounters.in_memory()
        guard = MemoryReplayGuard(clock.now)
    throttle = Throttle(counters, defence, derive_key(master, "throttle-keys"))
    defences = SignInDefences(store=store, clock=clock, throttle=throttle, policy=defence,
                              notifier=notifier)
    captcha = CaptchaGate(
        issuer=CaptchaIssuer(derive_key(master, "captcha"), max_number=settings.captcha_max_number,
                             lifetime=timedelta(minutes=10)),
        guard=CountedSolutions(guard, metrics), throttle=throttle, clock=clock)
    keys = [base64.b64decode(k.reveal()) for k in settings.encryption_keys] or [
        derive_key(master, "secrets-at-rest")]
    keyring = KeyRing(keys)
    budget = SendBudget(store=store, clock=clock, key=derive_key(master, "send-budgets"),
                        limit=policies.codes.max_sends_per_hour)
    recovery = RecoveryCodeHasher(derive_key(master, "recovery-codes"))
    relying_party = relying_party_from_public_url(settings.public_url)
    links = LinkSigner(derive_key(master, "signed-links"))
    reauth = PasswordReauth(store=store, clock=clock, hasher=hasher, defences=defences)
    methods = _methods(
        store=store, hasher=hasher, keyring=keyring, recovery=recovery, captcha=captcha,
        throttle=throttle, defences=defences, policies=policies, range_check=range_check,
        reauth=reauth,
        codes=SentCodes(digester=digester, policy=policies.codes, budget=budget),
        device_codes=NewDeviceCodes(digester=digester, digits=policies.codes.digits,
                                    lifetime=defence.sign_in_code_lifetime, signer=links,
                                    public_url=settings.public_url),
        challenges=Challenges(relying_party, defence.webauthn_challenge_lifetime),
        handles=UserHandles(derive_key(master, "webauthn-user-handle")))
    geolocator: Geolocator | None = None
    if settings.geoip_db:
        from keepgate.adapters.geoip import MaxMindGeolocator

        geolocator = MaxMindGeolocator(settings.geoip_db)
        closers.append(_async(geolocator.close))

    senders: dict[str, MessageSender] = {}
    if settings.smtp_url:
        senders["email"] = SmtpSender(settings.smtp_url, settings.mail_from,
                                      require_tls=settings.production)
    if settings.sms_webhook_url:
        token = settings.sms_webhook_token.reveal() if settings.sms_webhook_token else None
        sms = WebhookSmsSender(settings.sms_webhook_url, token)
        senders["sms"] = sms
        closers.append(sms.close)
    if settings.dev_outbox:
        senders = {"email": DevelopmentSink(), "sms": DevelopmentSink()}
    access = AccessService(store=store, clock=clock, policy=defence, counters=counters,
                           tiers=settings.tier_policy)
    sessions = SessionService(store=store, clock=clock, policy=policies.sessions, access=access)
    return Keepgate(
        settings=settings, store=store, clock=clock,
        flows=FlowService(store=store, clock=clock, methods=methods, notifier=notifier,
                          policies=policies, defences=defence, recovery=recovery,
                          access=access, signer=links, public_url=settings.public_url,
                          captcha=captcha),
        sessions=sessions, access=access,
        outbox=OutboxWorker(store=store, clock=clock, senders=senders,
                            policy=OutboxPolicy(keep_bodies=settings.dev_outbox)),
        csrf=CsrfTokens(derive_key(master, "csrf")),
        defences=defences, captcha=captcha, hasher=hasher, keyring=keyring,
        account=AccountServices(
            overview=SecurityOverview(store=store, clock=clock),
            password=PasswordService(store=store, clock=clock, hasher=hasher, reauth=reauth,
                                     notifier=notifier, password_policy=policies.password,
                                     access=access, range_check=range_check),
            factors=FactorService(store=store, clock=clock, policy=defence, notifier=notifier,
                                  access=access),
            devices=DeviceService(store=store, clock=clock, access=access),
            notices=NoticeSettings(store=store, clock=clock, notifier=notifier, access=access),
            history=LoginHistory(store=store, geolocator=geolocator,
                                 ids=OpaqueIds(derive_key(master, "login-history-ids"))),
            takeover=TakeoverReports(store=store, clock=clock, notifier=notifier,
                                     links=links, access=access, spent_links=guard)),
        maintenance=Maintenance(store=store, clock=clock),
        metrics=metrics, outbox_status=OutboxStatus(store=store, clock=clock),
        readiness=Readiness(checks),
        admin=AdminService(store=store, clock=clock, keyring=keyring,
                           session_policy=policies.sessions),
        limits=LimitService(store=store, clock=clock, access=access),
        decisions=DecisionService(store=store, clock=clock, access=access,
                                  sessions=policies.sessions),
        service_clients=ServiceClients(
            store=store, clock=clock, access=access, counters=counters,
            hasher=ServiceSecretHasher(derive_key(master, "service-client-secrets"))),
        _closers=tuple(closers),
    )


def _methods(*, store: SqlStore, hasher: AsyncPasswordHasher, keyring: KeyRing,
             recovery: RecoveryCodeHasher, captcha: CaptchaGate, throttle: Throttle,
             defences: SignInDefences, policies: Policies,
             range_check: Callable[[str], bool] | None, reauth: PasswordReauth,
             codes: SentCodes,
             device_codes: NewDeviceCodes, challenges: Challenges,
             handles: UserHandles) -> list[Method]:
    """Every flow method: registration's, sign-in's, step-up's and the settings flow's.

    Each second factor serves twice, once as sign-in's second step and once as step-up's."""
    attempts = SignInAttempts(store=store, defences=defences, budget=codes.budget)
    lifetime = device_codes.lifetime

    def factor_checks(finish: Finish) -> list[Method]:
        return [
            TotpCheck(attempts, finish, keyring=keyring),
            RecoveryCodeCheck(attempts, finish, hasher=recovery, device_codes=device_codes),
            SmsCodeCheck(attempts, finish, codes=codes, lifetime=lifetime),
            EmailCodeCheck(attempts, finish, codes=codes, lifetime=lifetime),
            WebAuthnCheck(attempts, finish, challenges=challenges, handles=handles,
                          captcha=captcha, device_codes=device_codes),
        ]

    return [
        RegistrationPassword(store, hasher=hasher, codes=codes, policy=policies.password,
                             throttle=throttle, captcha=captcha, range_check=range_check),
        RegistrationCode(codes),
        PasswordSignIn(attempts, hasher=hasher, captcha=captcha, challenges=challenges,
                       device_codes=device_codes),
        DeviceCodeCheck(attempts, codes=codes, device_codes=device_codes),
        *factor_checks(SignInFinish(device_codes)),
        *factor_checks(StepUpFinish()),
        TotpEnrolment(store, reauth=reauth, keyring=keyring),
        SmsCodeEnrolment(store, reauth=reauth, codes=codes),
        EmailCodeEnrolment(store, reauth=reauth, codes=codes),
        WebAuthnEnrolment(store, reauth=reauth, relying_party=challenges.relying_party,
                          handles=handles, challenge_lifetime=challenges.lifetime),
        RecoveryCodeRegeneration(store),
        ContactMethod(store, reauth=reauth, codes=codes),
        *_recovery_methods(store=store, hasher=hasher, keyring=keyring, recovery=recovery,
                           captcha=captcha, throttle=throttle, defences=defences,
                           policies=policies, range_check=range_check, codes=codes,
                           device_codes=device_codes, challenges=challenges, handles=handles),
    ]


def _recovery_methods(*, store: SqlStore, hasher: AsyncPasswordHasher, keyring: KeyRing,
                      recovery: RecoveryCodeHasher, captcha: CaptchaGate, throttle: Throttle,
                      defences: SignInDefences, policies: Policies,
                      range_check: Callable[[str], bool] | None, codes: SentCodes,
                      device_codes: NewDeviceCodes, challenges: Challenges,
                      handles: UserHandles) -> list[Method]:
    """The forgotten-password flow's methods: its second factors are sign-in's checks, minus
    the email code (the reset code already proved the mailbox)."""
    attempts = ResetAttempts(store=store, defences=defences, budget=codes.budget)
    finish = RecoveryFinish()
    reset_codes = ResetCodes(codes)
    return [
        RecoveryIdentifier(store, codes=reset_codes, captcha=captcha),
        RecoveryCode(attempts, codes=reset_codes, throttle=throttle, challenges=challenges),
        TotpCheck(attempts, finish, keyring=keyring),
        RecoveryCodeCheck(attempts, finish, hasher=recovery, device_codes=device_codes),
        SmsCodeCheck(attempts, finish, codes=codes, lifetime=device_codes.lifetime),
        RecoveryWebAuthnCheck(attempts, finish, challenges=challenges, handles=handles,
                              captcha=captcha, device_codes=device_codes),
        NewPassword(store, hasher=hasher, policy=policies.password, range_check=range_check),
    ]
