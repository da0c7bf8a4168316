"""Baselines: store a session's load results, and judge later runs against them.

What pytest-benchmark does for micro-benchmarks, for load gates: `--aks-save-baseline PATH` keeps
every load test's full result (encoded histograms included), `--aks-compare PATH` compares each
test with its stored result, and `--aks-max-regression "p95=10%,rps=5%,failure_rate=0.5pp"`
fails a test whose metric got worse by more than its tolerance.

A load test is a sample, so the same service measures a slightly different p95 every run. A
regression only counts when it is *significant*: the 95 % confidence intervals of baseline and
current run (confidence.py: order statistics for percentiles, batch means for rps, Wilson for the
failure rate) must be further apart than the tolerance. Requiring the intervals to separate makes
a false alarm on an unchanged service rarer than 1 in 40 per metric (each side errs the wrong way
with at most 2.5 %); a change beyond the tolerance whose intervals do not separate is reported as
"within noise" and does not fail.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_aksload.config.metrics import METRICS, PERCENTILE, PROPORTION, entry_of, format_metric_value, parse_metric
from pytest_aksload.config.tolerances import Tolerance
from pytest_aksload.stats.confidence import DEFAULT_CONFIDENCE
from pytest_aksload.stats.result import LoadResult, ResultFileError

BASELINE_FORMAT = "pytest-aksload-baseline/1"

# Metrics a baseline compares when no tolerance names them (shown, never failing): the registry's
# metrics that take a tolerance, of the percentiles the standard ones.
DEFAULT_METRICS = ("p50", "p95", "p99", *(e.name for e in METRICS if e.tolerances and e.name != PERCENTILE))

OK, NOISE, REGRESSED = "ok", "within noise", "REGRESSED"


class BaselineError(Exception):
    """A baseline file is missing, unreadable or not a pytest-aksload baseline."""


@dataclass(frozen=True)
class BaselineComparison:
    """One metric of one test: baseline and current value, their intervals and the judgement."""

    metric: str
    baseline: float
    now: float
    baseline_interval: tuple[float, float]
    now_interval: tuple[float, float]
    tolerance: Tolerance | None
    status: str  # OK, NOISE or REGRESSED

    @property
    def regressed(self) -> bool:
        return self.status == REGRESSED

    @property
    def change(self) -> str:
        if entry_of(self.metric).kind == PROPORTION:
            return f"{(self.now - self.baseline) * 100:+.2f}pp"
        if self.baseline == 0 or math.isnan(self.baseline) or math.isnan(self.now):
            return "n/a"
        return f"{(self.now / self.baseline - 1) * 100:+.1f}%"

    def describe(self) -> str:
        """One line: baseline, now, change, tolerance and whether the change is significant."""
        tolerance = "" if self.tolerance is None else f" (tolerance {self.tolerance})"
        baseline, now = format_metric_value(self.metric, self.baseline), format_metric_value(self.metric, self.now)
        line = f"{self.metric}: baseline {baseline}, now {now}, "
        line += f"change {self.change}{tolerance}"
        intervals = (
            f"{DEFAULT_CONFIDENCE:.0%} intervals {_show_interval(self.metric, self.baseline_interval)} "
            f"vs {_show_interval(self.metric, self.now_interval)}"
        )
        if self.status == REGRESSED:
            return f"{line}: REGRESSED, significant ({intervals})"
        if self.status == NOISE:
            return f"{line}: beyond tolerance but within noise ({intervals}), not failed"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "baseline": _json(self.baseline),
            "now": _json(self.now),
            "change": self.change,
            "baseline_interval": [_json(v) for v in self.baseline_interval],
            "now_interval": [_json(v) for v in self.now_interval],
            "tolerance": None if self.tolerance is None else str(self.tolerance),
            "status": self.status,
        }


def compare_with_baseline(
    baseline: LoadResult, now: LoadResult, tolerances: Mapping[str, Tolerance] | None = None
) -> list[BaselineComparison]:
    """Compare every tolerated metric (or DEFAULT_METRICS, informational) of `now` with `baseline`."""
    tolerances = dict(tolerances or {})
    metrics = list(tolerances) or list(DEFAULT_METRICS)
    return [_compare_metric(metric, baseline, now, tolerances.get(metric)) for metric in metrics]


def regression_message(comparisons: Sequence[BaselineComparison]) -> str | None:
    """The failure message when any comparison regressed significantly, else None."""
    regressed = [c for c in comparisons if c.regressed]
    if not regressed:
        return None
    lines = [f"regression against the baseline: {len(regressed)} of {len(comparisons)} metrics significantly worse"]
    return "\n".join(lines + [c.describe() for c in comparisons])


def _compare_metric(
    metric: str, baseline: LoadResult, now: LoadResult, tolerance: Tolerance | None
) -> BaselineComparison:
    base_value, base_interval = _estimate(metric, baseline)
    now_value, now_interval = _estimate(metric, now)
    status = OK
    if tolerance is not None:
        beyond, significant = _beyond_tolerance(metric, tolerance, base_value, base_interval, now_value, now_interval)
        if significant:
            status = REGRESSED
        elif beyond:
            status = NOISE
    return BaselineComparison(metric, base_value, now_value, base_interval, now_interval, tolerance, status)


def _beyond_tolerance(
    metric: str,
    tolerance: Tolerance,
    base_value: float,
    base_interval: tuple[float, float],
    now_value: float,
    now_interval: tuple[float, float],
) -> tuple[bool, bool]:
    """(point estimate worse than the tolerance allows, and significantly so)."""
    if entry_of(metric).higher_is_better:  # lower is worse; the tolerance is relative
        factor = 1 - tolerance.amount
        return now_value < base_value * factor, now_interval[1] < base_interval[0] * factor
    if tolerance.unit == "%":
        factor = 1 + tolerance.amount
        return now_value > base_value * factor, now_interval[0] > base_interval[1] * factor
    return now_value > base_value + tolerance.amount, now_interval[0] > base_interval[1] + tolerance.amount


def _estimate(metric: str, result: LoadResult) -> tuple[float, tuple[float, float]]:
    """Point estimate and confidence interval of `metric` over the measured (post-warm-up) part of `result`."""
    return parse_metric(metric).value_of(result), result.ci(metric, DEFAULT_CONFIDENCE)


def _show_interval(metric: str, interval: tuple[float, float]) -> str:
    return f"{format_metric_value(metric, interval[0])}..{format_metric_value(metric, interval[1])}"


def _json(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else value


# -- the baseline file -----------------------------------------------------------------------


def load(path: str | Path) -> dict[str, LoadResult]:
    """The stored results by test node id; BaselineError (one line) if the file is unusable."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BaselineError(f"cannot read baseline {path}: {error}") from None
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT or not isinstance(data.get("tests"), dict):
        raise BaselineError(f"{path} is not a pytest-aksload baseline (expected format {BASELINE_FORMAT!r})")
    results = {}
    for nodeid, entry in data["tests"].items():
        try:
            results[nodeid] = LoadResult.from_dict(entry["result"])
        except (ResultFileError, KeyError, TypeError) as error:
            raise BaselineError(f"baseline {path}, test {nodeid}: {error}") from None
    return results


