"""The report record: the one JSON-safe account of a load test every output is drawn from.

Built once, on the process that ran the test, and carried to the xdist controller on the test's
report (pytest-xdist serialises a report's attributes). The terminal table, `summary.json`/`.md`,
the per-test result files, JUnit properties, the HTML page, Azure Pipelines and
`--aks-save-baseline` all read records, never a `LoadResult` or the pytest items, so a figure
cannot differ between two outputs. Each figure is stored once: the headline numbers in `metrics`,
the raw measurement (histograms included, no derived summary) in `result`, the side-by-side figures
in `against`/`side_by_side`; `result_document` joins them into the `LoadResult.to_dict()` form.
Nothing in a record is NaN (summary.json is written strictly), and nothing is a secret: the
target's name, never its headers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypedDict

from pytest_aksload.config.metrics import LATENCY, parse_metric
from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.redact import redact
from pytest_aksload.stats.latency_stats import LatencyStats
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.targets.deployment import FIELDS, Deployment, deployment_fields, describe
from pytest_aksload.verdicts.gated import GatedResult
from pytest_aksload.verdicts.slo import FAIL, INCONCLUSIVE, PASS, SloVerdict

ERROR, SKIP, INTERRUPTED = "ERROR", "SKIP", "INTERRUPTED"


class Record(TypedDict):
    nodeid: str
    profile: str  # LoadProfile.describe()
    verdict: str  # PASS, FAIL, INCONCLUSIVE, ERROR (nothing measured to the end), SKIP, INTERRUPTED
    target: str | None
    metrics: dict[str, Any] | None  # LoadResult.figures(): headline figures with their intervals; None without a result
    slos: list[dict[str, Any]]  # SloVerdict.to_dict() plus "passed", "description" and "run_ci" (below)
    comparisons: list[dict[str, Any]]  # BaselineComparison.to_dict()
    compared: bool  # the --aks-compare baseline had an entry for this test
    generator_issues: list[str]
    overlapping_tests: list[str]
    capacity: dict[str, Any] | None
    sizing: dict[str, Any] | None  # Sizing.to_dict() plus its "sentence"; None without a capacity search
    locust_html: str | None  # file name inside the --aks-report directory
    result: dict[str, Any] | None  # LoadResult.result_file(): the measurement, histograms included
    timeline: list[dict[str, Any]]  # per recorded window (warm-up included): `window_figures`
    spectrum: list[list[float]]  # `spectrum()` of this run
    load: dict[str, Any] | None  # the load asked for (`load_shape`): users and spawn rate, or the offered rate
    baseline_spectrum: list[list[float]] | None  # `spectrum()` of the --aks-compare baseline's entry
    # Side by side: the other side's name, headline figures, timeline and spectrum; each metric compared
    # (GatedResult.comparison: both values, ratio or difference, interval, verdict), and when the run
    # was decided (None: ran to the end).
    against: dict[str, Any] | None
    side_by_side: list[dict[str, Any]]
    decided_at_s: float | None
    deployment: dict[str, Any] | None  # deployment_fields() of the target's deployment; None: it tells none
    warnings: list[str]  # the gate's warnings (the checks before the load included); never change a verdict
    run_id: str | None  # LoadResult.run_id: every request's x-ms-client-request-id starts with it


def verdict_of(failed: bool, gated: GatedResult | None, *, failed_by_gate: bool) -> str:
    """The one word a report shows for a finished test. `failed_by_gate`: the test body passed
    and the gate's own conclusion failed it (so INCONCLUSIVE can be told from FAIL)."""
    if gated is None:  # the load never ran to the end: a broken target or generator, or skipped
        return ERROR if failed else SKIP
    if not failed:
        return PASS
    return INCONCLUSIVE if failed_by_gate and gated.inconclusive else FAIL


