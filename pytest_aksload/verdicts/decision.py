"""From a measurement to the test's outcome: generator health, early abort, the INCONCLUSIVE policy,
an empty run and the baseline comparison, gathered in one read-only `GateOutcome`.

`--aks-inconclusive` decides what an INCONCLUSIVE verdict does: `fail` (the default: a deployment
gate that cannot show the service meets its objectives must not let it through; a flaky FAIL costs
a re-run, a wrong PASS costs an incident), `pass` (with a warning; for exploratory runs), or
`extend` (keep loading, up to the marker's `max_duration=`, until every verdict is decided; see
extend.py). A FAIL always fails, whatever the policy. A capacity search is judged with `pass`:
it stops where the objectives sit at their edge, so INCONCLUSIVE there is the finding, not doubt
(the gate is the test's assertion on `capacity_rps`; the warning still shows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.stats import steady_state
from pytest_aksload.stats.result import GatedResult, LoadResult
from pytest_aksload.verdicts import health
from pytest_aksload.verdicts.baseline import Comparison, regression_message
from pytest_aksload.verdicts.diagnosis import failure_lines
from pytest_aksload.verdicts.slo import FAIL, INCONCLUSIVE, SloVerdict, comparisons_judged, evaluate, format_verdicts


@dataclass(frozen=True)
class Decision:
    verdicts: list[SloVerdict]
    failure: str | None  # the test's failure message, None when it passes
    warning: str | None  # said when INCONCLUSIVE verdicts were let pass (--aks-inconclusive=pass)


@dataclass(frozen=True)
class GateOutcome:
    """Everything the gate concluded about one load test (`run.gate.run_gate`); read-only.

    `result` is what the test body gets as `load_result`; `failure` is the whole message the test
    fails with after its body passed (None: the gate lets it pass); `warnings` are shown as
    pytest warnings; `compared` says whether the `--aks-compare` baseline had an entry for the test.
    """

    result: GatedResult
    verdicts: tuple[SloVerdict, ...] = ()
    failure: str | None = None
    inconclusive: bool = False  # the failure is INCONCLUSIVE verdicts failed by the policy, nothing worse
    warnings: tuple[str, ...] = ()
    comparisons: tuple[Comparison, ...] = ()
    compared: bool = False


def prepare(result: LoadResult, profile: LoadProfile) -> GatedResult:
    """The child's result made ready to judge: warm-up cut (warmup="auto") and generator health checked."""
    if profile.warmup_auto:
        result = steady_state.apply_auto_warmup(result)
    return GatedResult(result, generator_issues=health.generator_issues(result, profile))


def _generator_issues(result: LoadResult) -> Sequence[str]:
    return result.generator_issues if isinstance(result, GatedResult) else ()


def judge(profile: LoadProfile, result: LoadResult) -> list[SloVerdict]:
    """The marker's SLO verdicts, all INCONCLUSIVE when the load generator was unhealthy (`prepare`).

    A run judged while it ran (`result.looks`, a side-by-side gate that may stop early) is judged at
    its last look's level, `sequential.look_confidence`: judging it at the plain level would spend
    the error rate the looks already spent (`LoadResult.judging_confidence`)."""
    return health.doubt(evaluate(profile.slos, result, result.judging_confidence), _generator_issues(result))


def undecided(verdicts: Sequence[SloVerdict]) -> bool:
    """True when more load could change the outcome: something INCONCLUSIVE and nothing FAILed."""
    return any(v.verdict == INCONCLUSIVE for v in verdicts) and not any(v.verdict == FAIL for v in verdicts)


def policy_for(profile: LoadProfile, policy: str) -> str:
    """The INCONCLUSIVE policy this test is judged with (a capacity search: always `pass`)."""
    return "pass" if profile.capacity is not None else policy


def decide(profile: LoadProfile, result: LoadResult, policy: str) -> Decision:
    """The outcome of one load test under `policy` (fail | pass | extend)."""
    verdicts = judge(profile, result)
    if result.aborted is not None:
        return Decision(
            verdicts, f"load aborted early after {result.aborted['at_s']:g}s: {result.aborted['reason']}", None
        )
    failed = [v for v in verdicts if v.verdict == FAIL]
    unsure = [v for v in verdicts if v.verdict == INCONCLUSIVE]
    table = format_verdicts(verdicts)
    if failed:
        return Decision(verdicts, f"{len(failed)} of {len(verdicts)} SLOs violated ({result!r})\n{table}", None)
    if not unsure:
        return Decision(verdicts, None, None)
    if policy == "pass":
        return Decision(verdicts, None, f"{len(unsure)} SLOs INCONCLUSIVE, passed by --aks-inconclusive=pass\n{table}")
    if _generator_issues(result):
        hint = "the load generator was the bottleneck: give it more CPU, or spread the load with workers="
    elif policy == "extend":
        hint = "the load ran to max_duration without deciding"
    else:
        hint = "run longer, or use --aks-inconclusive=extend with max_duration="
    return Decision(verdicts, f"{len(unsure)} of {len(verdicts)} SLOs INCONCLUSIVE ({hint}; {result!r})\n{table}", None)


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


def conclude(
    profile: LoadProfile,
    result: GatedResult,
    policy: str,
    comparisons: Sequence[Comparison] = (),
    *,
    compared: bool = False,
    warnings: Sequence[str] = (),
    throttling: str | None = None,
) -> GateOutcome:
    """The outcome of one load test: its SLO decision (if it has SLOs or was aborted), an empty run
    failed as such, and a significant baseline regression, in one failure message. `throttling`:
    the deployment's in-flight ceiling, which throttling failures' hint quotes (run/preload.py)."""
    decision = (
        decide(profile, result, policy_for(profile, policy))
        if profile.slos or result.aborted is not None
        else Decision([], None, None)
    )
    parts = [message for message in (nothing_measured(result), decision.failure) if message]
    if decision.failure is not None:
        causes = "".join(f"\n  {line}" for line in failure_lines(result, throttling=throttling))
        parts[-1] += f"\nmost frequent failures:{causes}" if causes else ""
        parts[-1] += mismatch_lines(result)
    regression = regression_message(list(comparisons))
    failure = "\n".join(parts + ([regression] if regression else [])) or None
    only_undecided = decision.failure is not None and undecided(decision.verdicts) and result.requests > 0
    if result.against is not None:  # side by side: each compared metric with the verdict of its objective
        result = result.with_comparison(comparisons_judged(result, decision.verdicts))
    return GateOutcome(
        result=result,
        verdicts=tuple(decision.verdicts),
        failure=failure,
        inconclusive=only_undecided and regression is None,
        warnings=tuple(warnings) + ((decision.warning,) if decision.warning else ()),
        comparisons=tuple(comparisons),
        compared=compared,
    )