def missing_entry(nodeid: str, path: str | Path) -> str:
    """The warning for a load test the `--aks-compare` baseline has no entry for."""
    return f"aksload: baseline {path} has no entry for {nodeid}: nothing compared (save one with --aks-save-baseline)"


def nothing_compared(path: str | Path, stored: Mapping[str, LoadResult], load_tests: int) -> str:
    """Why a session fails whose load tests the `--aks-compare` baseline has no entry for."""
    entries = ", ".join(sorted(stored)) or "none"
    return (
        f"aksload: --aks-compare {path}: none of this session's {load_tests} load test(s) has an entry in the "
        f"baseline, so nothing was compared (a regression gate that compares nothing is off); its entries: "
        f"{entries}. Compare the tests the baseline was saved from, or save a new one with --aks-save-baseline"
    )


def save(path: str | Path, entries: list[Mapping[str, Any]]) -> int:
    """Store the results of `entries` (report records with a "result"), keeping other tests
    already in the file, so a run of a subset of the gates updates only those. Returns how many."""
    path = Path(path)
    tests: dict[str, Any] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(old, dict) and old.get("format") == BASELINE_FORMAT and isinstance(old.get("tests"), dict):
                tests = old["tests"]
        except (OSError, ValueError):
            pass  # an unreadable old file is replaced, not merged
    saved = 0
    for entry in entries:
        if entry.get("result") is None:
            continue
        tests[entry["nodeid"]] = {"profile": entry["profile"], "target": entry.get("target"), "result": entry["result"]}
        saved += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    saved_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    document = {"format": BASELINE_FORMAT, "saved_at": saved_at, "tests": tests}
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, allow_nan=False), encoding="utf-8")
    temporary.replace(path)  # a crash mid-write must not destroy the previous baseline
    return saved
