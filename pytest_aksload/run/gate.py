"""One load test, start to outcome: load slot, pre-flight, the run (plain, extended or a capacity
search), then the gate's conclusions: the one `verdicts.gated.GatedResult` of the test, built here once.

No pytest here: `run_gate` raises `GateError` (the test ERRORs: the gate could not measure) or
`LoadInterrupted` (Ctrl-C or SIGTERM, with the partial result); the plugin turns them into pytest's
outcomes and applies the returned outcome after the test body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_aksload.config import arrivals
from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.config.settings import Settings
from pytest_aksload.protocol import SampleRows
from pytest_aksload.run import capacity, extend, preload
from pytest_aksload.run.load_lock import LoadSlot, SerialWaitTimeout
from pytest_aksload.run.plan import RunPlan
from pytest_aksload.run.preflight import PreflightError, preflight
from pytest_aksload.run.runner import LoadRunError, Progress, run_load
from pytest_aksload.stats import steady_state
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.targets.resolve import key_hint
from pytest_aksload.targets.target import OtherSide, Target
from pytest_aksload.verdicts import baseline, health, sizing
from pytest_aksload.verdicts.decision import judge_gate
from pytest_aksload.verdicts.gated import GatedResult


class GateError(Exception):
    """The load could not be measured (no slot, pre-flight refused, generator crashed, bad capacity
    search); the message is one for the user to act on."""


def run_gate(
    target: Target,
    profile: LoadProfile,
    sample: SampleRows,
    settings: Settings,
    *,
    nodeid: str,
    lock_dir: Path,
    stored_baseline: Mapping[str, LoadResult] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    html_report: Path | None = None,
    against: OtherSide | None = None,
) -> GatedResult:
    """Run the test's load once, alone in the session (`load_lock`), and conclude: SLO verdicts
    under `settings.aks_inconclusive`, generator health, the `--aks-compare` comparison. `against`:
    the other side of a side-by-side gate (pre-flight checks it too; the load goes to both)."""
    plan = RunPlan.resolve(target, profile, sample, settings, against)
    slot = LoadSlot(lock_dir)
    try:
        try:
            slot.acquire()
            started = time.monotonic()
            _preflight(target, plan.deployment, key_hint(settings), plan, 0)
            checks = preload.preload_warnings(target.deployment, profile, time.monotonic() - started)
            if against is not None:
                _preflight_other_side(against, plan, settings)
            result, issues, search = _measure(plan, settings, on_progress, html_report)
        except (SerialWaitTimeout, PreflightError, LoadRunError, capacity.CapacityError) as error:
            raise GateError(str(error)) from None
    finally:
        slot.release()  # the test body and the verdicts are light: the next load may start
    warnings = checks  # run/preload.py's checks, from the deployment's settings
    if problem := arrivals.schedule_problem(result.schedule):
        warnings.append(f"aksload: {problem}")
    comparisons: list[baseline.BaselineComparison] = []
    stored = None if stored_baseline is None else stored_baseline.get(nodeid)
    if stored is not None:
        tolerances = {tolerance.metric: tolerance for tolerance in settings.aks_max_regression}
        comparisons = baseline.compare_with_baseline(stored, result, tolerances)
    elif settings.aks_compare:
        warnings.append(baseline.missing_entry(nodeid, settings.aks_compare))
    sized = None
    if search is not None:  # the deployment reaches the sizing through the target: nothing guessed
        sized = sizing.size(search["capacity_rps"], target.deployment, profile.peak_rps, profile.utilization,
                            result.mean_ms)  # fmt: skip
    return judge_gate(
        profile, result, settings.aks_inconclusive, comparisons, compared=stored is not None, warnings=warnings,
        generator_issues=issues, overlapping_tests=slot.overlapping_tests, capacity=search,
        throttling=preload.throttling_hint(target.deployment), sizing=sized,
    )  # fmt: skip


def _preflight(target: Target, deployment: str | None, hint: str, plan: RunPlan, side: int) -> None:
    """One request to `target` as the load will send it (the test's contract, batch and tolerance)."""
    profile = plan.profile
    preflight(
        target, plan.sample, profile.request_timeout_s, contract=profile.contract, batch=profile.batch,
        tolerance=profile.tolerance, deployment=deployment, key_hint=hint, ca_bundle=plan.ca_bundle,
        request_id=plan.preflight_request_id(side),
    )  # fmt: skip


def _preflight_other_side(against: OtherSide, plan: RunPlan, settings: Settings) -> None:
    own_key = f"the key in environment variable {settings.aks_against_key_env}"
    hint = own_key if against.own_credential else key_hint(settings)
    try:
        _preflight(against.target, against.deployment, hint, plan, 1)
    except PreflightError as error:
        raise PreflightError(f"the other side ({against.name}): {error}") from None


def _measure(
    plan: RunPlan,
    settings: Settings,
    on_progress: Callable[[Progress], None] | None,
    html_report: Path | None,
) -> tuple[LoadResult, list[str], dict[str, Any] | None]:
    """The measurement to judge (warm-up cut), the load generator's health issues in it, and for a
    capacity search what the search found."""
    profile, against = plan.profile, plan.against
    health_of: list[tuple[LoadResult, list[str]]] = []  # each run's measurement and its generator's health

    def run(piece: LoadProfile, stop_when: extend.StopWhen | None = None) -> LoadResult:
        this_run = plan.with_profile(piece) if not health_of else plan.with_profile(piece).next_run()
        raw = run_load(this_run, on_progress=on_progress, html_report=html_report, stop_when=stop_when)
        if (forged := health.rejected_reports_problem(raw)) is not None:
            raise LoadRunError(forged)
        measured = steady_state.apply_auto_warmup(raw) if piece.warmup_auto else raw
        health_of.append((measured, health.generator_issues(measured, piece)))
        return measured

    def issues_of(measured: LoadResult) -> list[str]:
        return next(issues for result, issues in health_of if result is measured)

    if profile.capacity is not None:
        confirmed, search = capacity.find_capacity(profile, run, pool_size=arrivals.pool_size)
        return confirmed, issues_of(confirmed), search
    if extend.wants_extension(profile, settings.aks_inconclusive):
        # Side by side, the child stops once decided, at anytime-valid looks.
        stop_when = None if against is not None else extend.decided_after(profile)
        measured = run(extend.extended(profile), stop_when)
    else:
        measured = run(profile)
    return measured, issues_of(measured), None


def progress_duration_s(profile: LoadProfile, settings: Settings) -> float:
    """How long the progress line should say the run lasts (an extended run may go to max_duration=)."""
    if extend.wants_extension(profile, settings.aks_inconclusive):
        return extend.extended(profile).duration_s
    return profile.duration_s
