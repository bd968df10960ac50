"""keepgate.services.clock: the system clock tells aware UTC time; the frozen one moves only
when a test moves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keepgate.services.clock import FrozenClock, SystemClock


def test_system_clock_tells_the_current_time_in_utc() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert before <= now <= after


def test_frozen_clock_starts_at_a_fixed_aware_moment() -> None:
    now = FrozenClock().now()
    assert now == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert now.utcoffset() == timedelta(0)


def test_frozen_clock_can_start_anywhere() -> None:
    start = datetime(2030, 6, 1, 8, 30, tzinfo=UTC)
    assert FrozenClock(start).now() == start


def test_frozen_clock_stands_still_until_advanced() -> None:
    clock = FrozenClock()
    first = clock.now()
    assert clock.now() == first
    clock.advance(timedelta(minutes=90))
    assert clock.now() == first + timedelta(minutes=90)
    clock.advance(timedelta(seconds=1))
    assert clock.now() == first + timedelta(minutes=90, seconds=1)

