"""keepgate.services.effects: every effect a step can ask for has exactly one handler."""

from __future__ import annotations

import typing
from typing import Any

from keepgate.domain.factors import DefencePolicy
from keepgate.domain.sessions import SessionPolicy
from keepgate.flows.base import Effect
from keepgate.services.effects import effect_handlers


def handlers() -> Any:
    unused: Any = None
    return effect_handlers(notifier=unused, sessions=SessionPolicy(), defences=DefencePolicy(),
                           recovery=unused, signer=None, public_url="http://localhost")


def test_the_registry_covers_the_effect_union_exactly() -> None:
    assert set(handlers()) == set(typing.get_args(Effect))


def test_every_handler_is_callable() -> None:
    assert all(callable(handler) for handler in handlers().values())
