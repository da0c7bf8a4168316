"""From a measurement to the test's outcome: generator health, early abort, the INCONCLUSIVE policy,
an empty run and the baseline comparison, gathered in the one read-only `GatedResult` (gated.py)
the `load_result` fixture gives.

`--aks-inconclusive` decides what an INCONCLUSIVE verdict does: `fail` (the default: a deployment
gate that cannot show the service meets its objectives must not let it through; a flaky FAIL costs
a re-run, a wrong PASS costs an incident), `pass` (with a warning; for exploratory runs), or
`extend` (keep loading, up to the marker's `max_duration=`, until every verdict is decided; see
extend.py). A FAIL always fails, whatever the policy. A capacity search is judged with `pass`:
it stops where the objectives sit at their edge, so INCONCLUSIVE there is the finding, not doubt
(the gate is the test's assertion on `capacity_rps`; the warning still shows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts import health
from pytest_aksload.verdicts.baseline import BaselineComparison, regression_message
from pytest_aksload.verdicts.diagnosis import failure_lines
from pytest_aksload.verdicts.gated import GatedResult
from pytest_aksload.verdicts.sizing import Sizing, sized
from pytest_aksload.verdicts.slo import FAIL, INCONCLUSIVE, SloVerdict, comparisons_judged, evaluate, format_verdicts


@dataclass(frozen=True)
class PolicyDecision:
    """The SLO verdicts under the INCONCLUSIVE policy: what fails the test, and what is only said."""

    verdicts: list[SloVerdict]
    failure: str | None  # the test's failure message, None when it passes
    warning: str | None  # said when INCONCLUSIVE verdicts were let pass (--aks-inconclusive=pass)


def slo_verdicts(
    profile: LoadProfile, result: LoadResult, generator_issues: Sequence[str] = (), sizing: Sizing | None = None
) -> list[SloVerdict]:
    """The marker's SLO verdicts, all INCONCLUSIVE when the load generator was unhealthy (`generator_issues`);
    `headroom` and `instances_needed` are judged on a capacity search's `sizing` (sizing.py).

    A run judged while it ran (`result.looks`, a side-by-side gate that may stop early) is judged at
    its last look's level, `sequential.look_confidence`: judging it at the plain level would spend
    the error rate the looks already spent (`LoadResult.judging_confidence`)."""
    measured = sized(result, sizing, profile.slos)
    return health.doubt(evaluate(profile.slos, measured, result.judging_confidence), generator_issues)


def undecided(verdicts: Sequence[SloVerdict]) -> bool:
    """True when more load could change the outcome: something INCONCLUSIVE and nothing FAILed."""
    return any(v.verdict == INCONCLUSIVE for v in verdicts) and not any(v.verdict == FAIL for v in verdicts)


def policy_for(profile: LoadProfile, policy: str) -> str:
    """The INCONCLUSIVE policy this test is judged with (a capacity search: always `pass`)."""
    return "pass" if profile.capacity is not None else policy


def apply_policy(
    profile: LoadProfile,
    result: LoadResult,
    policy: str,
    generator_issues: Sequence[str] = (),
    sizing: Sizing | None = None,
) -> PolicyDecision:
    """The SLO verdicts of one load test and what they do under `policy` (fail | pass | extend)."""
    verdicts = slo_verdicts(profile, result, generator_issues, sizing)
    if result.aborted is not None:
        reason = f"load aborted early after {result.aborted['at_s']:g}s: {result.aborted['reason']}"
        return PolicyDecision(verdicts, reason, None)
    failed = [v for v in verdicts if v.verdict == FAIL]
    unsure = [v for v in verdicts if v.verdict == INCONCLUSIVE]
    table = format_verdicts(verdicts)
    if failed:
        return PolicyDecision(verdicts, f"{len(failed)} of {len(verdicts)} SLOs violated ({result!r})\n{table}", None)
    if not unsure:
        return PolicyDecision(verdicts, None, None)
    if policy == "pass":
        warning = f"{len(unsure)} SLOs INCONCLUSIVE, passed by --aks-inconclusive=pass\n{table}"
        return PolicyDecision(verdicts, None, warning)
    if generator_issues:
        hint = "the load generator was the bottleneck: give it more CPU, or spread the load with workers="
    elif policy == "extend":
        hint = "the load ran to max_duration without deciding"
    else:
        hint = "run longer, or use --aks-inconclusive=extend with max_duration="
    failure = f"{len(unsure)} of {len(verdicts)} SLOs INCONCLUSIVE ({hint}; {result!r})\n{table}"
    return PolicyDecision(verdicts, failure, None)


def nothing_measured(result: LoadResult) -> str | None:
    """Why a run that measured no request cannot pass (a gate must not pass on no evidence), or None."""
    if result.requests:
        return None
    run_s = result.ended_at - result.started_at
    if result.warmup_s >= run_s:
        why = f"the warm-up ({result.warmup_s:g}s) lasted the whole {run_s:.1f}s run: shorten warmup= or run longer"
    else:
        why = (
            f"no request that started after the {result.warmup_s:g}s warm-up completed in the {result.duration_s:.1f}s "
            "measured: the endpoint answers slower than that, or not at all; run longer (duration=) or warm up less"
        )
    return f"the load measured 0 requests: {why}"


def mismatch_lines(result: LoadResult) -> str:
    """The first wrong predictions under load, one line each (empty when there were none)."""
    examples = result.mismatches
    if not examples:
        return ""
    tally = result.correctness
    head = f"\nwrong predictions ({tally.mismatches} of {tally.checked} checked rows; first {len(examples)}):"
    return head + "".join(f"\n  sample row {m.row}: expected {m.expected!r}, got {m.got!r}" for m in examples)


def judge_gate(
    profile: LoadProfile,
    result: LoadResult,
    policy: str,
    baseline_comparisons: Sequence[BaselineComparison] = (),
    *,
    compared: bool = False,
    warnings: Sequence[str] = (),
    generator_issues: Sequence[str] = (),
    overlapping_tests: Sequence[str] = (),
    capacity: Mapping[str, Any] | None = None,
    throttling: str | None = None,
    sizing: Sizing | None = None,
) -> GatedResult:
    """Everything the gate concludes about one measurement, in the one `GatedResult` the test gets:
    its SLO decision (if it has SLOs or was aborted), an empty run failed as such, and a significant
    baseline regression, in one failure message; side by side, each compared metric with the verdict
    of its objective. `throttling`: the deployment's in-flight ceiling, which throttling failures'
    hint quotes (run/preload.py); `sizing`: what the capacity search says about instances (sizing.py)."""
    decision = (
        apply_policy(profile, result, policy_for(profile, policy), generator_issues, sizing)
        if profile.slos or result.aborted is not None
        else PolicyDecision([], None, None)
    )
    parts = [message for message in (nothing_measured(result), decision.failure) if message]
    if decision.failure is not None:
        causes = "".join(f"\n  {line}" for line in failure_lines(result, throttling=throttling))
        parts[-1] += f"\nmost frequent failures:{causes}" if causes else ""
        parts[-1] += mismatch_lines(result)
        if sizing is not None and any(v.slo.entry.sized and v.verdict == FAIL for v in decision.verdicts):
            parts[-1] += f"\nsizing: {sizing.sentence()}"  # the formulas behind the sized objectives
    regression = regression_message(baseline_comparisons)
    only_undecided = decision.failure is not None and undecided(decision.verdicts) and result.requests > 0
    return GatedResult(
        result,
        verdicts=tuple(decision.verdicts),
        failure="\n".join(parts + ([regression] if regression else [])) or None,
        inconclusive=only_undecided and regression is None,
        warnings=tuple(warnings) + ((decision.warning,) if decision.warning else ()),
        baseline_comparisons=tuple(baseline_comparisons),
        compared=compared,
        comparison=comparisons_judged(result, decision.verdicts),
        generator_issues=generator_issues,
        overlapping_tests=overlapping_tests,
        capacity=capacity,
        sizing=sizing,
    )
