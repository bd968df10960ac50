"""Typed settings, read once at the edge from ``KEEPGATE_*`` environment variables.

Production fails closed: it refuses to start on a placeholder or short secret key, without
SMTP, or with a public URL that is not HTTPS. Loosening a baseline number below its floor
starts with a loud warning.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from keepgate.domain.policy import CodePolicy, FlowPolicy, PasswordPolicy, Policies
from keepgate.domain.sessions import SessionPolicy
from keepgate.security.passwords import FLOOR_MEMORY_KIB, FLOOR_TIME_COST, HashParams

log = logging.getLogger("keepgate.config")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/keepgate.db"
DEV_SECRET = "development-only-secret-key-do-not-use-in-production"  # noqa: S105 (refused in production)
PLACEHOLDERS = {"", "changeme", "change-me", "change_me", "secret", "placeholder", "xxx",
                "your-secret-key", DEV_SECRET}
MIN_SECRET_LENGTH = 32


class ConfigError(Exception):
    """The configuration is unsafe or malformed; the service does not start."""


class Secret:
    """Hides itself in reprs and logs (after Starlette's ``Secret``)."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(f"KEEPGATE_{name}")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"KEEPGATE_{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"KEEPGATE_{name} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "Keepgate <no-reply@keepgate.localhost>"
    sms_webhook_url: str | None = None
    sms_webhook_token: Secret | None = None
    public_url: str = "http://127.0.0.1:8000"
    secret_key: Secret = field(default_factory=lambda: Secret(DEV_SECRET))
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    max_body_bytes: int = 16 * 1024
    hash_params: HashParams = field(default_factory=HashParams)
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    outbox_poll_seconds: float = 2.0
    run_outbox_worker: bool = True
    encryption_keys: tuple[Secret, ...] = ()  # AES-256 keys, base64; first encrypts
    # Proof-of-work difficulty: PBKDF2 (1,000 rounds) per number; 10,000 takes about 2 s in
    # headless Chromium on two cores, 5,000 about 1.2 s.
    captcha_max_number: int = 10_000
    geoip_db: str | None = None  # a MaxMind DB (.mmdb), e.g. GeoLite2-City, for locations
    allow_removing_last_factor: bool = False
    # The Have I Been Pwned range API, e.g. https://api.pwnedpasswords.com; off when unset.
    pwned_range_url: str | None = None

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        return self.production or self.public_url.startswith("https://")

    @property
    def dev_outbox(self) -> bool:
        """The /dev/messages page: development only, and only while nothing real delivers."""
        return not self.production and not self.smtp_url and not self.sms_webhook_url

    def policies(self) -> Policies:
        return Policies(
            password=PasswordPolicy(), codes=CodePolicy(),
            flows=FlowPolicy(),
            sessions=SessionPolicy(idle_timeout=timedelta(minutes=self.session_idle_minutes),
                                   absolute_timeout=timedelta(hours=self.session_absolute_hours)),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def text(name: str, default: str | None = None) -> str | None:
            value = env.get(f"KEEPGATE_{name}")
            return value if value not in (None, "") else default

        mode = text("ENV", "development")
        if mode not in ("development", "production"):
            raise ConfigError("KEEPGATE_ENV must be 'development' or 'production'")
        proxies = []
        for item in (text("TRUSTED_PROXIES", "") or "").split(","):
            if item.strip():
                try:
                    proxies.append(ipaddress.ip_network(item.strip(), strict=False))
                except ValueError:
                    raise ConfigError(f"KEEPGATE_TRUSTED_PROXIES: {item!r} is not an IP "
                                      "address or network") from None
        token = text("SMS_WEBHOOK_TOKEN")
        settings = cls(
            env=mode or "development",
            host=text("HOST", "127.0.0.1") or "127.0.0.1",
            port=_int(env, "PORT", 8000, minimum=1),
            workers=_int(env, "WORKERS", 1, minimum=1),
            database_url=text("DATABASE_URL", DEFAULT_DATABASE_URL) or DEFAULT_DATABASE_URL,
            redis_url=text("REDIS_URL"),
            smtp_url=text("SMTP_URL"),
            mail_from=text("MAIL_FROM", cls.mail_from) or cls.mail_from,
            sms_webhook_url=text("SMS_WEBHOOK_URL"),
            sms_webhook_token=Secret(token) if token else None,
            public_url=(text("PUBLIC_URL", cls.public_url) or cls.public_url).rstrip("/"),
            secret_key=Secret(text("SECRET_KEY", DEV_SECRET) or DEV_SECRET),
            trusted_proxies=tuple(proxies),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 16 * 1024, minimum=1024),
            hash_params=HashParams(
                memory_kib=_int(env, "ARGON2_MEMORY_KIB", FLOOR_MEMORY_KIB, minimum=8),
                time_cost=_int(env, "ARGON2_TIME_COST", FLOOR_TIME_COST, minimum=1),
                parallelism=_int(env, "ARGON2_PARALLELISM", 1, minimum=1),
            ),
            session_idle_minutes=_int(env, "SESSION_IDLE_MINUTES", 30, minimum=1),
            session_absolute_hours=_int(env, "SESSION_ABSOLUTE_HOURS", 12, minimum=1),
            encryption_keys=tuple(Secret(k.strip()) for k in
                                  (text("ENCRYPTION_KEYS", "") or "").split(",") if k.strip()),
            captcha_max_number=_int(env, "CAPTCHA_MAX_NUMBER", 10_000, minimum=1),
            geoip_db=text("GEOIP_DB"),
            allow_removing_last_factor=(text("ALLOW_REMOVING_LAST_FACTOR", "false") or "false"
                                        ).lower() in ("1", "true", "yes"),
            pwned_range_url=text("PWNED_RANGE_URL"),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse unsafe production settings; warn loudly about anything below the baseline."""
        for name, url, schemes in (("SMTP_URL", self.smtp_url, ("smtp", "smtps")),
                                   ("SMS_WEBHOOK_URL", self.sms_webhook_url, ("http", "https")),
                                   ("PUBLIC_URL", self.public_url, ("http", "https")),
                                   ("PWNED_RANGE_URL", self.pwned_range_url, ("https", "http"))):
            if url and (urlsplit(url).scheme not in schemes or not urlsplit(url).hostname):
                raise ConfigError(f"KEEPGATE_{name} must look like {schemes[0]}://host:port")
        if self.production:
            key = self.secret_key.reveal()
            if key.strip().lower() in PLACEHOLDERS or len(key) < MIN_SECRET_LENGTH:
                raise ConfigError(
                    "KEEPGATE_SECRET_KEY is a placeholder or shorter than "
                    f"{MIN_SECRET_LENGTH} characters; generate one with "
                    "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`")
            if not self.smtp_url:
                raise ConfigError("production needs KEEPGATE_SMTP_URL: account mail must go out")
            if not self.public_url.startswith("https://"):
                raise ConfigError("production needs an https:// KEEPGATE_PUBLIC_URL")
        for secret in self.encryption_keys:
            try:
                raw = base64.b64decode(secret.reveal(), validate=True)
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise ConfigError("each KEEPGATE_ENCRYPTION_KEYS entry must be 32 bytes, base64 "
                                  "(python3 -c 'import os,base64; "
                                  "print(base64.b64encode(os.urandom(32)).decode())')")
        if self.production and not self.encryption_keys:
            raise ConfigError("production needs KEEPGATE_ENCRYPTION_KEYS for secrets at rest")
        if not self.production and self.secret_key.reveal() == DEV_SECRET:
            log.warning("!!! development mode on the public development secret: never expose "
                        "this instance (set KEEPGATE_ENV=production and real secrets) !!!")
        if self.hash_params.below_floor():
            log.warning("!!! Argon2 parameters %s are BELOW the security baseline "
                        "(m=19 MiB, t=2): acceptable for tests only !!!", self.hash_params)
        if self.session_idle_minutes > 30 or self.session_absolute_hours > 12:
            log.warning("!!! session timeouts (%s min idle, %s h absolute) are looser than the "
                        "baseline (30 min, 12 h) !!!", self.session_idle_minutes,
                        self.session_absolute_hours)
