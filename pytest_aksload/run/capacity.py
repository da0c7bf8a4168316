"""Capacity search: the highest open-model arrival rate at which the SLOs still hold.

`@pytest.mark.load_test(capacity=True, slo=[...])` (or `capacity={...}` to tune the search)
runs a sequence of short open-model loads, each a separate Locust child so every step is a
clean, independent measurement:

1. ramp: `start` rps, then x `factor` per step, until a step violates the SLOs;
2. bisect between the last passing and the first failing rate until they are within
   `precision` of each other;
3. confirm the best passing rate over a longer `hold`; if it fails there, back off by
   `precision` and confirm again.

A step passes when every SLO holds (by its measured value) AND the service completed at least `MIN_THROUGHPUT` of the
offered rate (a service that silently drops or queues work past the run has not sustained it).
The whole search stops starting steps that would end after `max_duration`; the result then
says the capacity is a lower bound. The returned `LoadResult` is the confirmation run, with
`capacity_rps` and the list of steps in `capacity`.
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


def find_capacity(
    profile: LoadProfile,
    run: Callable[[LoadProfile], LoadResult],
    *,
    clock: Callable[[], float] = time.monotonic,
    pool_size: Callable[[float, float], int],
) -> LoadResult:
    """Search as described in the module docstring; `run` runs one open-model profile."""
    search = profile.capacity
    assert search is not None
    deadline = clock() + search.max_duration_s
    steps: list[CapacityStep] = []
    bounded = False

    def attempt(rate: float, duration_s: float, phase: str) -> tuple[LoadResult, bool] | None:
        nonlocal bounded
        if clock() + duration_s + STEP_OVERHEAD_S > deadline:
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

    best: tuple[float, LoadResult] | None = None
    first: LoadResult | None = None
    failing: float | None = None
    rate = search.start_rps
    while (outcome := attempt(rate, search.step_s, "ramp")) is not None:
        result, passed = outcome
        first = first or result
        if not passed:
            failing = rate
            break
        best = (rate, result)
        rate *= search.factor
    if best is None:  # not even the start rate holds (or no time for one step): capacity 0
        return _with_capacity(first, 0.0, steps, bounded) if first is not None else _no_time(search)
    low, high = best[0], failing
    while high is not None and high / low - 1 > search.precision:
        middle = (low + high) / 2
        outcome = attempt(middle, search.step_s, "bisect")
        if outcome is None:
            break
        if outcome[1]:
            low, best = middle, (middle, outcome[0])
        else:
            high = middle
    for _ in range(MAX_CONFIRMATIONS):
        outcome = attempt(low, search.hold_s, "confirm")
        if outcome is None:
            break
        if outcome[1]:
            return _with_capacity(outcome[0], low, steps, bounded)
        low *= 1 - search.precision
    # Unconfirmed (out of time, or the hold kept failing): the last passing short step, flagged.
    return _with_capacity(best[1], best[0], steps, True)


def _violated(verdict: SloVerdict) -> bool:
    # A short step has few requests, so a latency objective is often INCONCLUSIVE (its confidence
    # interval is wide); the search follows the measured value, and the final confirmation run
    # over `hold` is judged with the full verdict rules like any other load test.
    return verdict.verdict == FAIL or (verdict.verdict != PASS and not verdict.margin > 0)


def _no_time(search: CapacitySearch) -> LoadResult:
    raise CapacityError(
        f"capacity: max_duration {search.max_duration_s:g}s leaves no time for one {search.step_s:g}s step "
        f"(+{STEP_OVERHEAD_S:g}s to start and stop it)"
    )


def _with_capacity(result: LoadResult, rate: float, steps: list[CapacityStep], bounded: bool) -> LoadResult:
    result.capacity = {"capacity_rps": rate, "bounded": bounded, "steps": [step.to_dict() for step in steps]}
    return result
