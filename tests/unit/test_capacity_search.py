"""`find_capacity` on a simulated service and a simulated clock: the search's decisions (ramp,
bisection, back-off, the time budget, zero capacity) checked exactly, with no load and no waiting."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_aksload.config.profile import LoadProfile, profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.run.capacity import STEP_OVERHEAD_S, CapacityError, CapacityUnconfirmed, find_capacity

FAST_MS, SLOW_MS = 20.0, 500.0


@dataclass
class StepResult:
    """What `evaluate` and the search read from one step's LoadResult (point estimates only)."""

    rate: float
    rps: float
    p95_ms: float
    requests: int = 1000
    failures: int = 0
    failure_rate: float = 0.0

    @property
    def mean_ms(self) -> float:
        return self.p95_ms

    @property
    def max_ms(self) -> float:
        return self.p95_ms

    def percentile(self, q: float) -> float:
        return self.p95_ms


@dataclass
class SimulatedService:
    """Holds `short_rps` for a short step and `hold_rps` for a step as long as the hold; each run
    advances the simulated clock by its duration plus the overhead the search budgets for it."""

    short_rps: float
    hold_rps: float
    hold_s: float
    now: float = 1000.0
    runs: list[LoadProfile] = field(default_factory=list)
    results: list[StepResult] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def run(self, profile: LoadProfile) -> StepResult:
        assert profile.rate is not None and profile.capacity is None
        self.runs.append(profile)
        self.now += profile.duration_s + STEP_OVERHEAD_S
        holds = profile.rate <= (self.hold_rps if profile.duration_s >= self.hold_s else self.short_rps)
        result = StepResult(profile.rate, rps=profile.rate, p95_ms=FAST_MS if holds else SLOW_MS)
        self.results.append(result)
        return result


def capacity_profile(**search: Any) -> LoadProfile:
    marker = {"slo": "p95 < 100ms", "capacity": {"start": 10, "step": "5s", "hold": "10s", **search}}
    return profile_from_marker((), marker, Settings(), Path("."))


def search(profile: LoadProfile, service: SimulatedService) -> tuple[StepResult, dict[str, Any]]:
    started = service.now
    result, capacity = find_capacity(profile, service.run, clock=service.clock, pool_size=lambda rate, timeout: 4)
    assert service.now - started <= profile.capacity.max_duration_s  # never ran past the budget
    return result, capacity  # type: ignore[return-value]


def phases(capacity: dict[str, Any]) -> list[tuple[str, float, bool]]:
    return [(step["phase"], step["rate"], step["passed"]) for step in capacity["steps"]]


def test_ramps_bisects_and_reports_the_confirmed_rate() -> None:
    service = SimulatedService(short_rps=100, hold_rps=100, hold_s=10)
    result, capacity = search(capacity_profile(), service)

    steps = phases(capacity)
    assert steps[:5] == [("ramp", rate, rate < 100) for rate in (10, 20, 40, 80, 160)]
    assert all(phase == "bisect" for phase, _, _ in steps[5:-1])
    # Bisection narrows [80, 160] to within 5 %: every pass is at most 100 and every failure above it.
    passing = [rate for _, rate, passed in steps if passed]
    assert max(passing) <= 100 < min(rate for _, rate, passed in steps if not passed)
    assert steps[-1] == ("confirm", capacity["capacity_rps"], True)
    assert 100 / 1.05 <= capacity["capacity_rps"] <= 100
    assert result is service.results[-1]  # load_result is the confirmation run, at that rate
    assert service.runs[-1].duration_s == 10 and capacity["bounded"] is False


def test_a_failed_confirmation_backs_off_by_the_precision_and_confirms_again() -> None:
    service = SimulatedService(short_rps=100, hold_rps=96, hold_s=10)
    result, capacity = search(capacity_profile(), service)

    confirms = [(rate, passed) for phase, rate, passed in phases(capacity) if phase == "confirm"]
    (first, failed), (second, passed) = confirms
    assert not failed and passed
    assert second == pytest.approx(first * 0.95)
    assert capacity["capacity_rps"] == second and result is service.results[-1]
    assert capacity["bounded"] is False


