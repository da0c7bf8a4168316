"""Baselines without a run: the tolerance grammar, the comparison of two results whose latencies
the test chooses (an unchanged service passes, a significant regression fails, a change the
intervals cannot tell from noise is reported and passes) and the saved file. Live sessions that
save and compare are in tests/live/test_baseline.py; how often real runs of an unchanged service
raise a false alarm is measured by bench/baseline_noise.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic_results import result_from_windows

from pytest_aksload.config.tolerances import parse_tolerances
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts.baseline import NOISE, OK, REGRESSED, compare, regression_message

# 20..58 ms, 100 requests a second for 10 s, no failures.
SPREAD_US = [20_000 + 2_000 * (i % 20) for i in range(100)]


def run(scale: float = 1.0, *, windows: int = 10, per_window: int = 100, failures: int = 0) -> LoadResult:
    """A run of `windows` 1 s windows of `per_window` requests; all `failures` in the first one."""
    latencies = [round(us * scale) for us in SPREAD_US * (per_window // 100 + 1)][:per_window]
    return result_from_windows([(latencies, failures)] + [(latencies, 0)] * (windows - 1))


def test_tolerance_grammar() -> None:
    parsed = parse_tolerances("p95=10%, p99.9=50ms,rps=5%,failure_rate=0.5pp")
    assert {name: (t.amount, t.unit) for name, t in parsed.items()} == {
        "p95": (0.10, "%"),
        "p99.9": (50.0, "ms"),
        "rps": (0.05, "%"),
        "failure_rate": (0.005, "pp"),
    }
    for bad in ("p95=10", "rps=5ms", "failure_rate=1%", "mean=10%", "p101=1%", ""):
        with pytest.raises(ValueError):
            parse_tolerances(bad)


def test_saving_keeps_other_tests_of_the_baseline(tmp_path: Path) -> None:
    from pytest_aksload.verdicts.baseline import save

    path = tmp_path / "b.json"
    entry = {"nodeid": "t.py::a", "profile": "p", "target": "x", "result": {"format": "stub"}}
    save(path, [entry])
    save(path, [{**entry, "nodeid": "t.py::b"}, {**entry, "nodeid": "t.py::c", "result": None}])
    assert sorted(json.loads(path.read_text())["tests"]) == ["t.py::a", "t.py::b"]


def statuses(baseline: LoadResult, now: LoadResult, tolerances: str) -> dict[str, str]:
    return {c.metric: c.status for c in compare(baseline, now, parse_tolerances(tolerances))}


def test_an_unchanged_service_passes() -> None:
    comparisons = compare(run(), run(), parse_tolerances("p95=10%,p50=1ms,rps=5%,failure_rate=0.5pp"))
    assert [c.status for c in comparisons] == [OK] * 4 and regression_message(comparisons) is None


def test_a_significant_regression_fails_naming_the_metric() -> None:
    comparisons = compare(run(), run(1.3), parse_tolerances("p95=10%,rps=5%"))
    assert [c.status for c in comparisons] == [REGRESSED, OK]
    message = regression_message(comparisons) or ""
    assert message.splitlines()[0] == "regression against the baseline: 1 of 2 metrics significantly worse"
    assert "p95: baseline 56.0ms, now 72.8ms, change +30.0% (tolerance +10%): REGRESSED, significant" in message


def test_a_change_beyond_the_tolerance_within_noise_is_reported_and_passes() -> None:
    """60 requests a side: p95 is 15 % worse, but each interval spans most of the spread."""
    small = {"windows": 1, "per_window": 60}
    (comparison,) = compare(run(**small), run(1.15, **small), parse_tolerances("p95=10%"))
    assert comparison.status == NOISE and not comparison.regressed
    assert comparison.describe().endswith("not failed") and "within noise (95% intervals" in comparison.describe()
    assert regression_message([comparison]) is None


@pytest.mark.parametrize(
    ("tolerance", "now", "status"),
    [
        ("p95=20ms", run(1.3), OK),  # +16.8 ms
        ("p95=10ms", run(1.3), REGRESSED),
        ("failure_rate=0.5pp", run(failures=5), OK),  # 0.5 % of 1000: at the tolerance, not beyond
        ("failure_rate=0.5pp", run(failures=20), REGRESSED),  # 2 %: Wilson 1.3-3.1 % vs 0-0.4 %
        ("rps=5%", run(per_window=96), OK),  # 100/s -> 96/s
        ("rps=5%", run(per_window=80), REGRESSED),  # lower is worse for throughput
    ],
)
def test_absolute_and_relative_tolerances(tolerance: str, now: LoadResult, status: str) -> None:
    assert statuses(run(), now, tolerance) == {tolerance.split("=")[0]: status}
