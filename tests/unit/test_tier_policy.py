"""The tier policy file: KEEPGATE_POLICY_FILE, its shipped example, and every refusal at once."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from keepgate.config import ConfigError, Settings
from keepgate.domain.kyc import (
    DEFAULT_POLICY,
    Capability,
    PolicyProblems,
    tier_policy_from_mapping,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "tier-policy.example.toml"


def example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def test_the_shipped_example_loads_and_is_the_built_in_policy() -> None:
    settings = Settings.from_env({"KEEPGATE_POLICY_FILE": str(EXAMPLE)}, announce=False)
    assert settings.tier_policy == DEFAULT_POLICY
    assert settings.policy_file == str(EXAMPLE)


def test_without_a_file_the_built_in_policy_runs() -> None:
    assert Settings.from_env({}, announce=False).tier_policy is DEFAULT_POLICY


def test_an_operator_policy_replaces_the_default(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('currency = "USD"', 'currency = "EUR"').replace(
        'daily = "5000"', 'daily = "2500.50"')
    path = tmp_path / "policy.toml"
    path.write_text(text)
    policy = Settings.from_env({"KEEPGATE_POLICY_FILE": str(path)}, announce=False).tier_policy
    assert policy.currency == "EUR"
    assert policy.limit(1, Capability.WITHDRAW).daily == Decimal("2500.50")  # type: ignore[union-attr]


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    data = example()
    data["currency"] = "dollars"
    data["tiers"][0]["capabilities"] = ["view_markets", "teleport"]
    data["tiers"][1]["limits"]["withdraw"] = {"daily": "30000", "monthly": "20000"}
    data["tiers"][2]["limits"]["trade"]["daily"] = "-5"
    data["tiers"][2]["limits"]["deposit"]["daily"] = "1.005"
    data["tiers"][3]["level"] = 7
    with pytest.raises(PolicyProblems) as raised:
        tier_policy_from_mapping(data)
    problems = raised.value.problems
    assert len(problems) == 6, problems
    text = "\n".join(problems)
    for expected in ("currency must be a three-letter code", "unknown capability 'teleport'",
                     "daily (30000.00) is more than monthly (20000.00)", "amount.not_positive",
                     "amount.too_precise", "level must be 3"):
        assert expected in text


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d["tiers"][1]["limits"].pop("trade"), "grants trade but gives it no"),
    (lambda d: d["tiers"][1]["limits"].update(api_access={"daily": 1, "monthly": 1}),
     "api_access moves no money"),
    (lambda d: d["tiers"][0]["capabilities"].append("withdraw"),
     "grants withdraw but gives it no"),
    (lambda d: d["tiers"][2]["capabilities"].remove("deposit"), "the tier does not grant"),
    (lambda d: d["tiers"][3]["limits"]["withdraw"].update(daily="10"), "lower than tier 2"),
    (lambda d: d["tiers"][1]["limits"]["deposit"].update(daily=1000.0), "not the float"),
    (lambda d: d.update(tiers=[]), "at least one [[tiers]]"),
    (lambda d: d.update(colour="red"), "unknown key 'colour'"),
    (lambda d: d["tiers"][1].update(extra=1), "tiers[1]: unknown key 'extra'"),
    (lambda d: d["tiers"][1]["limits"]["deposit"].pop("monthly"), "needs exactly daily and"),
    (lambda d: d["tiers"][1]["limits"]["deposit"].update(daily="NaN"), "amount.invalid"),
    (lambda d: d.update(step_up=["withdraw", "fly"]), "step_up: unknown capability 'fly'"),
])
def test_each_mistake_is_refused_clearly(change: Any, problem: str) -> None:
    data = example()
    change(data)
    with pytest.raises(PolicyProblems) as raised:
        tier_policy_from_mapping(data)
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_tier_zero_may_only_view_markets() -> None:
    data = example()
    data["tiers"][0]["capabilities"].append("api_access")
    with pytest.raises(PolicyProblems, match="may grant only view_markets"):
        tier_policy_from_mapping(data)


def test_the_settings_name_the_file_and_its_problems(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('currency = "usd"\n[[tiers]]\nlevel = 0\nname = ""\n')
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"KEEPGATE_POLICY_FILE": str(broken),
                           "KEEPGATE_PORT": "nope"}, announce=False)
    problems = raised.value.problems
    assert any(p.startswith(f"KEEPGATE_POLICY_FILE ({broken}): currency") for p in problems)
    assert any("name must be a non-empty string" in p for p in problems)
    assert any("KEEPGATE_PORT" in p for p in problems)


@pytest.mark.parametrize(("content", "problem"), [
    (None, "cannot be read"),
    ("tiers = [", "is not valid TOML"),
])
def test_a_missing_or_malformed_file_is_refused(tmp_path: Path, content: str | None,
                                                problem: str) -> None:
    path = tmp_path / "policy.toml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=problem):
        Settings.from_env({"KEEPGATE_POLICY_FILE": str(path)}, announce=False)
