"""Baseline comparison with absolute tolerances (`ms` for latency, `pp` for the failure rate) and
the "within noise" path: a change beyond the tolerance that the 95 % intervals cannot confirm is
reported and does not fail. Synthetic results, so what is significant is known in advance."""

from __future__ import annotations

import pytest
from synthetic_results import result_from_windows, steady_result

from pytest_aksload.config.tolerances import parse_tolerances
from pytest_aksload.verdicts.baseline import NOISE, OK, REGRESSED, compare, regression_message

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

    (p95,) = compare(baseline, now, {"p95": TOLERANCES["p95"]})

    assert p95.status == status
    assert p95.now == pytest.approx(now_ms, rel=0.02)
    assert (regression_message([p95]) is not None) is (status == REGRESSED)


def test_latency_beyond_the_tolerance_on_too_few_requests_is_within_noise() -> None:
    # Ten requests a side: p95 is their maximum, and its interval reaches to the unbounded side,
    # so +40 ms is reported but cannot be shown to exceed 20 ms.
    baseline = result_from_windows([([40_000 + 1_000 * i for i in range(10)], 0)])
    now = result_from_windows([([80_000 + 1_000 * i for i in range(10)], 0)])

    (p95,) = compare(baseline, now, {"p95": TOLERANCES["p95"]})

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

    (failure_rate,) = compare(baseline, now, {"failure_rate": TOLERANCES["failure_rate"]})

    assert failure_rate.status == status
    assert failure_rate.change == f"{failures / 10:+.2f}pp"
    if status == NOISE:
        assert failure_rate.now > failure_rate.baseline + 0.005  # beyond the tolerance ...
        assert failure_rate.now_interval[0] <= failure_rate.baseline_interval[1] + 0.005  # ... not significantly


def test_only_regressed_metrics_fail_and_the_message_lists_every_metric() -> None:
    baseline = steady_result(50_000)
    now = steady_result(80_000, failures=8)

    comparisons = compare(baseline, now, TOLERANCES)

    assert [(c.metric, c.status) for c in comparisons] == [("p95", REGRESSED), ("failure_rate", NOISE)]
    message = regression_message(comparisons)
    assert message is not None
    assert message.splitlines()[0] == "regression against the baseline: 1 of 2 metrics significantly worse"
    assert "p95: baseline 50." in message and "failure_rate: baseline 0.00%, now 0.80%" in message
