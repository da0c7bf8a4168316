"""`--aks-inconclusive=extend`: keep the load running until every SLO verdict is decided, up to `max_duration=`.

The child runs for up to `max_duration=` and streams each closed window to the parent
(`runner.run_load(stop_when=...)`). From `duration=` on, the parent judges the windows measured so
far as each one arrives, and ends the run (through the child's stdin, exactly as its run time
would) as soon as nothing is INCONCLUSIVE, or something FAILed (more load cannot un-fail it).
One continuous run: no second ramp-up and no gap in the load the service sees. The verdicts
the test gets are then judged from the run's result file like any other run's.

The running judgement reads windows, which hold requests by completion time, where the result
counts them by start time after the warm-up; the two differ only by the requests in flight at
the warm-up's end, so a run stopped as decided is, in practice, decided in its result too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.stats import steady_state
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts.decision import undecided
from pytest_aksload.verdicts.slo import evaluate

StopWhen = Callable[[Sequence[Mapping[str, Any]]], bool]
"""Asked with the windows closed so far; True ends the run now (`runner.run_load`)."""


def wants_extension(profile: LoadProfile, policy: str) -> bool:
    """Extend this run? Only with the policy, a `max_duration=` past `duration=`, SLOs to decide,
    and not for a capacity search (which spends max_duration= on its own steps)."""
    return (
        policy == "extend"
        and profile.max_duration_s is not None
        and profile.max_duration_s > profile.duration_s
        and bool(profile.slos)
        and profile.capacity is None
    )


def extended(profile: LoadProfile) -> LoadProfile:
    """The profile the child runs: as long as `max_duration=` allows (it stops earlier when decided)."""
    assert profile.max_duration_s is not None
    return replace(profile, duration_s=profile.max_duration_s)


def decided_after(profile: LoadProfile) -> StopWhen:
    """`stop_when` for `run_load`: True once `duration=` has passed and the windows so far decide every SLO."""

    # Judging decodes every window so far (~0.2 ms each): in a long run, judge after every
    # twentieth-of-the-run more windows rather than every one, so the parent's CPU, which the
    # load generator may need, stays a few % at most.
    next_judgement = 0

    def decided(windows: Sequence[Mapping[str, Any]]) -> bool:
        nonlocal next_judgement
        if not windows or len(windows) < next_judgement:
            return False
        so_far = LoadResult.from_windows(windows, profile.warmup_s)
        if so_far.ended_at < profile.duration_s:
            return False
        next_judgement = len(windows) + max(1, len(windows) // 20)
        if profile.warmup_auto:
            so_far = steady_state.apply_auto_warmup(so_far)
        # Windows hold neither endpoints nor another side: those objectives wait for the result file.
        judged = [slo for slo in profile.slos if slo.endpoint is None and not slo.compares]
        return bool(judged) and not undecided(evaluate(judged, so_far))

    return decided
