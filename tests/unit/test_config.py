"""keepgate.config: Settings.from_env fails closed in production."""

from __future__ import annotations

import base64
import logging

import pytest

from keepgate.config import DEV_SECRET, ConfigError, Secret, Settings
from keepgate.security.passwords import HashParams

STRONG_SECRET = "q3VZ8r0b1n-Hk2vW7xY4pL9sT6mN5cJ0aE8dF1gQ"
KEY_NEW = base64.b64encode(bytes(range(32))).decode()
KEY_OLD = base64.b64encode(bytes(range(100, 132))).decode()
PROD = {
    "KEEPGATE_ENV": "production",
    "KEEPGATE_SECRET_KEY": STRONG_SECRET,
    "KEEPGATE_SMTP_URL": "smtp://mail.internal:587",
    "KEEPGATE_PUBLIC_URL": "https://keepgate.example",
    "KEEPGATE_ENCRYPTION_KEYS": KEY_NEW,
}


def prod(**changes: str | None) -> dict[str, str]:
    env = dict(PROD)
    for key, value in changes.items():
        name = f"KEEPGATE_{key}"
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_empty_environment_is_development_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.env == "development"
    assert not settings.production
    assert settings.port == 8000
    assert settings.hash_params == HashParams()
    assert settings.secret_key.reveal() == DEV_SECRET
    assert settings.dev_outbox is True
    assert settings.secure_cookies is False


def test_valid_production() -> None:
    settings = Settings.from_env(PROD)
    assert settings.production
    assert settings.secure_cookies
    assert settings.dev_outbox is False
    assert settings.secret_key.reveal() == STRONG_SECRET
    assert settings.public_url == "https://keepgate.example"
    assert [k.reveal() for k in settings.encryption_keys] == [KEY_NEW]


@pytest.mark.parametrize(
    "secret",
    [None, "", "changeme", "secret", "placeholder", DEV_SECRET, f"  {DEV_SECRET.upper()}  ",
     "x" * 31, " " * 40],
)
def test_production_refuses_placeholder_or_short_secret(secret: str | None) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env(prod(SECRET_KEY=secret))


def test_production_accepts_a_32_character_secret() -> None:
    assert Settings.from_env(prod(SECRET_KEY="k" * 31 + "Z")).production


def test_production_refuses_missing_smtp() -> None:
    with pytest.raises(ConfigError, match="SMTP"):
        Settings.from_env(prod(SMTP_URL=None))
    with pytest.raises(ConfigError, match="SMTP"):
        Settings.from_env(prod(SMTP_URL=""))


@pytest.mark.parametrize("url", [None, "http://keepgate.example", "http://127.0.0.1:8000"])
def test_production_refuses_non_https_public_url(url: str | None) -> None:
    with pytest.raises(ConfigError, match="https"):
        Settings.from_env(prod(PUBLIC_URL=url))


@pytest.mark.parametrize(
    ("name", "value"),
    [("SMTP_URL", "http://mail:25"), ("SMTP_URL", "mail.example.com"),
     ("SMS_WEBHOOK_URL", "ftp://sms.example"), ("PUBLIC_URL", "https://"),
     ("PUBLIC_URL", "keepgate.example")],
)
def test_malformed_urls_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({f"KEEPGATE_{name}": value})


@pytest.mark.parametrize(
    "name",
    ["PORT", "WORKERS", "MAX_BODY_BYTES", "ARGON2_MEMORY_KIB", "ARGON2_TIME_COST",
     "ARGON2_PARALLELISM", "SESSION_IDLE_MINUTES", "SESSION_ABSOLUTE_HOURS"],
)
@pytest.mark.parametrize("value", ["abc", "8000x", "1.5", "0x10", "ten"])
def test_malformed_integers_raise_config_error(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"KEEPGATE_{name}"):
        Settings.from_env({f"KEEPGATE_{name}": value})


