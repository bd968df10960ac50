"""What each flow kind says about itself, once: the runner and the pages only look it up.

A ``FlowSpec`` names the kind, its states and transition table, how to start one, which
methods are open in a given flow, what a client may see of it, whether it belongs to a
signed-in session (``access``) and, for a privileged kind, the guarded action each method takes
(``actions``), which ``domain.access.authorize`` decides on before every submit.
``keepgate.flows.registry`` maps every ``FlowKind`` to its spec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from keepgate.domain.access import Action
from keepgate.domain.policy import Policies
from keepgate.flows.base import Channel, Flow, FlowKind, Transitions


@dataclass(frozen=True, slots=True)
class Owner:
    """The signed-in principal a settings or step-up flow belongs to."""

    account_id: str
    session_id: str
    account_name: str  # what an authenticator app shows: email, phone, or the id
    factors: tuple[str, ...]  # what the account can prove a second factor with


@dataclass(frozen=True, slots=True)
class Opening:
    """Everything a flow's ``start`` may use; ``owner`` is set for signed-in flows only."""

    flow_id: str
    channel: Channel
    now: datetime
    policies: Policies
    binding: str | None = None
    owner: Owner | None = None

    @property
    def signed_in(self) -> Owner:
        assert self.owner is not None, "a signed-in flow was started without its owner"
        return self.owner


class Access(Enum):
    """Who may start and drive a flow of a kind."""

    PUBLIC = "public"  # anyone: registration, sign-in
    SESSION = "session"  # the signed-in session that started it: step-up
    PRIVILEGED = "privileged"  # that session, with a fresh sign-in or step-up per submit


class UnexpectedTransition(RuntimeError):
    """A step landed on a state its flow's table does not allow: a bug, never an answer."""


@dataclass(frozen=True, slots=True)
class FlowSpec:
    kind: FlowKind
    states: frozenset[str]
    transitions: Transitions
    start: Callable[[Opening], Flow]
    open_methods: Callable[[Flow], tuple[str, ...]]
    public_data: Callable[[Flow, tuple[str, ...], Policies], Mapping[str, Any]]
    access: Access = Access.PUBLIC
    actions: Mapping[str, Action] = field(default_factory=dict)

    @property
    def signed_in(self) -> bool:
        """Owned by the session that started it: no other session or client can see it."""
        return self.access is not Access.PUBLIC

    def guarded_action(self, method: str) -> Action | None:
        """What submitting ``method`` does, for a privileged kind: every method names one."""
        if self.access is not Access.PRIVILEGED:
            return None
        return self.actions[method]

    def methods(self, flow: Flow) -> tuple[str, ...]:
        """What a client may submit now: nothing once the flow is finished."""
        return () if flow.finished else self.open_methods(flow)

    def check_landing(self, before: str, method: str, after: str, *, refused: bool) -> None:
        """Raise ``UnexpectedTransition`` unless ``method`` may take ``before`` to ``after``.

        A refused step (a wrong code, a demanded CAPTCHA) may leave the flow where it was.
        """
        if refused and after == before:
            return
        if after not in self.transitions.get(before, {}).get(method, frozenset()):
            raise UnexpectedTransition(
                f"{self.kind.value}: {method} may not lead from {before} to {after}")
