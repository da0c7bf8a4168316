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
    search = _Search(profile, run, clock, pool_size)
    best, failing, first = search.ramp()
    if best is None:  # not even the start rate holds (or no time for one step): capacity 0
        return search.outcome(first, 0.0) if first is not None else _no_time(search.search)
    return search.confirm(search.bisect(best, failing), best)


class _Search:
    """One capacity search: its steps so far, its time budget, and its three phases."""

    def __init__(
        self,
        profile: LoadProfile,
        run: Callable[[LoadProfile], LoadResult],
        clock: Callable[[], float],
        pool_size: Callable[[float, float], int],
    ) -> None:
        assert profile.capacity is not None
        self.profile, self.search, self.run, self.clock, self.pool_size = (
            profile,
            profile.capacity,
            run,
            clock,
            pool_size,
        )
        self.deadline = clock() + self.search.max_duration_s
        # Ramp and bisection keep time for one confirmation: a ramp that never fails would otherwise
        # spend the whole budget and leave a rate nobody confirmed.
        self.confirmation_s = self.search.hold_s + STEP_OVERHEAD_S
        self.steps: list[CapacityStep] = []
        self.bounded = False  # a phase was cut short by the budget: the capacity is a lower bound

    def attempt(self, rate: float, duration_s: float, phase: str, reserve_s: float) -> tuple[LoadResult, bool] | None:
        """One step at `rate`: its result and whether it passed; None when the budget has no time for it."""
        if self.clock() + duration_s + STEP_OVERHEAD_S + reserve_s > self.deadline:
            self.bounded = True
            return None
        profile = self.profile
        step_profile = replace(
            profile,
            rate=rate,
            users=self.pool_size(rate, profile.request_timeout_s),
            duration_s=duration_s,
            warmup_s=min(profile.warmup_s, duration_s / 2),
            capacity=None,
        )
        result = self.run(step_profile)
        # headroom and instances_needed follow from the search's outcome, not from one step.
        per_step = [slo for slo in profile.slos if not slo.entry.sized]
        violated = [str(v.slo) for v in evaluate(per_step, result) if _violated(v)]
        if result.rps < MIN_THROUGHPUT * rate:
            violated.append(f"throughput {result.rps:.1f} rps < {MIN_THROUGHPUT:.0%} of offered {rate:g} rps")
        self.steps.append(
            CapacityStep(phase, rate, not violated, result.rps, result.p95_ms, result.failure_rate, tuple(violated))
        )
        return result, not violated

    def ramp(self) -> tuple[float | None, float | None, LoadResult | None]:
        """`start`, then x `factor` per step until one fails: (the last passing rate, the failing
        rate, the first step's result); None where there is none."""
        best: float | None = None
        first: LoadResult | None = None
        rate = self.search.start_rps
        while (outcome := self.attempt(rate, self.search.step_s, "ramp", self.confirmation_s)) is not None:
            result, passed = outcome
            first = first or result
            if not passed:
                return best, rate, first
            best = rate
            rate *= self.search.factor
        return best, None, first

    def bisect(self, low: float, high: float | None) -> float:
        """The highest passing rate found between `low` (passed) and `high` (failed), to `precision`."""
        while high is not None and high / low - 1 > self.search.precision:
            middle = (low + high) / 2
            outcome = self.attempt(middle, self.search.step_s, "bisect", self.confirmation_s)
            if outcome is None:
                break
            if outcome[1]:
                low = middle
            else:
                high = middle
        return low

    def confirm(self, rate: float, best: float) -> tuple[LoadResult, dict[str, Any]]:
        """Hold `rate` for `hold`, backing off by `precision` after each failure."""
        outcome = None
        for _ in range(MAX_CONFIRMATIONS):
            outcome = self.attempt(rate, self.search.hold_s, "confirm", 0.0)
            if outcome is None:
                break
            if outcome[1]:
                return self.outcome(outcome[0], rate)
            rate *= 1 - self.search.precision
        raise CapacityUnconfirmed(_unconfirmed(self.search, self.steps, best, out_of_time=outcome is None))

    def outcome(self, result: LoadResult, rate: float) -> tuple[LoadResult, dict[str, Any]]:
        steps = [step.to_dict() for step in self.steps]
        return result, {"capacity_rps": rate, "bounded": self.bounded, "steps": steps}


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