@pytest.mark.parametrize(("name", "value"), [("PORT", "0"), ("WORKERS", "0"),
                                             ("MAX_BODY_BYTES", "10"), ("PORT", "-1"),
                                             ("ARGON2_TIME_COST", "0")])
def test_integers_below_minimum_raise_config_error(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"KEEPGATE_{name}"):
        Settings.from_env({f"KEEPGATE_{name}": value})


def test_integers_are_read() -> None:
    settings = Settings.from_env({"KEEPGATE_PORT": "9001", "KEEPGATE_SESSION_IDLE_MINUTES": "15",
                                  "KEEPGATE_ARGON2_MEMORY_KIB": "65536"})
    assert settings.port == 9001
    assert settings.session_idle_minutes == 15
    assert settings.policies().sessions.idle_timeout.total_seconds() == 15 * 60
    assert settings.hash_params.memory_kib == 65536


def test_unknown_env_mode_refused() -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({"KEEPGATE_ENV": "staging"})


def test_bad_trusted_proxy_refused() -> None:
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        Settings.from_env({"KEEPGATE_TRUSTED_PROXIES": "10.0.0.0/8, not-an-ip"})
    settings = Settings.from_env({"KEEPGATE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"})
    assert len(settings.trusted_proxies) == 2


def test_weak_hash_params_warn_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="keepgate.config"):
        Settings.from_env({"KEEPGATE_ARGON2_MEMORY_KIB": "8", "KEEPGATE_ARGON2_TIME_COST": "1"})
    assert any("BELOW" in r.getMessage() for r in caplog.records)


def test_baseline_params_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="keepgate.config"):
        Settings.from_env({"KEEPGATE_SECRET_KEY": STRONG_SECRET})
    assert caplog.records == []


def test_the_development_secret_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="keepgate.config"):
        Settings.from_env({})
    assert ["development secret" in r.getMessage() for r in caplog.records] == [True]


# --- Secret -----------------------------------------------------------------------------------


def test_secret_never_shows_its_value() -> None:
    secret = Secret(STRONG_SECRET)
    assert STRONG_SECRET not in repr(secret)
    assert STRONG_SECRET not in str(secret)
    assert STRONG_SECRET not in f"{secret}"
    assert STRONG_SECRET not in f"{secret!r}"
    assert secret.reveal() == STRONG_SECRET


def test_settings_repr_hides_secrets() -> None:
    settings = Settings.from_env({**PROD, "KEEPGATE_SMS_WEBHOOK_URL": "https://sms.example/hook",
                                  "KEEPGATE_SMS_WEBHOOK_TOKEN": "sms-token-abcdef-123456",
                                  "KEEPGATE_ENCRYPTION_KEYS": f"{KEY_NEW},{KEY_OLD}"})
    text = repr(settings)
    assert STRONG_SECRET not in text
    assert KEY_NEW not in text
    assert KEY_OLD not in text
    assert len(settings.encryption_keys) == 2
    assert "sms-token-abcdef-123456" not in text
    assert settings.sms_webhook_token is not None
    assert settings.sms_webhook_token.reveal() == "sms-token-abcdef-123456"


# --- dev outbox -------------------------------------------------------------------------------


def test_dev_outbox_only_in_development_without_delivery() -> None:
    assert Settings.from_env({}).dev_outbox is True
    assert Settings.from_env({"KEEPGATE_SMTP_URL": "smtp://localhost:1025"}).dev_outbox is False
    assert Settings.from_env(
        {"KEEPGATE_SMS_WEBHOOK_URL": "https://sms.example/hook"}).dev_outbox is False
    assert Settings.from_env(PROD).dev_outbox is False
    # Even a production object that skipped the checks never offers the outbox.
    assert Settings(env="production").dev_outbox is False


# --- encryption keys (secrets at rest) --------------------------------------------------------


def test_production_refuses_missing_encryption_keys() -> None:
    for missing in (None, "", " , ,"):
        with pytest.raises(ConfigError, match="ENCRYPTION_KEYS"):
            Settings.from_env(prod(ENCRYPTION_KEYS=missing))


