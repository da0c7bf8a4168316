"""Baselines without a run: the tolerance grammar, the comparison of two results whose latencies
the test chooses (an unchanged service passes, a significant regression fails, a change the
intervals cannot tell from noise is reported and passes) and the saved file. Live sessions that
save and compare are in tests/live/test_baseline.py; how often real runs of an unchanged service
raise a false alarm is measured by bench/baseline_noise.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic_results import result_from_windows, steady_result

from pytest_aksload.config.tolerances import parse_tolerances
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts.baseline import NOISE, OK, REGRESSED, compare_with_baseline, regression_message

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
    return {c.metric: c.status for c in compare_with_baseline(baseline, now, parse_tolerances(tolerances))}


def test_an_unchanged_service_passes() -> None:
    comparisons = compare_with_baseline(run(), run(), parse_tolerances("p95=10%,p50=1ms,rps=5%,failure_rate=0.5pp"))
    assert [c.status for c in comparisons] == [OK] * 4 and regression_message(comparisons) is None


def test_a_significant_regression_fails_naming_the_metric() -> None:
    comparisons = compare_with_baseline(run(), run(1.3), parse_tolerances("p95=10%,rps=5%"))
    assert [c.status for c in comparisons] == [REGRESSED, OK]
    message = regression_message(comparisons) or ""
    assert message.splitlines()[0] == "regression against the baseline: 1 of 2 metrics significantly worse"
    assert "p95: baseline 56.0ms, now 72.8ms, change +30.0% (tolerance +10%): REGRESSED, significant" in message


def test_a_change_beyond_the_tolerance_within_noise_is_reported_and_passes() -> None:
    """60 requests a side: p95 is 15 % worse, but each interval spans most of the spread."""
    small = {"windows": 1, "per_window": 60}
    (comparison,) = compare_with_baseline(run(**small), run(1.15, **small), parse_tolerances("p95=10%"))
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


# -- absolute tolerances (ms for latency, pp for the failure rate) and the within-noise path --

TOLERANCES = parse_tolerances("p95=20ms,failure_rate=0.5pp")


def test_absolute_tolerances_parse_to_ms_and_fraction_points() -> None:
    assert (TOLERANCES["p95"].amount, TOLERANCES["p95"].unit) == (20.0, "ms")
    assert TOLERANCES["failure_rate"].amount == pytest.approx(0.005) and TOLERANCES["failure_rate"].unit == "pp"
    assert str(TOLERANCES["p95"]) == "+20ms" and str(TOLERANCES["failure_rate"]) == "+0.5pp"


@pytest.mark.parametrize(
    ("now_ms", "status"),
    [
        (50.0, OK),  # unchanged
        (65.0, OK),  # +15 ms: worse, but within the 20 ms allowed
        (80.0, REGRESSED),  # +30 ms with 1,000 requests a side: beyond doubt
    ],
)
def test_latency_ms_tolerance(now_ms: float, status: str) -> None:
    baseline, now = steady_result(50_000), steady_result(int(now_ms * 1000))

    (p95,) = compare_with_baseline(baseline, now, {"p95": TOLERANCES["p95"]})

    assert p95.status == status
    assert p95.now == pytest.approx(now_ms, rel=0.02)
    assert (regression_message([p95]) is not None) is (status == REGRESSED)


def test_latency_beyond_the_tolerance_on_too_few_requests_is_within_noise() -> None:
    # Ten requests a side: p95 is their maximum, and its interval reaches to the unbounded side,
    # so +40 ms is reported but cannot be shown to exceed 20 ms.
    baseline = result_from_windows([([40_000 + 1_000 * i for i in range(10)], 0)])
    now = result_from_windows([([80_000 + 1_000 * i for i in range(10)], 0)])

    (p95,) = compare_with_baseline(baseline, now, {"p95": TOLERANCES["p95"]})

    assert p95.status == NOISE and not p95.regressed
    assert p95.now - p95.baseline > TOLERANCES["p95"].amount
    assert regression_message([p95]) is None
    assert "beyond tolerance but within noise" in p95.describe() and "not failed" in p95.describe()


@pytest.mark.parametrize(
    ("failures", "status"),
    [
        (0, OK),
        (4, OK),  # of 1,000 requests: +0.4 pp, inside 0.5 pp
        (8, NOISE),  # +0.8 pp, but the Wilson intervals of 0 and 8 in 1,000 are not 0.5 pp apart
        (30, REGRESSED),  # +3 pp: beyond doubt
    ],
)
def test_failure_rate_pp_tolerance(failures: int, status: str) -> None:
    baseline = steady_result(50_000)
    now = steady_result(50_000, failures=failures)

    (failure_rate,) = compare_with_baseline(baseline, now, {"failure_rate": TOLERANCES["failure_rate"]})

    assert failure_rate.status == status
    assert failure_rate.change == f"{failures / 10:+.2f}pp"
    if status == NOISE:
        assert failure_rate.now > failure_rate.baseline + 0.005  # beyond the tolerance ...
        assert failure_rate.now_interval[0] <= failure_rate.baseline_interval[1] + 0.005  # ... not significantly


def test_only_regressed_metrics_fail_and_the_message_lists_every_metric() -> None:
    baseline = steady_result(50_000)
    now = steady_result(80_000, failures=8)

    comparisons = compare_with_baseline(baseline, now, TOLERANCES)

    assert [(c.metric, c.status) for c in comparisons] == [("p95", REGRESSED), ("failure_rate", NOISE)]
    message = regression_message(comparisons)
    assert message is not None
    assert message.splitlines()[0] == "regression against the baseline: 1 of 2 metrics significantly worse"
    assert "p95: baseline 50." in message and "failure_rate: baseline 0.00%, now 0.80%" in message