def test_no_confirmed_rate_fails_instead_of_reporting_an_unconfirmed_one() -> None:
    # Short steps pass up to 100 rps, yet the service holds only 50 rps over the hold: three
    # confirmations (~100, 95, 90 rps) fail, and no capacity may be claimed.
    service = SimulatedService(short_rps=100, hold_rps=50, hold_s=10)
    with pytest.raises(CapacityUnconfirmed) as raised:
        search(capacity_profile(), service)

    confirms = [profile.rate for profile in service.runs if profile.duration_s == 10]
    assert len(confirms) == 3
    message = str(raised.value)
    assert message.startswith("capacity: no rate was confirmed over the 10s hold: ")
    assert all(f"{rate:g} rps violated p95 < 100ms" in message for rate in confirms)
    assert "passed up to" in message and "\n" not in message
    assert isinstance(raised.value, CapacityError)  # the plugin turns it into a test error


def test_a_ramp_cut_short_by_max_duration_is_a_confirmed_lower_bound() -> None:
    # The service holds far more than the budget lets the ramp reach: time runs out, and the
    # search still keeps the time to confirm the best rate it reached.
    service = SimulatedService(short_rps=1e9, hold_rps=1e9, hold_s=10)
    profile = capacity_profile(max_duration="60s")
    result, capacity = search(profile, service)

    steps = phases(capacity)
    assert all(phase == "ramp" and passed for phase, _, passed in steps[:-1])
    best = steps[-2][1]
    assert steps[-1] == ("confirm", best, True)
    assert capacity["capacity_rps"] == best and capacity["bounded"] is True
    # Another ramp step would not have left the time for the confirmation.
    ramp_s = 5 + STEP_OVERHEAD_S
    assert len(steps) - 1 == math.floor((60 - (10 + STEP_OVERHEAD_S)) / ramp_s)


def test_no_time_for_another_confirmation_says_so() -> None:
    # Time for the reserved confirmation, not for a back-off after it failed.
    service = SimulatedService(short_rps=1e9, hold_rps=10, hold_s=10)
    with pytest.raises(CapacityUnconfirmed, match=r"max_duration 60s left no time for another; the 5s steps passed"):
        search(capacity_profile(max_duration="60s"), service)


def test_zero_capacity_when_not_even_the_start_rate_holds() -> None:
    service = SimulatedService(short_rps=5, hold_rps=5, hold_s=10)
    result, capacity = search(capacity_profile(), service)

    assert phases(capacity) == [("ramp", 10, False)]
    assert capacity["capacity_rps"] == 0.0 and capacity["bounded"] is False
    assert result is service.results[0]


def test_a_budget_without_time_for_one_step_and_the_hold_is_an_error() -> None:
    service = SimulatedService(short_rps=100, hold_rps=100, hold_s=10)
    # 5 s step + 10 s hold + 4 s overhead each = 23 s > 20 s.
    with pytest.raises(CapacityError, match=r"max_duration 20s leaves no time for one 5s step and the 10s confirm"):
        search(capacity_profile(max_duration="20s"), service)
    assert service.runs == []


def test_capacity_true_is_the_documented_short_form_and_takes_the_markers_max_duration() -> None:
    plain = profile_from_marker((), {"slo": "p95 < 1s", "capacity": True}, Settings(), Path.cwd())
    assert plain.capacity is not None and plain.rate == plain.capacity.start_rps
    bounded = profile_from_marker(
        (), {"slo": "p95 < 1s", "capacity": True, "max_duration": "2m"}, Settings(), Path.cwd()
    )
    assert bounded.capacity is not None and bounded.capacity.max_duration_s == 120