def test_development_runs_without_encryption_keys() -> None:
    assert Settings.from_env({}).encryption_keys == ()


def test_encryption_keys_are_read_in_order_and_trimmed() -> None:
    settings = Settings.from_env(prod(ENCRYPTION_KEYS=f" {KEY_NEW} ,{KEY_OLD},"))
    assert [k.reveal() for k in settings.encryption_keys] == [KEY_NEW, KEY_OLD]
    assert all(isinstance(k, Secret) for k in settings.encryption_keys)
    assert len(base64.b64decode(settings.encryption_keys[0].reveal())) == 32


@pytest.mark.parametrize(
    "value",
    [
        base64.b64encode(b"k" * 31).decode(),  # 31 bytes
        base64.b64encode(b"k" * 33).decode(),  # 33 bytes
        base64.b64encode(b"k" * 16).decode(),  # AES-128 is not enough
        "not base64 at all!",
        "k" * 32,  # 32 characters, not 32 bytes
        f"{KEY_NEW},short",  # one bad key spoils the ring
    ],
)
@pytest.mark.parametrize("env", ["development", "production"])
def test_malformed_encryption_keys_are_refused(value: str, env: str) -> None:
    with pytest.raises(ConfigError, match="ENCRYPTION_KEYS"):
        Settings.from_env({**PROD, "KEEPGATE_ENV": env, "KEEPGATE_ENCRYPTION_KEYS": value})


def test_encryption_keys_never_appear_in_error_messages() -> None:
    bad = base64.b64encode(b"s" * 31).decode()
    with pytest.raises(ConfigError) as info:
        Settings.from_env(prod(ENCRYPTION_KEYS=f"{KEY_NEW},{bad}"))
    assert KEY_NEW not in str(info.value)
    assert bad not in str(info.value)


# --- captcha difficulty -----------------------------------------------------------------------


def test_captcha_max_number_default_and_override() -> None:
    default = Settings().captcha_max_number
    assert default >= 1_000  # a proof of work that costs something
    assert Settings.from_env({}).captcha_max_number == default  # one default, not two
    assert Settings.from_env({"KEEPGATE_CAPTCHA_MAX_NUMBER": ""}).captcha_max_number == default
    tuned = Settings.from_env({"KEEPGATE_CAPTCHA_MAX_NUMBER": "250000"})
    assert tuned.captcha_max_number == 250_000


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1e5"])
def test_captcha_max_number_must_be_a_positive_whole_number(value: str) -> None:
    with pytest.raises(ConfigError, match="KEEPGATE_CAPTCHA_MAX_NUMBER"):
        Settings.from_env({"KEEPGATE_CAPTCHA_MAX_NUMBER": value})


# --- every problem at once, warnings once ----------------------------------------------------


def test_production_names_every_problem_at_once() -> None:
    env = {"KEEPGATE_ENV": "production", "KEEPGATE_PORT": "eighty",
           "KEEPGATE_TRUSTED_PROXIES": "not-an-ip", "KEEPGATE_PUBLIC_URL": "http://k.example",
           "KEEPGATE_ENCRYPTION_KEYS": "short"}
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    problems = info.value.problems
    for name in ("KEEPGATE_PORT", "KEEPGATE_TRUSTED_PROXIES", "KEEPGATE_SECRET_KEY",
                 "KEEPGATE_SMTP_URL", "https:// KEEPGATE_PUBLIC_URL", "KEEPGATE_ENCRYPTION_KEYS"):
        assert sum(name in problem for problem in problems) == 1, (name, problems)
    assert str(info.value).startswith(f"{len(problems)} problems:\n  - ")


def test_a_single_problem_reads_as_one_sentence() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"KEEPGATE_PORT": "0"})
    assert str(info.value) == "KEEPGATE_PORT must be at least 1"
    assert info.value.problems == ("KEEPGATE_PORT must be at least 1",)


