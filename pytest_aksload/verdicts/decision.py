"""From SLO verdicts to the test's outcome: generator health, early abort and the INCONCLUSIVE policy.

`--aks-inconclusive` decides what an INCONCLUSIVE verdict does: `fail` (the default: a deployment
gate that cannot show the service meets its objectives must not let it through; a flaky FAIL costs
a re-run, a wrong PASS costs an incident), `pass` (with a warning; for exploratory runs), or
`extend` (keep loading, up to the marker's `max_duration=`, until every verdict is decided; see
extend.py). A FAIL always fails, whatever the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.stats import steady_state
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts import health
from pytest_aksload.verdicts.slo import FAIL, INCONCLUSIVE, SloVerdict, evaluate, format_verdicts


@dataclass(frozen=True)
class Decision:
    verdicts: list[SloVerdict]
    failure: str | None  # the test's failure message, None when it passes
    warning: str | None  # said when INCONCLUSIVE verdicts were let pass (--aks-inconclusive=pass)


def prepare(result: LoadResult, profile: LoadProfile) -> LoadResult:
    """The child's result made ready to judge: warm-up cut (warmup="auto") and generator health checked."""
    if profile.warmup_auto:
        result = steady_state.apply_auto_warmup(result)
    result.generator_issues = health.generator_issues(result, profile)
    return result


def judge(profile: LoadProfile, result: LoadResult) -> list[SloVerdict]:
    """The marker's SLO verdicts, all INCONCLUSIVE when the load generator was unhealthy."""
    return health.doubt(evaluate(profile.slos, result), result.generator_issues)


def undecided(verdicts: Sequence[SloVerdict]) -> bool:
    """True when more load could change the outcome: something INCONCLUSIVE and nothing FAILed."""
    return any(v.verdict == INCONCLUSIVE for v in verdicts) and not any(v.verdict == FAIL for v in verdicts)


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
    if result.generator_issues:
        hint = "the load generator was the bottleneck: give it more CPU, or spread the load with workers="
    elif policy == "extend":
        hint = "the load ran to max_duration without deciding"
    else:
        hint = "run longer, or use --aks-inconclusive=extend with max_duration="
    return Decision(verdicts, f"{len(unsure)} of {len(verdicts)} SLOs INCONCLUSIVE ({hint}; {result!r})\n{table}", None)
