"""One metric vocabulary: the name parser and the value formatter every objective, tolerance and
report goes through, and the one confidence default."""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from synthetic_results import result_from_windows, side_by_side

from pytest_aksload.config.metrics import (
    COUNT,
    LATENCY,
    METRICS,
    PERCENTILE,
    PROPORTION,
    RATE,
    VALID_METRICS,
    Metric,
    MetricEntry,
    MetricError,
    format_metric_value,
    metric_table,
    parse_metric,
)
from pytest_aksload.config.objectives import SloError, parse_slo, parse_slos
from pytest_aksload.config.tolerances import parse_tolerances
from pytest_aksload.stats import confidence
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts import baseline, slo
from pytest_aksload.verdicts.sizing import size, sized


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
        ("failure_rate", Metric("failure_rate", PROPORTION)),
        ("rps", Metric("rps", RATE)),
        ("requests", Metric("requests", COUNT)),
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


# -- the registry: one entry per metric, and everything that follows from it -----------------------


def _documented_table() -> list[str]:
    text = (Path(__file__).parents[2] / "docs" / "reference.md").read_text(encoding="utf-8")
    section = text.split("## SLO metrics", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_every_documented_metric_has_an_entry_and_every_entry_is_documented() -> None:
    rows = _documented_table()[2:]
    documented = {re.findall(r"`([^`]+)`", row.split("|")[1])[0] for row in rows}
    registered = {"p50" if entry.name == PERCENTILE else entry.name for entry in METRICS}
    assert documented == registered
    # ... and each row says what the entry says (kind, units, how it reads, interval, operator).
    assert _documented_table() == metric_table()


def test_the_valid_metrics_of_error_messages_are_the_registry() -> None:
    assert ", ".join(entry.shown or entry.name for entry in METRICS) == VALID_METRICS
    for entry in METRICS:
        assert (entry.shown or entry.name) in VALID_METRICS
        for alias in entry.aliases:
            assert parse_metric(alias).entry is entry


@pytest.mark.parametrize("entry", METRICS, ids=lambda entry: entry.name)
def test_every_entry_is_measured_and_bounded_by_a_result(entry: MetricEntry) -> None:
    """A new entry whose value attribute or interval estimator the stats layer lacks fails here."""
    candidate = result_from_windows([([10_000 + 100 * i for i in range(50)], 1)] * 4)
    result = side_by_side(candidate, result_from_windows([([12_000] * 50, 0)] * 4))
    name = "p95" if entry.name == PERCENTILE else entry.name
    metric = parse_metric(name)
    if entry.sized:  # judged on a capacity search's sizing (verdicts/sizing.py), not on one load
        stated = SimpleNamespace(instances=2, max_concurrent_per_instance=4)
        result = sized(result, size(200.0, stated, 1200.0, 0.7, 50.0), parse_slos(f"{name} >= 1"))
    assert hasattr(result, entry.value), f"LoadResult has no {entry.value} for {entry.name}"
    value = metric.value_of(result)
    low, high = (value, value) if entry.sized else result.ci(name)
    if entry.exact:
        assert (low, high) == (value, value) or math.isnan(value)
    else:
        assert hasattr(LoadResult, "_ci_" + entry.interval.replace(" ", "_"))
    # The same objective reads and judges it (a verdict, never a KeyError), with its default operator.
    verdict = slo.evaluate({name: "1" if entry.kind not in (LATENCY,) else "1s"}, result)[0]
    assert verdict.slo.op == entry.default_op and verdict.verdict in (slo.PASS, slo.FAIL, slo.INCONCLUSIVE)
    assert format_metric_value(name, 1.0) != "n/a"


def test_tolerances_follow_the_registry() -> None:
    for entry in METRICS:
        name = "p95" if entry.name == PERCENTILE else entry.name
        for unit in ("%", "ms", "pp"):
            text = f"{name}=1{unit}"
            if unit in entry.tolerances:
                assert parse_tolerances(text)[name].unit == unit
            else:
                with pytest.raises(ValueError):
                    parse_tolerances(text)
    assert str(parse_tolerances("rps=5%")["rps"]) == "-5%"  # more is better: a regression is a drop
    assert str(parse_tolerances("p95=10%")["p95"]) == "+10%"
