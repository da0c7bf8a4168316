"""One metric vocabulary: the name parser and the value formatter every objective, tolerance and
report goes through, and the one confidence default."""

from __future__ import annotations

import math
import re

import pytest

from pytest_aksload.config.metrics import (
    FAILURE_RATE,
    LATENCY,
    REQUESTS,
    RPS,
    Metric,
    MetricError,
    format_metric_value,
    parse_metric,
)
from pytest_aksload.config.objectives import SloError, parse_slo
from pytest_aksload.config.tolerances import parse_tolerances
from pytest_aksload.stats import confidence
from pytest_aksload.verdicts import baseline, slo


@pytest.mark.parametrize(
    ("name", "metric"),
    [
        ("p95", Metric("p95", LATENCY, 95.0)),
        ("P95", Metric("p95", LATENCY, 95.0)),
        ("p95.0", Metric("p95", LATENCY, 95.0)),
        ("p099.90", Metric("p99.9", LATENCY, 99.9)),
        ("p100", Metric("max", LATENCY)),
        ("mean", Metric("mean", LATENCY)),
        ("MAX", Metric("max", LATENCY)),
        ("failure_rate", Metric("failure_rate", FAILURE_RATE)),
        ("rps", Metric("rps", RPS)),
        ("requests", Metric("requests", REQUESTS)),
    ],
)
def test_names_parse_to_one_canonical_metric(name: str, metric: Metric) -> None:
    assert parse_metric(name) == metric


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("p95ms", "unknown metric 'p95ms'; valid metrics: p<q> (e.g. p50, p95, p99.9), mean, max, failure_rate, rps"),
        ("latency", "unknown metric 'latency'"),
        ("p0", "quantile 'p0' is out of range; use p<q> with 0 < q <= 100"),
        ("p100.5", "quantile 'p100.5' is out of range"),
        ("p" + "9" * 5000, "is out of range"),
    ],
)
def test_an_unknown_name_says_which_are_valid(name: str, message: str) -> None:
    with pytest.raises(MetricError, match=re.escape(message)):
        parse_metric(name)
    assert issubclass(MetricError, ValueError)


@pytest.mark.parametrize(
    ("metric", "value", "sign", "shown"),
    [
        ("p95", 412.345, "", "412.3ms"),
        ("mean", 0.04, "", "0.0ms"),
        ("p99.9", -12.0, "+", "-12.0ms"),
        ("max", 3.0, "+", "+3.0ms"),
        ("failure_rate", 0.002, "", "0.20%"),
        ("failure_rate", -0.0005, "+", "-0.05%"),
        ("rps", 104.25, "", "104.2/s"),
        ("requests", 1000.0, "", "1000"),
        ("requests", 12.0, "+", "+12"),
        ("p95", math.nan, "", "n/a"),
        ("rps", None, "", "n/a"),
        ("p99", math.inf, "", "unbounded"),
    ],
)
def test_values_show_in_their_metric_s_form(metric: str, value: float | None, sign: str, shown: str) -> None:
    assert format_metric_value(metric, value, sign) == shown


def test_objectives_tolerances_and_reports_share_the_vocabulary() -> None:
    # The same spelling of a percentile means the same metric everywhere.
    assert parse_slo("P95.0 < 300ms").metric == "p95"
    assert list(parse_tolerances("P95.0=10%")) == ["p95"]
    # An unknown metric is the same one-line message, prefixed with where it was written.
    with pytest.raises(SloError, match=r"^slo 'latency < 3s': unknown metric 'latency'; valid metrics: "):
        parse_slo("latency < 3s")


def test_one_confidence_default() -> None:
    assert confidence.DEFAULT_CONFIDENCE == 0.95
    assert slo.evaluate.__defaults__ == (confidence.DEFAULT_CONFIDENCE,)
    assert not hasattr(slo, "CONFIDENCE") and not hasattr(baseline, "CONFIDENCE")
    assert baseline.DEFAULT_CONFIDENCE is confidence.DEFAULT_CONFIDENCE
