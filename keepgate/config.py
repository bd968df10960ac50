"""Typed settings, read once at the edge from ``KEEPGATE_*`` environment variables.

Production fails closed: it refuses to start on a placeholder or short secret key, without
SMTP, or with a public URL that is not HTTPS, and names every such problem at once. Loosening a
baseline number below its floor starts with a loud warning, said once per start-up: ``keepgate
serve`` announces the settings and its workers read them again without a word.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from keepgate.domain.kyc import DEFAULT_POLICY, PolicyProblems, TierPolicy, tier_policy_from_mapping
from keepgate.domain.policy import CodePolicy, FlowPolicy, PasswordPolicy, Policies
from keepgate.domain.sessions import SessionPolicy
from keepgate.security.passwords import FLOOR_MEMORY_KIB, FLOOR_TIME_COST, HashParams

log = logging.getLogger("keepgate.config")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/keepgate.db"
DEV_SECRET = "development-only-secret-key-do-not-use-in-production"  # noqa: S105 (refused in production)
PLACEHOLDERS = {"", "changeme", "change-me", "change_me", "secret", "placeholder", "xxx",
                "your-secret-key", DEV_SECRET}
MIN_SECRET_LENGTH = 32
# Set by ``keepgate serve`` once it has announced the settings' warnings, so that the app
# factory in each worker process reads the same settings without repeating them.
ANNOUNCED = "KEEPGATE_SETTINGS_ANNOUNCED"


_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class ConfigError(Exception):
    """The configuration is unsafe or malformed; the service does not start.

    ``problems`` lists every problem found, so an operator fixes them in one pass.
    """

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        if len(self.problems) == 1:
            super().__init__(self.problems[0])
        else:
            super().__init__(f"{len(self.problems)} problems:\n" +
                             "\n".join(f"  - {problem}" for problem in self.problems))


class Secret:
    """Hides itself in reprs and logs (after Starlette's ``Secret``)."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


class _Environment:
    """Reads ``KEEPGATE_*`` variables, noting every malformed one instead of stopping at it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self._env.get(f"KEEPGATE_{name}")
        return value if value not in (None, "") else default

    def whole(self, name: str, default: int, *, minimum: int = 0) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"KEEPGATE_{name} must be a whole number, not {raw!r}")
            return default
        if value < minimum:
            self.problems.append(f"KEEPGATE_{name} must be at least {minimum}")
            return default
        return value

    def networks(self, name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        found = []
        for item in (self.text(name) or "").split(","):
            if item.strip():
                try:
                    found.append(ipaddress.ip_network(item.strip(), strict=False))
                except ValueError:
                    self.problems.append(f"KEEPGATE_{name}: {item.strip()!r} is not an IP "
                                         "address or network")
        return tuple(found)


@dataclass(frozen=True, slots=True)
class Brand:
    """How the operator's product presents itself to customers: pages, emails and SMS.

    "Keepgate" is only the default; customers see whatever name the operator sets.
    """

    name: str = "Keepgate"
    logo_url: str | None = None  # an image URL (or /static path) shown beside the name
    favicon_url: str | None = None
    colour: str = "#1f5fbf"  # the primary brand colour, #rrggbb
    support_email: str | None = None
    terms_url: str | None = None  # when unset, the built-in /terms page
    privacy_url: str | None = None


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
    public_url: str = "http://localhost:8000"  # from_env derives it from HOST and PORT
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
    # A bearer token for /metrics; the endpoint does not exist while this is unset.
    metrics_token: Secret | None = None
    brand: Brand = field(default_factory=Brand)
    # KYC tiers, their capabilities and limits: from KEEPGATE_POLICY_FILE, else the default.
    policy_file: str | None = None
    tier_policy: TierPolicy = DEFAULT_POLICY

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

    @property
    def passkeys_available(self) -> bool:
        """Browsers refuse an IP address as a passkey's relying-party id: at such an address
        passkeys cannot work, so they are not offered."""
        return not _is_ip_address(urlsplit(self.public_url).hostname or "")

    def policies(self) -> Policies:
        return Policies(
            password=PasswordPolicy(), codes=CodePolicy(),
            flows=FlowPolicy(),
            sessions=SessionPolicy(idle_timeout=timedelta(minutes=self.session_idle_minutes),
                                   absolute_timeout=timedelta(hours=self.session_absolute_hours)),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, announce: bool = True) -> Settings:
        """Read and check the settings; ``announce`` logs the warnings (once per start-up).

        Raises one ``ConfigError`` naming every problem found.
        """
        read = _Environment(env)
        mode = read.text("ENV", "development") or "development"
        if mode not in ("development", "production"):
            read.problems.append("KEEPGATE_ENV must be 'development' or 'production'")
        sms_token = read.text("SMS_WEBHOOK_TOKEN")
        metrics_token = read.text("METRICS_TOKEN")
        host = read.text("HOST", "127.0.0.1") or "127.0.0.1"
        port = read.whole("PORT", 8000, minimum=1)
        public_url = read.text("PUBLIC_URL") or default_public_url(host, port)
        policy_file = read.text("POLICY_FILE")
        tier_policy = read_tier_policy(policy_file, read.problems) if policy_file else (
            DEFAULT_POLICY)
        settings = cls(
            env=mode,
            policy_file=policy_file,
            tier_policy=tier_policy,
            host=host,
            port=port,
            workers=read.whole("WORKERS", 1, minimum=1),
            database_url=read.text("DATABASE_URL", DEFAULT_DATABASE_URL) or DEFAULT_DATABASE_URL,
            redis_url=read.text("REDIS_URL"),
            smtp_url=read.text("SMTP_URL"),
            mail_from=read.text("MAIL_FROM", cls.mail_from) or cls.mail_from,
            sms_webhook_url=read.text("SMS_WEBHOOK_URL"),
            sms_webhook_token=Secret(sms_token) if sms_token else None,
            public_url=public_url.rstrip("/"),
            secret_key=Secret(read.text("SECRET_KEY", DEV_SECRET) or DEV_SECRET),
            trusted_proxies=read.networks("TRUSTED_PROXIES"),
            max_body_bytes=read.whole("MAX_BODY_BYTES", 16 * 1024, minimum=1024),
            hash_params=HashParams(
                memory_kib=read.whole("ARGON2_MEMORY_KIB", FLOOR_MEMORY_KIB, minimum=8),
                time_cost=read.whole("ARGON2_TIME_COST", FLOOR_TIME_COST, minimum=1),
                parallelism=read.whole("ARGON2_PARALLELISM", 1, minimum=1),
            ),
            session_idle_minutes=read.whole("SESSION_IDLE_MINUTES", 30, minimum=1),
            session_absolute_hours=read.whole("SESSION_ABSOLUTE_HOURS", 12, minimum=1),
            encryption_keys=tuple(Secret(k.strip()) for k in
                                  (read.text("ENCRYPTION_KEYS", "") or "").split(",")
                                  if k.strip()),
            captcha_max_number=read.whole("CAPTCHA_MAX_NUMBER", 10_000, minimum=1),
            geoip_db=read.text("GEOIP_DB"),
            allow_removing_last_factor=(read.text("ALLOW_REMOVING_LAST_FACTOR", "false")
                                        or "false").lower() in ("1", "true", "yes"),
            pwned_range_url=read.text("PWNED_RANGE_URL"),
            metrics_token=Secret(metrics_token) if metrics_token else None,
            brand=Brand(
                name=read.text("BRAND_NAME") or Brand().name,
                logo_url=read.text("BRAND_LOGO_URL"),
                favicon_url=read.text("BRAND_FAVICON_URL"),
                colour=read.text("BRAND_COLOUR") or Brand().colour,
                support_email=read.text("SUPPORT_EMAIL"),
                terms_url=read.text("TERMS_URL"),
                privacy_url=read.text("PRIVACY_URL"),
            ),
        )
        problems = read.problems + settings.problems()
        if problems:
            raise ConfigError(problems)
        if announce:
            settings.announce()
        return settings

    def check(self) -> None:
        """Refuse unsafe or malformed settings, naming every problem in one ``ConfigError``."""
        problems = self.problems()
        if problems:
            raise ConfigError(problems)

    def problems(self) -> list[str]:
        """Every reason these settings must not run; empty when they may."""
        problems = [f"KEEPGATE_{name} must look like {schemes[0]}://host:port"
                    for name, url, schemes in (
                        ("SMTP_URL", self.smtp_url, ("smtp", "smtps")),
                        ("SMS_WEBHOOK_URL", self.sms_webhook_url, ("http", "https")),
                        ("PUBLIC_URL", self.public_url, ("http", "https")),
                        ("PWNED_RANGE_URL", self.pwned_range_url, ("https", "http")))
                    if url and (urlsplit(url).scheme not in schemes
                                or not urlsplit(url).hostname)]
        if any(not _valid_key(secret) for secret in self.encryption_keys):
            problems.append("each KEEPGATE_ENCRYPTION_KEYS entry must be 32 bytes, base64 "
                            "(python3 -c 'import os,base64; "
                            "print(base64.b64encode(os.urandom(32)).decode())')")
        if not _HEX_COLOUR.fullmatch(self.brand.colour):
            problems.append("KEEPGATE_BRAND_COLOUR must be a #rrggbb colour, e.g. #1f5fbf")
        problems.extend(f"KEEPGATE_{name} must be an https:// URL or a /path on this site"
                        for name, url in (("BRAND_LOGO_URL", self.brand.logo_url),
                                          ("BRAND_FAVICON_URL", self.brand.favicon_url),
                                          ("TERMS_URL", self.brand.terms_url),
                                          ("PRIVACY_URL", self.brand.privacy_url))
                        if url and not (url.startswith("https://") or
                                        (url.startswith("/") and not url.startswith("//"))))
        if self.brand.support_email and not _EMAIL.fullmatch(self.brand.support_email):
            problems.append("KEEPGATE_SUPPORT_EMAIL must be an email address")
        if self.metrics_token and len(self.metrics_token.reveal()) < MIN_SECRET_LENGTH:
            problems.append(f"KEEPGATE_METRICS_TOKEN must be at least {MIN_SECRET_LENGTH} "
                            "characters")
        if self.production:
            problems.extend(self._production_problems())
        return problems

    def _production_problems(self) -> list[str]:
        problems = []
        key = self.secret_key.reveal()
        if key.strip().lower() in PLACEHOLDERS or len(key) < MIN_SECRET_LENGTH:
            problems.append(
                "KEEPGATE_SECRET_KEY is a placeholder or shorter than "
                f"{MIN_SECRET_LENGTH} characters; generate one with "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`")
        if not self.smtp_url:
            problems.append("production needs KEEPGATE_SMTP_URL: account mail must go out")
        if not self.public_url.startswith("https://"):
            problems.append("production needs an https:// KEEPGATE_PUBLIC_URL")
        if not self.encryption_keys:
            problems.append("production needs KEEPGATE_ENCRYPTION_KEYS for secrets at rest")
        return problems

    def warnings(self) -> list[str]:
        """Settings that run, but below the security baseline: said loudly at start-up."""
        warnings = []
        if not self.production and self.secret_key.reveal() == DEV_SECRET:
            warnings.append("development mode on the public development secret: never expose "
                            "this instance (set KEEPGATE_ENV=production and real secrets)")
        if self.hash_params.below_floor():
            warnings.append(f"Argon2 parameters {self.hash_params} are BELOW the security "
                            "baseline (m=19 MiB, t=2): acceptable for tests only")
        if self.session_idle_minutes > 30 or self.session_absolute_hours > 12:
            warnings.append(f"session timeouts ({self.session_idle_minutes} min idle, "
                            f"{self.session_absolute_hours} h absolute) are looser than the "
                            "baseline (30 min, 12 h)")
        if not self.passkeys_available:
            warnings.append(f"KEEPGATE_PUBLIC_URL {self.public_url} is an IP address: browsers "
                            "refuse passkeys there, so they are not offered; use a host name "
                            f"(http://localhost:{self.port} in development)")
        return warnings

    def announce(self) -> None:
        for warning in self.warnings():
            log.warning("!!! %s !!!", warning)


def read_tier_policy(path: str, problems: list[str]) -> TierPolicy:
    """The tier policy in the TOML file at ``path``; every problem with it is added to
    ``problems`` (and the built-in policy returned, so the other settings are still checked)."""
    where = f"KEEPGATE_POLICY_FILE ({path})"
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        problems.append(f"{where} cannot be read: {error.strerror or error}")
        return DEFAULT_POLICY
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{where} is not valid TOML: {error}")
        return DEFAULT_POLICY
    try:
        return tier_policy_from_mapping(data)
    except PolicyProblems as error:
        problems.extend(f"{where}: {problem}" for problem in error.problems)
        return DEFAULT_POLICY


def default_public_url(host: str, port: int) -> str:
    """Where people reach a server listening on ``host:port`` when no ``PUBLIC_URL`` says:
    ``localhost`` for a loopback or every-interface address (a host name passkeys accept)."""
    address = ipaddress.ip_address(host) if _is_ip_address(host) else None
    if host == "localhost" or (address is not None and (address.is_loopback
                                                        or address.is_unspecified)):
        name = "localhost"
    else:
        name = f"[{host}]" if ":" in host else host
    return f"http://{name}:{port}"


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _valid_key(secret: Secret) -> bool:
    try:
        return len(base64.b64decode(secret.reveal(), validate=True)) == 32
    except ValueError:
        return False