def test_settings_read_without_announcing_say_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="keepgate.config"):
        settings = Settings.from_env({}, announce=False)
    assert caplog.records == []
    assert [("development secret" in w) for w in settings.warnings()] == [True]


def test_metrics_token_is_a_secret_of_some_length() -> None:
    with pytest.raises(ConfigError, match="KEEPGATE_METRICS_TOKEN"):
        Settings.from_env({"KEEPGATE_METRICS_TOKEN": "short"})
    settings = Settings.from_env({"KEEPGATE_METRICS_TOKEN": STRONG_SECRET})
    assert settings.metrics_token is not None
    assert STRONG_SECRET not in repr(settings)
    assert Settings.from_env({}).metrics_token is None


# --- the public address -----------------------------------------------------------------------


def test_public_url_defaults_to_localhost_on_the_configured_port() -> None:
    """Served on another port, links and the start-up line must not point at :8000; and the
    default host is ``localhost``, because browsers refuse an IP as a passkey's relying party."""
    assert Settings.from_env({}).public_url == "http://localhost:8000"
    assert Settings.from_env({"KEEPGATE_PORT": "8123"}).public_url == "http://localhost:8123"
    assert Settings().public_url == "http://localhost:8000"


def test_public_url_default_follows_a_named_host() -> None:
    env = {"KEEPGATE_HOST": "keepgate.internal", "KEEPGATE_PORT": "9000"}
    assert Settings.from_env(env).public_url == "http://keepgate.internal:9000"


def test_an_explicit_public_url_wins_over_host_and_port() -> None:
    env = {"KEEPGATE_PORT": "8123", "KEEPGATE_PUBLIC_URL": "https://id.example/"}
    assert Settings.from_env(env).public_url == "https://id.example"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://[::1]:8000",
                                 "http://192.0.2.7"])
def test_an_ip_address_as_public_url_warns_that_passkeys_cannot_work(
        url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="keepgate.config"):
        settings = Settings.from_env({"KEEPGATE_SECRET_KEY": STRONG_SECRET,
                                      "KEEPGATE_PUBLIC_URL": url})
    assert not settings.passkeys_available
    assert any("passkeys" in r.getMessage() and "IP address" in r.getMessage()
               for r in caplog.records)


def test_a_host_name_keeps_passkeys_on() -> None:
    assert Settings.from_env({}).passkeys_available


def test_the_brand_comes_from_the_environment_and_defaults_to_keepgate():
    assert Settings.from_env({}, announce=False).brand.name == "Keepgate"
    brand = Settings.from_env({
        "KEEPGATE_BRAND_NAME": "Acme Exchange", "KEEPGATE_BRAND_COLOUR": "#0a7d3e",
        "KEEPGATE_BRAND_LOGO_URL": "https://cdn.acme.example/logo.svg",
        "KEEPGATE_SUPPORT_EMAIL": "help@acme.example",
        "KEEPGATE_TERMS_URL": "https://acme.example/terms",
        "KEEPGATE_PRIVACY_URL": "/privacy",
    }, announce=False).brand
    assert (brand.name, brand.colour, brand.support_email, brand.privacy_url) == (
        "Acme Exchange", "#0a7d3e", "help@acme.example", "/privacy")
    assert brand.logo_url == "https://cdn.acme.example/logo.svg"


def test_every_malformed_brand_setting_is_named_at_once():
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({
            "KEEPGATE_BRAND_COLOUR": "blue", "KEEPGATE_BRAND_LOGO_URL": "javascript:alert(1)",
            "KEEPGATE_TERMS_URL": "//evil.example/terms", "KEEPGATE_SUPPORT_EMAIL": "nobody",
        }, announce=False)
    problems = "\n".join(raised.value.problems)
    for name in ("BRAND_COLOUR", "BRAND_LOGO_URL", "TERMS_URL", "SUPPORT_EMAIL"):
        assert f"KEEPGATE_{name}" in problems
