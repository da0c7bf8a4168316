"""Capacity search: the highest open-model arrival rate at which the SLOs still hold.

`@pytest.mark.load_test(capacity=True, slo=[...])` (or `capacity={...}` to tune the search)
runs a sequence of short open-model loads, each a separate Locust child so every step is a
clean, independent measurement:

1. ramp: `start` rps, then x `factor` per step, until a step violates the SLOs;
2. bisect between the last passing and the first failing rate until they are within
   `precision` of each other;
3. confirm the best passing rate over a longer `hold`; if it fails there, back off by
   `precision` and confirm again, at most `MAX_CONFIRMATIONS` times in all.

A step passes when every SLO holds (by its measured value) AND the service completed at least `MIN_THROUGHPUT` of the
offered rate (a service that silently drops or queues work past the run has not sustained it).
The whole search stops starting steps that would end after `max_duration`, keeping time for one
confirmation; when ramp or bisection were cut short the result says the capacity is a lower bound.
`find_capacity` returns the confirmation run that passed and the search's `{"capacity_rps"
(its rate), "bounded", "steps"}`; when not even `start` holds, that first step, with capacity 0.
When no confirmation passes, the search reports no capacity: it raises `CapacityUnconfirmed`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pytest_aksload.config.capacity import CapacityError, CapacitySearch
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts.slo import FAIL, PASS, SloVerdict, evaluate

if TYPE_CHECKING:
    from pytest_aksload.config.profile import LoadProfile

MIN_THROUGHPUT = 0.9
# What a step costs beyond its load: starting Python + Locust, spawning, stopping.
STEP_OVERHEAD_S = 4.0
MAX_CONFIRMATIONS = 3


@dataclass(frozen=True)
class CapacityStep:
    """One load of the search: the offered rate, what was measured, and whether it passed."""

    phase: str  # "ramp", "bisect" or "confirm"
    rate: float
    passed: bool
    rps: float
    p95_ms: float
    failure_rate: float
    violated: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "rate": self.rate,
            "passed": self.passed,
            "rps": self.rps,
            "p95_ms": None if math.isnan(self.p95_ms) else self.p95_ms,
            "failure_rate": self.failure_rate,
            "violated": list(self.violated),
        }


class CapacityUnconfirmed(CapacityError):
    """No rate held over the confirmation hold, so there is no capacity to report."""


def find_capacity(
    profile: LoadProfile,
    run: Callable[[LoadProfile], LoadResult],
    *,
    clock: Callable[[], float] = time.monotonic,
    pool_size: Callable[[float, float], int],
) -> tuple[LoadResult, dict[str, Any]]:
    """Search as described in the module docstring; `run` runs one open-model profile.

    Raises CapacityUnconfirmed when no rate held over `hold`: a capacity nobody confirmed is not reported."""
    search = profile.capacity
    assert search is not None
    deadline = clock() + search.max_duration_s
    # Ramp and bisection keep time for one confirmation: a ramp that never fails would otherwise
    # spend the whole budget and leave a rate nobody confirmed.
    confirmation_s = search.hold_s + STEP_OVERHEAD_S
    steps: list[CapacityStep] = []
    bounded = False

    def attempt(rate: float, duration_s: float, phase: str, reserve_s: float) -> tuple[LoadResult, bool] | None:
        nonlocal bounded
        if clock() + duration_s + STEP_OVERHEAD_S + reserve_s > deadline:
            bounded = True
            return None
        step_profile = replace(
            profile,
            rate=rate,
            users=pool_size(rate, profile.request_timeout_s),
            duration_s=duration_s,
            warmup_s=min(profile.warmup_s, duration_s / 2),
            capacity=None,
        )
        result = run(step_profile)
        violated = [str(v.slo) for v in evaluate(profile.slos, result) if _violated(v)]
        if result.rps < MIN_THROUGHPUT * rate:
            violated.append(f"throughput {result.rps:.1f} rps < {MIN_THROUGHPUT:.0%} of offered {rate:g} rps")
        steps.append(
            CapacityStep(phase, rate, not violated, result.rps, result.p95_ms, result.failure_rate, tuple(violated))
        )
        return result, not violated

    best: float | None = None
    first: LoadResult | None = None
    failing: float | None = None
    rate = search.start_rps
    while (outcome := attempt(rate, search.step_s, "ramp", confirmation_s)) is not None:
        result, passed = outcome
        first = first or result
        if not passed:
            failing = rate
            break
        best = rate
        rate *= search.factor
    if best is None:  # not even the start rate holds (or no time for one step): capacity 0
        return _with_capacity(first, 0.0, steps, bounded) if first is not None else _no_time(search)
    low, high = best, failing
    while high is not None and high / low - 1 > search.precision:
        middle = (low + high) / 2
        outcome = attempt(middle, search.step_s, "bisect", confirmation_s)
        if outcome is None:
            break
        if outcome[1]:
            low = middle
        else:
            high = middle
    for _ in range(MAX_CONFIRMATIONS):
        outcome = attempt(low, search.hold_s, "confirm", 0.0)
        if outcome is None:
            break
        if outcome[1]:
            return _with_capacity(outcome[0], low, steps, bounded)
        low *= 1 - search.precision
    raise CapacityUnconfirmed(_unconfirmed(search, steps, best, out_of_time=outcome is None))


def _unconfirmed(search: CapacitySearch, steps: list[CapacityStep], best: float, *, out_of_time: bool) -> str:
    tried = "; ".join(
        f"{step.rate:g} rps violated {', '.join(step.violated)}" for step in steps if step.phase == "confirm"
    )
    budget = f"max_duration {search.max_duration_s:g}s"
    passed = f"the {search.step_s:g}s steps passed up to {best:g} rps"
    if not tried:
        return f"capacity: no rate was confirmed: {budget} left no time for the {search.hold_s:g}s hold ({passed})"
    more = f"; {budget} left no time for another" if out_of_time else ""
    return (
        f"capacity: no rate was confirmed over the {search.hold_s:g}s hold: {tried}{more}; {passed}, "
        f"which the service did not sustain for {search.hold_s:g}s"
    )


def _violated(verdict: SloVerdict) -> bool:
    # A short step has few requests, so a latency objective is often INCONCLUSIVE (its confidence
    # interval is wide); the search follows the measured value, and the final confirmation run
    # over `hold` is judged with the full verdict rules like any other load test.
    return verdict.verdict == FAIL or (verdict.verdict != PASS and not verdict.margin > 0)


def _no_time(search: CapacitySearch) -> tuple[LoadResult, dict[str, Any]]:
    raise CapacityError(
        f"capacity: max_duration {search.max_duration_s:g}s leaves no time for one {search.step_s:g}s step and "
        f"the {search.hold_s:g}s confirmation (+{STEP_OVERHEAD_S:g}s each to start and stop them)"
    )


def _with_capacity(
    result: LoadResult, rate: float, steps: list[CapacityStep], bounded: bool
) -> tuple[LoadResult, dict[str, Any]]:
    return result, {"capacity_rps": rate, "bounded": bounded, "steps": [step.to_dict() for step in steps]}
