"""Frozen policy objects built once from configuration; the domain never reads the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from keepgate.domain.sessions import SessionPolicy


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    min_length: int = 15
    max_length: int = 128
    min_score: int = 3  # zxcvbn score, 0..4
    product_words: tuple[str, ...] = ("keepgate",)


@dataclass(frozen=True, slots=True)
class CodePolicy:
    digits: int = 6
    lifetime: timedelta = timedelta(minutes=10)
    max_failures: int = 5  # per flow; a resend never resets it
    resend_cooldown: timedelta = timedelta(seconds=60)
    max_sends_per_hour: int = 5  # per destination, across flows


@dataclass(frozen=True, slots=True)
class FlowPolicy:
    registration_lifetime: timedelta = timedelta(minutes=30)
    login_lifetime: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Policies:
    password: PasswordPolicy = field(default_factory=PasswordPolicy)
    codes: CodePolicy = field(default_factory=CodePolicy)
    flows: FlowPolicy = field(default_factory=FlowPolicy)
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
