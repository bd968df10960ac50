"""keepgate.domain.audit: an event names who acted apart from whose account it concerns; staff
always give a reason; an event made without an actor is the subject's own or the system's."""

from __future__ import annotations

import pytest

from keepgate.domain.audit import (
    SYSTEM_EVENTS,
    Actor,
    ActorKind,
    AuditEvent,
    EventKind,
    Outcome,
    default_actor,
)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_staff_actor_without_a_reason_is_refused(reason: str | None) -> None:
    with pytest.raises(ValueError, match="reason"):
        Actor(ActorKind.STAFF, "staff-7", reason)


def test_a_staff_actor_carries_its_reason() -> None:
    actor = Actor.staff("staff-7", "Identity checked on a video call")
    assert (actor.kind, actor.id, actor.reason) == (
        ActorKind.STAFF, "staff-7", "Identity checked on a video call")


def test_only_the_system_acts_without_an_id() -> None:
    assert Actor.system() == Actor(ActorKind.SYSTEM)
    with pytest.raises(ValueError, match="id"):
        Actor(ActorKind.SYSTEM, "sys-1")
    for kind in (ActorKind.CUSTOMER, ActorKind.SERVICE, ActorKind.API_KEY):
        with pytest.raises(ValueError, match="id"):
            Actor(kind)


def test_the_subject_acts_on_their_own_account_by_default() -> None:
    event = AuditEvent(EventKind.PASSWORD_CHANGED, Outcome.SUCCESS, "acc-1")
    assert event.actor is None
    assert event.acted_by == Actor.customer("acc-1")


@pytest.mark.parametrize("kind", sorted(SYSTEM_EVENTS))
def test_the_system_acts_by_default_for_its_own_events(kind: EventKind) -> None:
    assert default_actor(kind, "acc-1") == Actor.system()


def test_the_system_acts_by_default_when_no_account_is_concerned() -> None:
    assert AuditEvent(EventKind.LOGIN, Outcome.FAILURE).acted_by == Actor.system()


def test_an_explicit_actor_wins() -> None:
    support = Actor.staff("staff-7", "Customer asked by phone")
    event = AuditEvent(EventKind.SESSIONS_REVOKED, Outcome.SUCCESS, "acc-1", actor=support)
    assert event.acted_by is support