def build_record(
    nodeid: str,
    profile: str,
    verdict: str,
    *,
    target: str | None = None,
    gated: GatedResult | None = None,
    partial: LoadResult | None = None,
    locust_html: str | None = None,
    load_profile: LoadProfile | None = None,
    baseline: LoadResult | None = None,
    against: str | None = None,
    deployment: Deployment | None = None,
) -> Record:
    """The record of one load test: from its gated result, or from the `partial` result of an
    interrupted load (nothing gated), or from nothing when the load never ran. `load_profile`: what
    the marker asked for; `baseline`: the --aks-compare baseline's result for this test;
    `deployment`: the target's (`aks_target.deployment`)."""
    result = gated.measurement if gated is not None else partial
    return Record(
        nodeid=nodeid,
        profile=profile,
        verdict=verdict,
        target=target,
        metrics=None if result is None else result.figures(),
        slos=[] if gated is None else [_slo(verdict, gated.measurement) for verdict in gated.verdicts],
        comparisons=[] if gated is None else [comparison.to_dict() for comparison in gated.baseline_comparisons],
        compared=gated is not None and gated.compared,
        generator_issues=[] if gated is None else list(gated.generator_issues),
        overlapping_tests=[] if gated is None else list(gated.overlapping_tests),
        capacity=None if gated is None else gated.capacity,
        sizing=_sizing(gated),
        locust_html=locust_html,
        result=None if result is None else result.result_file(),
        timeline=[] if result is None else window_figures(result),
        spectrum=[] if result is None else spectrum(result),
        load=None if load_profile is None else load_shape(load_profile),
        baseline_spectrum=None if baseline is None else spectrum(baseline),
        against=_other_side(result, against),
        side_by_side=_side_by_side(gated, result),
        decided_at_s=None if result is None else result.decided_at_s,
        deployment=None if deployment is None else deployment_fields(deployment),
        warnings=[] if gated is None else [redact(warning) for warning in gated.warnings],
        run_id=(result.run_id or None) if result is not None else None,
    )


def deployment_line(fields: Mapping[str, Any]) -> str:
    """`describe()` of a record's deployment (its `deployment_fields`), for the outputs' one line."""
    known = {name: fields[name] for name in FIELDS if fields.get(name) is not None}
    return describe(
        Deployment(kind=fields["kind"], **known, sources=fields.get("sources") or {}, note=fields.get("note"))
    )


def known_deployment_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The record's deployment fields that are known (kind, each field read, the note), in `FIELDS` order."""
    known = {name: fields.get(name) for name in ("kind", *FIELDS, "note")}
    return {name: value for name, value in known.items() if value is not None}


def _sizing(gated: GatedResult | None) -> dict[str, Any] | None:
    if gated is None or gated.sizing is None:
        return None
    return {**gated.sizing.to_dict(), "sentence": gated.sizing.sentence()}


def _other_side(result: LoadResult | None, name: str | None) -> dict[str, Any] | None:
    if result is None or result.against is None:
        return None
    other = result.against
    return {
        "name": name or "the other side",
        "metrics": result.other_side_figures(),
        "timeline": window_figures(other),
        "spectrum": spectrum(other),
    }


def _side_by_side(gated: GatedResult | None, result: LoadResult | None) -> list[dict[str, Any]]:
    """Each metric of both sides: judged when the gate judged it, else as measured (an interrupted run)."""
    comparison = gated.comparison if gated is not None else {} if result is None else result.comparison
    return [c.to_dict() for c in comparison.values()]


def _slo(verdict: SloVerdict, result: LoadResult) -> dict[str, Any]:
    """The verdict, plus for a latency objective the whole-run interval of its metric (`run_ci`, the
    page's band; None: not a latency objective, or nothing measured)."""
    metric = parse_metric(verdict.slo.metric)
    run_ci = None
    if metric.kind == LATENCY and not metric.entry.exact and result.requests:
        run_ci = [_number(bound) for bound in result.ci(metric.name)]
    return {**verdict.to_dict(), "passed": verdict.passed, "description": verdict.describe(), "run_ci": run_ci}


def window_figures(result: LoadResult) -> list[dict[str, Any]]:
    """Per recorded window (warm-up included): where it ends, its requests, failures (by kind when the
    child detailed the windows), rps, p50/p95/p99 and the % of checked rows predicted wrong; JSON-safe."""
    return [
        {
            "end_s": round(w.start_offset_s + w.duration_s, 3),
            "requests": w.requests,
            "failures": w.failures,
            "failures_by_kind": w.failures_by_kind,
            "rps": _number(w.rps),
            "p50_ms": _number(w.p50_ms),
            "p95_ms": _number(w.p95_ms),
            "p99_ms": _number(w.p99_ms),
            "mismatch_percent": _number(100.0 * w.mismatch_rate),
        }
        for w in result.timeline
    ]


def result_document(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The test's result in `LoadResult.to_dict()` form (what `LoadResult.from_file` reads back), from
    the record alone; None without a result."""
    if record["result"] is None:
        return None
    summary = dict(record["metrics"] or {})
    if record["against"] is not None:
        compared = {row["metric"]: row for row in record["side_by_side"]}
        summary["against"] = record["against"]["metrics"]
        summary["agreement"] = compared["agreement"]["value"] if "agreement" in compared else None
        summary["comparison"] = compared
    return {**record["result"], "summary": summary}


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


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
