"""The report record: the one JSON-safe account of a load test every output is drawn from.

Built once, on the process that ran the test, and carried to the xdist controller on the test's
report (pytest-xdist serialises a report's attributes). The terminal table, `summary.json`/`.md`,
JUnit properties, the HTML page and `--aks-save-baseline` all read records, never a `LoadResult`
or the pytest items, so a figure cannot differ between two outputs. Nothing in a record is NaN
(summary.json is written strictly), and nothing is a secret: the target's name, never its headers.
"""

from __future__ import annotations

import math
from typing import Any, TypedDict

from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.stats.result import LatencyStats, LoadResult
from pytest_aksload.verdicts.decision import GateOutcome
from pytest_aksload.verdicts.slo import SloVerdict

PASS, FAIL, INCONCLUSIVE, ERROR, SKIP, INTERRUPTED = "PASS", "FAIL", "INCONCLUSIVE", "ERROR", "SKIP", "INTERRUPTED"


class Record(TypedDict):
    nodeid: str
    profile: str  # LoadProfile.describe()
    verdict: str  # PASS, FAIL, INCONCLUSIVE, ERROR (nothing measured to the end), SKIP, INTERRUPTED
    target: str | None
    metrics: dict[str, Any] | None  # headline figures with their intervals; None without a result
    slos: list[dict[str, Any]]  # SloVerdict.to_dict() plus "passed" and "description"
    comparisons: list[dict[str, Any]]  # baseline Comparison.to_dict()
    compared: bool  # the --aks-compare baseline had an entry for this test
    generator_issues: list[str]
    overlapping_tests: list[str]
    capacity: dict[str, Any] | None
    locust_html: str | None  # file name inside the --aks-report directory
    result: dict[str, Any] | None  # LoadResult.to_dict(): the measurement, histograms included
    load: dict[str, Any] | None  # the load asked for (`load_shape`): users and spawn rate, or the offered rate
    baseline_spectrum: list[list[float]] | None  # `spectrum()` of the --aks-compare baseline's entry
    # Side by side: the other side's name and headline figures, each metric compared (LoadResult.comparison:
    # both values, ratio or difference, interval, verdict), and when the run was decided (None: ran to the end).
    against: dict[str, Any] | None
    side_by_side: list[dict[str, Any]]
    decided_at_s: float | None


def verdict_of(failed: bool, outcome: GateOutcome | None, *, failed_by_gate: bool) -> str:
    """The one word a report shows for a finished test. `failed_by_gate`: the test body passed
    and the gate's own conclusion failed it (so INCONCLUSIVE can be told from FAIL)."""
    if outcome is None:  # the load never ran to the end: a broken target or generator, or skipped
        return ERROR if failed else SKIP
    if not failed:
        return PASS
    return INCONCLUSIVE if failed_by_gate and outcome.inconclusive else FAIL


def build_record(
    nodeid: str,
    profile: str,
    verdict: str,
    *,
    target: str | None = None,
    outcome: GateOutcome | None = None,
    partial: LoadResult | None = None,
    locust_html: str | None = None,
    load_profile: LoadProfile | None = None,
    baseline: LoadResult | None = None,
    against: str | None = None,
) -> Record:
    """The record of one load test: from its gate outcome, or from the `partial` result of an
    interrupted load (no outcome), or from nothing when the load never ran. `load_profile`: what
    the marker asked for; `baseline`: the --aks-compare baseline's result for this test."""
    result = outcome.result if outcome is not None else partial
    gated = outcome.result if outcome is not None else None
    return Record(
        nodeid=nodeid,
        profile=profile,
        verdict=verdict,
        target=target,
        metrics=None if result is None else metrics(result, [] if gated is None else gated.generator_issues),
        slos=[] if outcome is None else [_slo(verdict) for verdict in outcome.verdicts],
        comparisons=[] if outcome is None else [comparison.to_dict() for comparison in outcome.comparisons],
        compared=outcome is not None and outcome.compared,
        generator_issues=[] if gated is None else list(gated.generator_issues),
        overlapping_tests=[] if gated is None else list(gated.overlapping_tests),
        capacity=None if gated is None else gated.capacity,
        locust_html=locust_html,
        result=None if result is None else _measurement(result),
        load=None if load_profile is None else load_shape(load_profile),
        baseline_spectrum=None if baseline is None else spectrum(baseline),
        against=_other_side(result, against),
        side_by_side=[] if result is None else [c.to_dict() for c in result.comparison.values()],
        decided_at_s=None if result is None else result.decided_at_s,
    )


def _other_side(result: LoadResult | None, name: str | None) -> dict[str, Any] | None:
    if result is None or result.against is None:
        return None
    return {"name": name or "the other side", "metrics": metrics(result.against, [])}


def metrics(result: LoadResult, generator_issues: list[str]) -> dict[str, Any]:
    """Headline figures (JSON-safe: an undefined statistic is None), failures by kind, intervals."""
    return {
        **result.summary(),
        "failures_by_kind": result.failures_by_kind,
        "ci": result.cis(),
        "generator_issues": list(generator_issues),
    }


def _slo(verdict: SloVerdict) -> dict[str, Any]:
    return {**verdict.to_dict(), "passed": verdict.passed, "description": verdict.describe()}


def _measurement(result: LoadResult) -> dict[str, Any]:
    # The measurement alone: a GatedResult's own fields are in the record itself.
    return LoadResult.to_dict(result)


def load_shape(profile: LoadProfile) -> dict[str, Any]:
    """What the load asked for, for the page's throughput chart: `model` "closed" (Locust's `users`
    ramping up at `spawn_rate`), "open" (the offered `rate`) or "capacity" (a rate searched step by step)."""
    model = "capacity" if profile.capacity is not None else "closed" if profile.rate is None else "open"
    return {"model": model, "users": profile.users, "spawn_rate": profile.spawn_rate, "rate": profile.rate}


# The percentile spectrum's points: q = 0 and 1 - 10^(-k/10) for k = 1..40, i.e. evenly spaced on the
# classic HdrHistogram "1/(1-q)" log axis from p0 to p99.99.
SPECTRUM_QUANTILES = (0.0, *(round(100.0 * (1.0 - 10.0 ** (-k / 10.0)), 6) for k in range(1, 41)))


def spectrum(stats: LatencyStats) -> list[list[float]]:
    """[q, ms] pairs of the latency percentile spectrum (empty without requests): nearest-rank
    percentiles from the exact histogram, so the curve ends at the slowest recorded request."""
    if not stats.requests:
        return []
    values = [stats.percentile(q) for q in SPECTRUM_QUANTILES]
    return [[q, round(ms, 3)] for q, ms in zip(SPECTRUM_QUANTILES, values, strict=True) if not math.isnan(ms)]
