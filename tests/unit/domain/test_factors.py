"""keepgate.domain: bans, trusted devices, factors and the defence numbers of the baseline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.factors import (
    FACTOR_LABELS,
    FACTOR_PREFERENCE,
    RECOVERY_CODE,
    DefencePolicy,
    Factor,
    FactorKind,
    TrustedDevice,
    removes_last_strong_factor,
)
from keepgate.domain.sessions import AAL, assurance_level

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def account(**changes: object) -> Account:
    fields: dict[str, object] = {
        "id": "acct-1", "email": "jane.doe@example.com", "phone": None, "password_hash": "h",
        "status": AccountStatus.RESTRICTED, "kyc_tier": 0, "created_at": T0}
    fields.update(changes)
    return Account(**fields)  # type: ignore[arg-type]


def device(**changes: object) -> TrustedDevice:
    fields: dict[str, object] = {
        "id": "dev-1", "account_id": "acct-1", "token_hash": "0" * 64, "created_at": T0,
        "expires_at": T0 + timedelta(days=30), "last_used_at": T0, "ip": "203.0.113.7",
        "user_agent": "Firefox"}
    fields.update(changes)
    return TrustedDevice(**fields)  # type: ignore[arg-type]


# --- Account.banned ---------------------------------------------------------------------------


def test_never_banned_without_a_ban() -> None:
    assert not account().banned(T0)
    assert not account(failed_logins=99).banned(T0)


def test_ban_boundaries() -> None:
    until = T0 + timedelta(hours=1)
    banned = account(banned_until=until)
    assert banned.banned(T0)
    assert banned.banned(until - US)
    assert not banned.banned(until)  # the ban ends exactly at banned_until
    assert not banned.banned(until + US)


def test_a_ban_in_the_past_is_over() -> None:
    assert not account(banned_until=T0 - US).banned(T0)


def test_a_lock_is_not_a_ban() -> None:
    """'This wasn't me' locks until recovery; ``banned`` answers only for the timed ban."""
    locked = account(locked_at=T0)
    assert not locked.banned(T0 + timedelta(days=365))
    assert locked.locked_at == T0


# --- TrustedDevice.usable ---------------------------------------------------------------------


def test_device_usable_until_it_expires() -> None:
    trusted = device()
    assert trusted.usable(T0)
    assert trusted.usable(trusted.expires_at - US)
    assert not trusted.usable(trusted.expires_at)
    assert not trusted.usable(trusted.expires_at + timedelta(days=1))


def test_revoked_device_is_not_usable() -> None:
    revoked = device(revoked_at=T0 + timedelta(minutes=1))
    assert not revoked.usable(T0)  # revoked is revoked, whatever the clock says
    assert not revoked.usable(T0 + timedelta(days=1))


def test_a_banned_device_is_still_a_known_device() -> None:
    """A ban pauses sign-in from the device; it does not forget it (so the owner keeps it)."""
    banned = device(banned_until=T0 + timedelta(hours=1), failed_logins=5)
    assert banned.usable(T0)


# --- factors ----------------------------------------------------------------------------------


def test_factor_counts_only_once_confirmed() -> None:
    pending = Factor(id="f1", account_id="acct-1", kind=FactorKind.TOTP, label="App",
                     created_at=T0)
    assert not pending.active
    confirmed = Factor(id="f1", account_id="acct-1", kind=FactorKind.TOTP, label="App",
                       created_at=T0, confirmed_at=T0)
    assert confirmed.active


def test_every_factor_kind_has_a_label_and_a_place_in_the_preference() -> None:
    assert set(FACTOR_LABELS) == set(FactorKind)
    assert all(label.strip() for label in FACTOR_LABELS.values())
    assert set(FACTOR_PREFERENCE) == {k.value for k in FactorKind} | {RECOVERY_CODE}
    assert len(FACTOR_PREFERENCE) == len(set(FACTOR_PREFERENCE))
    assert FACTOR_PREFERENCE[0] == "webauthn"
    assert FACTOR_PREFERENCE[-1] == RECOVERY_CODE


# --- the defence numbers are the security baseline --------------------------------------------


def test_default_defence_policy_matches_security_baseline() -> None:
    policy = DefencePolicy()
    assert policy.max_failures == 5
    assert policy.ban == timedelta(hours=1)
    assert policy.captcha_after == 3
    assert policy.ip_failures == 20
    assert policy.ip_window == timedelta(minutes=10)
    assert policy.signups_per_ip == 10
    assert policy.step_up_window == timedelta(minutes=5)
    assert policy.sign_in_code_lifetime == timedelta(minutes=5)
    assert policy.webauthn_challenge_lifetime == timedelta(minutes=5)
    assert policy.captcha_after < policy.max_failures


# --- assurance levels with second factors -----------------------------------------------------


@pytest.mark.parametrize(
    ("methods", "level"),
    [
        (("passkey",), AAL.AAL2),  # user-verifying passkey: two factors in one
        (("password",), AAL.AAL1),
        (("password", "totp"), AAL.AAL2),
        (("totp",), AAL.AAL1),  # a second factor alone is not two factors
        (("recovery_code",), AAL.AAL1),
        (("sms_code",), AAL.AAL1),
        (("webauthn",), AAL.AAL1),  # a security key alone, without user verification
        (("password", "sms_code"), AAL.AAL2),
        (("password", "email_code"), AAL.AAL2),
        (("password", "recovery_code"), AAL.AAL2),
        (("password", "webauthn"), AAL.AAL2),
        (("passkey", "device_code"), AAL.AAL2),
    ],
)
def test_assurance_level_with_second_factors(methods: tuple[str, ...], level: AAL) -> None:
    assert assurance_level(methods) is level


def _factor(kind: FactorKind, factor_id: str | None = None) -> Factor:
    return Factor(id=factor_id or kind.value, account_id="acc-1", kind=kind, label="",
                  created_at=datetime(2026, 1, 1, tzinfo=UTC),
                  confirmed_at=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(("kinds", "removing", "last"), [
    ((FactorKind.TOTP, FactorKind.EMAIL_CODE), FactorKind.TOTP, True),
    ((FactorKind.TOTP,), FactorKind.TOTP, True),
    ((FactorKind.TOTP, FactorKind.WEBAUTHN), FactorKind.TOTP, False),
    ((FactorKind.SMS_CODE, FactorKind.EMAIL_CODE), FactorKind.SMS_CODE, True),
    ((FactorKind.TOTP, FactorKind.EMAIL_CODE), FactorKind.EMAIL_CODE, False),
    ((FactorKind.EMAIL_CODE,), FactorKind.EMAIL_CODE, False),
])
def test_removing_the_last_strong_factor(kinds: tuple[FactorKind, ...], removing: FactorKind,
                                         last: bool) -> None:
    factors = [_factor(k) for k in kinds]
    target = next(f for f in factors if f.kind is removing)
    assert removes_last_strong_factor(factors, target) is last
