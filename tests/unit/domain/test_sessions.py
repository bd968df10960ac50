"""keepgate.domain.sessions: assurance levels and the idle/absolute/revocation rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from keepgate.domain.sessions import AAL, Session, SessionPolicy, assurance_level

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
POLICY = SessionPolicy()


def make_session(**changes: object) -> Session:
    base = Session(
        id="s1", account_id="a1", token_hash="0" * 64, aal=AAL.AAL1, methods=("password",),
        channel="browser", created_at=T0, last_seen_at=T0, expires_at=T0 + timedelta(hours=12),
        ip="203.0.113.7", user_agent="test",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# --- assurance level --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("methods", "level"),
    [
        (("password",), AAL.AAL1),
        (("password", "password"), AAL.AAL1),
        ((), AAL.AAL1),
        (("totp",), AAL.AAL1),  # a second factor alone is not two factors
        (("password", "totp"), AAL.AAL2),
        (("totp", "password"), AAL.AAL2),
        (("password", "webauthn"), AAL.AAL2),
        (("password", "sms", "totp"), AAL.AAL2),
    ],
)
def test_assurance_level(methods: tuple[str, ...], level: AAL) -> None:
    assert assurance_level(methods) is level


def test_assurance_level_accepts_any_iterable() -> None:
    assert assurance_level(iter(["password", "totp"])) is AAL.AAL2
    assert assurance_level({"password"}) is AAL.AAL1


def test_default_policy_matches_security_baseline() -> None:
    assert POLICY.idle_timeout == timedelta(minutes=30)
    assert POLICY.absolute_timeout == timedelta(hours=12)


# --- idle timeout -----------------------------------------------------------------------------


def test_active_right_after_creation() -> None:
    assert make_session().is_active(POLICY, T0)


def test_idle_timeout_exact_boundary() -> None:
    session = make_session()
    assert session.is_active(POLICY, T0 + POLICY.idle_timeout - US)
    assert not session.is_active(POLICY, T0 + POLICY.idle_timeout)
    assert not session.is_active(POLICY, T0 + POLICY.idle_timeout + US)


def test_idle_timeout_counts_from_last_seen() -> None:
    seen = T0 + timedelta(hours=2)
    session = make_session(last_seen_at=seen)
    assert session.is_active(POLICY, seen + timedelta(minutes=29, seconds=59))
    assert not session.is_active(POLICY, seen + timedelta(minutes=30))


def test_custom_idle_timeout_is_honoured() -> None:
    policy = SessionPolicy(idle_timeout=timedelta(minutes=5))
    session = make_session()
    assert session.is_active(policy, T0 + timedelta(minutes=5) - US)
    assert not session.is_active(policy, T0 + timedelta(minutes=5))


# --- absolute timeout -------------------------------------------------------------------------


def test_absolute_timeout_exact_boundary_even_when_recently_seen() -> None:
    expires = T0 + timedelta(hours=12)
    session = make_session(last_seen_at=expires - timedelta(minutes=1))
    assert session.is_active(POLICY, expires - US)
    assert not session.is_active(POLICY, expires)
    assert not session.is_active(POLICY, expires + timedelta(minutes=5))


def test_idle_expires_at_is_the_earlier_limit() -> None:
    assert make_session().idle_expires_at(POLICY) == T0 + timedelta(minutes=30)
    late = make_session(last_seen_at=T0 + timedelta(hours=11, minutes=50))
    assert late.idle_expires_at(POLICY) == T0 + timedelta(hours=12)


# --- revocation -------------------------------------------------------------------------------


def test_revoked_session_is_inactive_from_the_moment_of_revocation() -> None:
    revoked_at = T0 + timedelta(minutes=5)
    session = make_session(revoked_at=revoked_at)
    assert not session.is_active(POLICY, revoked_at)
    assert not session.is_active(POLICY, revoked_at + US)
    # Otherwise well within both timeouts.
    assert make_session().is_active(POLICY, revoked_at)


def test_revocation_wins_even_if_timestamp_is_later() -> None:
    # Revocation is a fact, not a schedule: a revoked session is never active.
    session = make_session(revoked_at=T0 + timedelta(hours=1))
    assert not session.is_active(POLICY, T0 + timedelta(minutes=1))


# --- touch ------------------------------------------------------------------------------------


def test_needs_touch_exact_boundary() -> None:
    session = make_session()
    assert not session.needs_touch(POLICY, T0)
    assert not session.needs_touch(POLICY, T0 + POLICY.touch_interval - US)
    assert session.needs_touch(POLICY, T0 + POLICY.touch_interval)
    assert session.needs_touch(POLICY, T0 + timedelta(minutes=10))


def test_touch_interval_is_well_below_idle_timeout() -> None:
    assert POLICY.touch_interval < POLICY.idle_timeout
