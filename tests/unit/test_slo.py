"""The SLO engine: grammar, one-line errors, canonical round trips and verdicts."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aksload.config.objectives import Slo, SloError, parse_slo, parse_slos
from pytest_aksload.verdicts.slo import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    SloViolation,
    assert_slos,
    evaluate,
    failed_message,
    format_verdicts,
)

VALID_METRICS = (
    "valid metrics: p<q> (e.g. p50, p95, p99.9), mean, max, failure_rate, rps, requests, "
    "mismatch_rate, rows_per_s, auc, logloss, max_abs_error, agreement, headroom, instances_needed"
)
VALID_OPS = "use one of < <= > >="
LATENCY_HINT = "latency metrics take ms or s (e.g. 'p95 < 300ms')"
RPS_HINT = "rps takes a plain number of requests per second (e.g. 'rps >= 100')"


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold", "quantile"),
    [
        ("p95 < 300ms", "p95", "<", 300.0, 95.0),
        ("p99.9 <= 1.5s", "p99.9", "<=", 1500.0, 99.9),
        ("mean < 200ms", "mean", "<", 200.0, None),
        ("max < 2s", "max", "<", 2000.0, None),
        ("p50<100ms", "p50", "<", 100.0, 50.0),
        ("  P50  <  100 MS ", "p50", "<", 100.0, 50.0),
        ("p99.90 < 300ms", "p99.9", "<", 300.0, 99.9),
        ("p050 < 300ms", "p50", "<", 300.0, 50.0),
        ("p0.1 > 1ms", "p0.1", ">", 1.0, 0.1),
        ("p100 < 2s", "max", "<", 2000.0, None),  # p100 is max
        ("p95 < .5s", "p95", "<", 500.0, 95.0),
        ("p95 < 0ms", "p95", "<", 0.0, 95.0),
        ("failure_rate < 1%", "failure_rate", "<", 0.01, None),
        ("failure_rate <= 0.01", "failure_rate", "<=", 0.01, None),
        ("failure_rate < 100%", "failure_rate", "<", 1.0, None),
        ("FAILURE_RATE<0.5 %", "failure_rate", "<", 0.005, None),
        ("rps >= 100", "rps", ">=", 100.0, None),
        ("rps > 99.5 rps", "rps", ">", 99.5, None),
        ("rps >= 100/s", "rps", ">=", 100.0, None),
        ("requests >= 1000", "requests", ">=", 1000.0, None),
        ("requests > 1000.0", "requests", ">", 1000.0, None),
    ],
)
def test_parse_valid(text: str, metric: str, op: str, threshold: float, quantile: float | None) -> None:
    slo = parse_slo(text)
    assert (slo.metric, slo.op, slo.threshold, slo.quantile) == (metric, op, threshold, quantile)
    assert slo.text == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95 < 300 parsecs", f"slo 'p95 < 300 parsecs': unknown unit 'parsecs'; {LATENCY_HINT}"),
        ("p95 < 300", f"slo 'p95 < 300': missing unit; {LATENCY_HINT}"),
        ("p95 < 300us", f"slo 'p95 < 300us': unknown unit 'us'; {LATENCY_HINT}"),
        ("mean < 2%", f"slo 'mean < 2%': unknown unit '%'; {LATENCY_HINT}"),
        ("p95 300ms", f"slo 'p95 300ms': missing operator after 'p95'; {VALID_OPS}"),
        ("p95 == 300ms", f"slo 'p95 == 300ms': unknown operator '=='; {VALID_OPS}"),
        ("p95 =< 300ms", f"slo 'p95 =< 300ms': unknown operator '=<'; {VALID_OPS}"),
        ("p95 != 300ms", f"slo 'p95 != 300ms': unknown operator '!='; {VALID_OPS}"),
        ("p95 <", f"slo 'p95 <': missing value after '<'; {LATENCY_HINT}"),
        ("p95 < fast", f"slo 'p95 < fast': expected a number, got 'fast'; {LATENCY_HINT}"),
        ("p95 < 1e3ms", f"slo 'p95 < 1e3ms': unknown unit 'e3ms'; {LATENCY_HINT}"),
        ("p95 < -3ms", f"slo 'p95 < -3ms': threshold must not be negative; {LATENCY_HINT}"),
        ("< 300ms", f"slo '< 300ms': missing metric; {VALID_METRICS}"),
        ("latency < 300ms", f"slo 'latency < 300ms': unknown metric 'latency'; {VALID_METRICS}"),
        ("p9x5 < 300ms", f"slo 'p9x5 < 300ms': unknown metric 'p9x5'; {VALID_METRICS}"),
        ("failure rate < 1%", f"slo 'failure rate < 1%': unknown metric 'failure'; {VALID_METRICS}"),
        (
            "p0 < 3ms",
            "slo 'p0 < 3ms': quantile 'p0' is out of range; use p<q> with 0 < q <= 100, e.g. p95 (p100 is max)",
        ),
        (
            "p100.5 < 3ms",
            "slo 'p100.5 < 3ms': quantile 'p100.5' is out of range; use p<q> with 0 < q <= 100, e.g. p95 (p100 is max)",
        ),
        (
            "failure_rate < 5",
            "slo 'failure_rate < 5': a bare failure_rate is a fraction 0..1; for a percentage write 5%",
        ),
        ("failure_rate < 101%", "slo 'failure_rate < 101%': failure_rate cannot exceed 100%"),
        (
            "failure_rate < 1ms",
            "slo 'failure_rate < 1ms': unknown unit 'ms'; failure_rate takes % or a bare fraction 0..1 "
            "(e.g. 'failure_rate < 1%')",
        ),
        ("rps >= 100ms", f"slo 'rps >= 100ms': unknown unit 'ms'; {RPS_HINT}"),
        (
            "requests >= 10k",
            "slo 'requests >= 10k': unknown unit 'k'; requests takes a plain whole number (e.g. 'requests >= 1000')",
        ),
        ("requests >= 10.5", "slo 'requests >= 10.5': requests must be a whole number, got '10.5'"),
        (
            "p95 < 300ms over 10 parsecs",
            "slo 'p95 < 300ms over 10 parsecs': write the window like 'over 10s windows' (a duration: 10s, 1m, 500ms)",
        ),
        (
            "requests >= 10 over 10s windows",
            "slo 'requests >= 10 over 10s windows': requests has no windowed form; "
            "bound throughput per window with 'rps >= N over 10s windows'",
        ),
        ("", "slo '': empty objective; write it like 'p95 < 300ms'"),
        ("   ", "slo '   ': empty objective; write it like 'p95 < 300ms'"),
        ("p95 < 300ms\nrm -rf", f"slo 'p95 < 300ms\\nrm -rf': unknown unit 'ms\\nrm -rf'; {LATENCY_HINT}"),
    ],
)
def test_parse_invalid_names_the_bad_part(text: str, message: str) -> None:
    with pytest.raises(SloError) as info:
        parse_slo(text)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "window_s", "canonical"),
    [
        ("p95 < 300ms OVER 1m windows", 60.0, "p95 < 300ms over 1m windows"),
        ("failure_rate < 5% over 10s windows", 10.0, "failure_rate < 5% over 10s windows"),
        ("rps >= 5 over 30 s window", 30.0, "rps >= 5 over 30s windows"),
    ],
)
def test_windowed_objectives_parse_and_print_back(text: str, window_s: float, canonical: str) -> None:
    slo = parse_slo(text)
    assert slo.window_s == window_s and str(slo) == canonical
    assert parse_slo(str(slo)) == slo and slo != parse_slo(canonical.partition(" over")[0])


@pytest.mark.parametrize("text", ["p95 < 300 over 10s", "p95 < over 10s"])
def test_windowed_objectives_still_need_a_valid_objective(text: str) -> None:
    with pytest.raises(SloError):
        parse_slo(text)


def test_slo_error_is_a_value_error() -> None:
    assert issubclass(SloError, ValueError)


def test_p100_is_max() -> None:
    assert parse_slo("p100 < 2s") == parse_slo("max < 2000ms")


def test_text_is_not_part_of_equality() -> None:
    assert parse_slo("p95<300ms") == parse_slo("P95 < 0.3s")
    assert hash(parse_slo("p95<300ms")) == hash(parse_slo("P95 < 0.3s"))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("p95<300ms", "p95 < 300ms"),
        ("p99.9 <= 1.5s", "p99.9 <= 1.5s"),
        ("p95 < 1000ms", "p95 < 1s"),
        ("p95 < 0.25s", "p95 < 250ms"),
        ("p95 < 1234.5ms", "p95 < 1.2345s"),
        ("failure_rate <= 0.01", "failure_rate <= 1%"),
        ("failure_rate < 0.07", "failure_rate < 7%"),
        ("failure_rate < 0.5%", "failure_rate < 0.5%"),
        ("rps >= 100/s", "rps >= 100"),
        ("requests >= 1000.0", "requests >= 1000"),
        ("p100 < 2s", "max < 2s"),
    ],
)
def test_str_is_canonical(text: str, canonical: str) -> None:
    assert str(parse_slo(text)) == canonical


# ---------------------------------------------------------------- parse_slos


def test_parse_slos_forms() -> None:
    assert parse_slos(None) == []
    assert parse_slos([]) == []
    assert parse_slos("p95 < 300ms") == [parse_slo("p95 < 300ms")]
    assert parse_slos(("p95 < 300ms", "rps >= 5")) == [parse_slo("p95 < 300ms"), parse_slo("rps >= 5")]
    slo = parse_slo("max < 1s")
    assert parse_slos(slo) == [slo]
    assert parse_slos([slo, "rps >= 5"]) == [slo, parse_slo("rps >= 5")]


def test_parse_slos_dict_defaults_and_numbers() -> None:
    got = parse_slos(
        {
            "p95": "300ms",
            "p99": "<= 1s",
            "failure_rate": "1%",
            "rps": 100,
            "requests": "> 10",
            "mean": " 200ms ",
        }
    )
    assert [str(s) for s in got] == [
        "p95 < 300ms",
        "p99 <= 1s",
        "failure_rate < 1%",
        "rps >= 100",
        "requests > 10",
        "mean < 200ms",
    ]
    assert parse_slos({"failure_rate": 0.01}) == [parse_slo("failure_rate < 1%")]
    assert parse_slos({"requests": 1000}) == [parse_slo("requests >= 1000")]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "slo must be a string, a list of strings or a dict like {'p95': '300ms'}, got int 5"),
        ({"p95"}, "slo must be a string, a list of strings or a dict like {'p95': '300ms'}, got set {'p95'}"),
        (["p95 < 300ms", 5], "each slo in a list must be a string like 'p95 < 300ms', got int 5"),
        ([["p95 < 300ms"]], "each slo in a list must be a string like 'p95 < 300ms', got list ['p95 < 300ms']"),
        ({95: "300ms"}, "slo dict keys must be metric names like 'p95', got int 95"),
        ({"p95": 300}, f"slo 'p95 < 300': missing unit; {LATENCY_HINT}"),
        ({"p95": "300"}, f"slo 'p95 < 300': missing unit; {LATENCY_HINT}"),
        ({"p95": ""}, f"slo 'p95 < ': missing value after '<'; {LATENCY_HINT}"),
        ({"latency": "300ms"}, f"slo 'latency < 300ms': unknown metric 'latency'; {VALID_METRICS}"),
        ({"rps": -5}, f"slo 'rps >= -5': threshold must not be negative; {RPS_HINT}"),
        ({"rps": math.nan}, "slo {'rps': nan}: the threshold must be a finite number"),
        (
            {"rps": True},
            "slo {'rps': True}: the value must be a string like '300ms' or '< 300ms', or a number, got bool",
        ),
        (
            {"rps": None},
            "slo {'rps': None}: the value must be a string like '300ms' or '< 300ms', or a number, got NoneType",
        ),
        (
            {"failure_rate": 5},
            "slo 'failure_rate < 5': a bare failure_rate is a fraction 0..1; for a percentage write 5%",
        ),
    ],
)
def test_parse_slos_rejects(value: object, message: str) -> None:
    with pytest.raises(SloError) as info:
        parse_slos(value)  # type: ignore[arg-type]
    assert str(info.value) == message


# ---------------------------------------------------------------- fuzzing and round trips

_SLO_ALPHABET = "p0123456789.<>=!% msfailure_ratrpsqtovwndxMS/-+[]PO\t\n"


@given(st.one_of(st.text(), st.text(alphabet=_SLO_ALPHABET)))
def test_any_text_parses_or_raises_slo_error(text: str) -> None:
    try:
        slo = parse_slo(text)
    except SloError as exc:
        assert len(str(exc).splitlines()) == 1
    else:
        assert parse_slo(str(slo)) == slo


_VALUES = st.recursive(
    st.one_of(st.none(), st.text(alphabet=_SLO_ALPHABET), st.integers(), st.floats(), st.booleans()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(alphabet=_SLO_ALPHABET), st.integers()), inner, max_size=3),
    ),
    max_leaves=6,
)


@given(_VALUES)
def test_any_spec_parses_or_raises_slo_error(value: object) -> None:
    try:
        parse_slos(value)  # type: ignore[arg-type]
    except SloError as exc:
        assert len(str(exc).splitlines()) == 1


_NUMBER_TEXT = st.from_regex(r"\A(?:[0-9]{1,6}(?:\.[0-9]{1,4})?|\.[0-9]{1,4})\Z")
_SPACE = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def _valid_texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["latency", "failure_rate", "rps", "requests"]))
    if kind == "latency":
        metric = draw(
            st.one_of(
                st.sampled_from(["mean", "max", "MEAN", "p100"]),
                st.from_regex(r"\A[pP](?:[1-9][0-9]?(?:\.[0-9]{1,3})?|0\.[0-9]{0,2}[1-9])\Z"),
            )
        )
        number, unit = draw(_NUMBER_TEXT), draw(st.sampled_from(["ms", "s", "MS", "S"]))
    elif kind == "failure_rate":
        metric = kind
        unit = draw(st.sampled_from(["%", ""]))
        limit = 100 if unit else 1
        number = draw(_NUMBER_TEXT.filter(lambda n: float(n) <= limit))
    elif kind == "rps":
        metric, number, unit = kind, draw(_NUMBER_TEXT), draw(st.sampled_from(["", "rps", "/s"]))
    else:
        metric, number, unit = kind, draw(st.from_regex(r"\A[0-9]{1,9}\Z")), ""
    op = draw(st.sampled_from(["<", "<=", ">", ">="]))
    s = [draw(_SPACE) for _ in range(5)]
    return f"{s[0]}{metric}{s[1]}{op}{s[2]}{number}{s[3]}{unit}{s[4]}"


@given(_valid_texts())
def test_valid_text_round_trips_through_str(text: str) -> None:
    slo = parse_slo(text)
    again = parse_slo(str(slo))
    assert again == slo
    assert str(again) == str(slo)


@given(
    st.sampled_from(["p95", "p99.9", "p0.001", "mean", "max", "failure_rate", "rps", "requests"]),
    st.sampled_from(["<", "<=", ">", ">="]),
    st.floats(min_value=0, max_value=1e300, allow_nan=False),
)
def test_any_float_threshold_round_trips(metric: str, op: str, threshold: float) -> None:
    if metric == "failure_rate":
        threshold = min(threshold, 1.0)
    if metric == "requests":
        threshold = float(int(threshold))
    quantile = float(metric[1:]) if metric.startswith("p") else None
    slo = Slo(text="", metric=metric, op=op, threshold=threshold, quantile=quantile)
    assert parse_slo(str(slo)) == slo


# ---------------------------------------------------------------- evaluation


@dataclass
class PointResult:
    """Shaped like LoadResult, with known numbers, but without confidence intervals (a caller's
    own object): verdicts compare the point estimate."""

    requests: int = 5298
    failure_rate: float = 0.002
    rps: float = 104.2
    mean_ms: float = 402.5
    max_ms: float = 1612.0
    percentiles: dict[float, float] = field(default_factory=lambda: {50: 390.0, 95: 530.0, 99.9: 1200.0})

    def percentile(self, q: float) -> float:
        return self.percentiles[q]


@dataclass
class FakeResult(PointResult):
    """Like a real result, with confidence intervals, so verdicts take the interval path: `ci`
    answers from `intervals`, and for a metric not listed there with the measured value on both
    sides (an interval of zero width)."""

    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    levels: list[float] = field(default_factory=list)  # the confidence levels ci() was asked for

    def ci(self, metric: str, level: float = 0.95) -> tuple[float, float]:
        self.levels.append(level)
        if metric in self.intervals:
            return self.intervals[metric]
        value = self.percentile(float(metric[1:])) if metric.startswith("p") else getattr(self, _FIELDS[metric])
        return value, value


_FIELDS = {"mean": "mean_ms", "failure_rate": "failure_rate", "rps": "rps"}


@pytest.mark.parametrize(
    ("text", "measured", "margin", "verdict"),
    [
        ("p95 < 600ms", 530.0, 70.0, PASS),
        ("p95 < 300ms", 530.0, -230.0, FAIL),
        ("p50 <= 390ms", 390.0, 0.0, PASS),  # equality passes <=
        ("p50 < 390ms", 390.0, 0.0, FAIL),  # ... and fails <
        ("p99.9 <= 1.2s", 1200.0, 0.0, PASS),
        ("mean < 500ms", 402.5, 97.5, PASS),
        ("max < 1.5s", 1612.0, -112.0, FAIL),
        ("p100 < 1.5s", 1612.0, -112.0, FAIL),  # p100 reads max_ms, not a percentile
        ("failure_rate < 1%", 0.002, 0.008, PASS),
        ("failure_rate < 0.001", 0.002, -0.001, FAIL),
        ("rps >= 100", 104.2, 104.2 - 100, PASS),
        ("rps > 200", 104.2, 104.2 - 200, FAIL),
        ("rps >= 104.2", 104.2, 0.0, PASS),  # equality passes >=
        ("rps > 104.2", 104.2, 0.0, FAIL),  # ... and fails >
        ("requests >= 1000", 5298.0, 4298.0, PASS),
        ("requests >= 10000", 5298.0, -4702.0, FAIL),
    ],
)
def test_evaluate(text: str, measured: float, margin: float, verdict: str) -> None:
    (v,) = evaluate(text, FakeResult())
    assert v.slo == parse_slo(text)
    assert v.measured == measured
    assert v.margin == pytest.approx(margin)
    assert v.verdict == verdict
    assert v.passed is (verdict == PASS)


def test_p100_equals_max() -> None:
    result = FakeResult(percentiles={})  # percentile() would raise KeyError if consulted
    (p100,) = evaluate("p100 < 2s", result)
    (maximum,) = evaluate("max < 2s", result)
    assert p100 == maximum


def test_evaluate_keeps_order_and_accepts_any_spec() -> None:
    verdicts = evaluate({"p95": "300ms", "rps": 100}, FakeResult())
    assert [str(v.slo) for v in verdicts] == ["p95 < 300ms", "rps >= 100"]
    assert [v.verdict for v in verdicts] == [FAIL, PASS]
    assert evaluate(None, FakeResult()) == []


STRADDLES = "the 95% confidence interval straddles the objective; run longer to decide"


def too_few(metric: str, confidence: str = "95%") -> str:
    return f"too few requests (5298) to bound {metric} at {confidence} confidence"


@pytest.mark.parametrize(
    ("text", "interval", "verdict", "reason"),
    [
        ("p95 < 600ms", (500.0, 560.0), PASS, None),
        ("p95 < 450ms", (500.0, 560.0), FAIL, None),
        ("p95 < 550ms", (500.0, 560.0), INCONCLUSIVE, STRADDLES),
        ("p95 < 500ms", (500.0, 560.0), FAIL, None),  # the low end on the limit, which < excludes...
        ("p95 <= 500ms", (500.0, 560.0), INCONCLUSIVE, STRADDLES),  # ...and <= includes
        ("p95 <= 560ms", (500.0, 560.0), PASS, None),  # the high end on the limit, which <= includes...
        ("p95 < 560ms", (500.0, 560.0), INCONCLUSIVE, STRADDLES),  # ...and < excludes
        ("p95 < 600ms", (500.0, math.inf), INCONCLUSIVE, too_few("p95")),  # unbounded above
        ("p95 > 100ms", (0.0, 560.0), INCONCLUSIVE, too_few("p95")),  # unbounded below: 0 ms
        ("failure_rate < 1%", (0.0, 0.037), INCONCLUSIVE, STRADDLES),  # 0 of 100: Wilson allows 3.7 %
        ("failure_rate < 5%", (0.0, 0.037), PASS, None),
        ("rps >= 100", (100.0, 110.0), PASS, None),
        ("rps > 100", (100.0, 110.0), INCONCLUSIVE, STRADDLES),
        ("rps >= 120", (100.0, 110.0), FAIL, None),
        ("rps >= 100", (0.0, math.inf), INCONCLUSIVE, too_few("rps")),  # a single window
        ("mean < 400ms", (380.0, 425.0), INCONCLUSIVE, STRADDLES),
    ],
)
def test_the_interval_decides_and_an_undecided_verdict_says_why(
    text: str, interval: tuple[float, float], verdict: str, reason: str | None
) -> None:
    result = FakeResult(intervals={parse_slo(text).metric: interval})
    (v,) = evaluate(text, result)
    assert (v.verdict, v.reason) == (verdict, reason)
    assert (v.low, v.high, v.confidence) == (*interval, 0.95) and result.levels == [0.95]
    (point,) = evaluate(text, PointResult())
    assert (v.measured, v.margin) == (point.measured, point.margin)  # the interval changes the verdict only


def test_counts_and_the_maximum_are_facts_not_estimates() -> None:
    result = FakeResult(intervals={"max": (0.0, math.inf), "requests": (0.0, math.inf)})
    verdicts = evaluate(["max < 2s", "requests >= 1000"], result)
    assert [(v.verdict, v.confidence) for v in verdicts] == [(PASS, None), (PASS, None)] and result.levels == []


def test_nothing_measured_fails_before_any_interval_is_asked() -> None:
    result = FakeResult(requests=0, intervals={"p95": (0.0, math.inf)})
    (v,) = evaluate("p95 < 300ms", result)
    assert v.verdict == FAIL and math.isnan(v.measured) and result.levels == []


def test_the_confidence_level_reaches_the_interval_and_the_reason() -> None:
    result = FakeResult(intervals={"p99.9": (900.0, math.inf)})
    (v,) = evaluate("p99.9 < 1.5s", result, confidence=0.99)
    assert result.levels == [0.99] and v.confidence == 0.99 and v.reason == too_few("p99.9", "99%")


def test_an_interval_is_shown_in_the_line_the_table_and_the_dict() -> None:
    result = FakeResult(intervals={"p95": (500.0, 560.0), "p99.9": (900.0, math.inf)})
    straddling, unbounded = evaluate(["p95 < 550ms", "p99.9 < 1.5s"], result)
    # 30 ms of the interval reach across a threshold 20 ms away: (30/20)^2 = 2.25x the 5,298 requests
    decide = "about 6,700 more requests would likely decide it"
    assert straddling.describe() == (
        f"p95 < 550ms: measured 530.0ms (95% CI 500.0ms..560.0ms), objective < 550ms, {STRADDLES}; {decide} "
        "(INCONCLUSIVE)"
    )
    assert "(95% CI 900.0ms..unbounded)" in unbounded.describe()  # an unbounded side reads as such
    assert format_verdicts([straddling, unbounded]).splitlines()[1:] == [
        f"p95 < 550ms    530.0ms    500.0ms..560.0ms   +20.0ms  INCONCLUSIVE ({STRADDLES}; {decide})",
        f"p99.9 < 1.5s  1200.0ms  900.0ms..unbounded  +300.0ms  INCONCLUSIVE ({too_few('p99.9')})",
    ]
    assert [v.to_dict()["ci"] for v in (straddling, unbounded)] == [[500.0, 560.0], [900.0, None]]


def test_a_result_without_intervals_is_judged_by_its_point_estimate() -> None:
    (v,) = evaluate("p95 < 600ms", PointResult())
    assert (v.verdict, v.low, v.high, v.confidence, v.reason) == (PASS, 530.0, 530.0, None, None)


@pytest.mark.parametrize("text", ["p95 < 300ms", "mean < 1s", "max < 1s", "failure_rate < 1%"])
def test_no_requests_fails_rather_than_passing_on_no_evidence(text: str) -> None:
    result = FakeResult(requests=0, failure_rate=0.0, mean_ms=0.0, max_ms=0.0, percentiles={95: 0.0})
    (v,) = evaluate(text, result)
    assert v.verdict == FAIL and math.isnan(v.measured) and math.isnan(v.margin)
    assert v.describe().endswith("nothing was measured, objective " + v.slo.objective + " (FAIL)")


def test_no_requests_fails_throughput_objectives_by_their_numbers() -> None:
    (rps, requests) = evaluate(["rps >= 1", "requests >= 1"], FakeResult(requests=0, rps=0.0))
    assert (rps.verdict, rps.measured, requests.verdict, requests.measured) == (FAIL, 0.0, FAIL, 0.0)


@pytest.mark.parametrize(
    ("text", "result", "line"),
    [
        (
            "p95 < 300ms",
            FakeResult(percentiles={95: 412.3}),
            "p95 < 300ms: measured 412.3ms, objective < 300ms, over by 112.3ms (FAIL)",
        ),
        (
            "failure_rate < 1%",
            FakeResult(),
            "failure_rate < 1%: measured 0.20%, objective < 1%, headroom 0.80% (PASS)",
        ),
        ("rps >= 100", FakeResult(), "rps >= 100: measured 104.2/s, objective >= 100/s, headroom 4.2/s (PASS)"),
        ("rps >= 200", FakeResult(), "rps >= 200: measured 104.2/s, objective >= 200/s, short by 95.8/s (FAIL)"),
        (
            "requests >= 10000",
            FakeResult(),
            "requests >= 10000: measured 5298, objective >= 10000, short by 4702 (FAIL)",
        ),
        (
            "p50 < 390ms",
            FakeResult(),
            "p50 < 390ms: measured 390.0ms, objective < 390ms, exactly at the limit, which < excludes (FAIL)",
        ),
        (
            "p99.9 <= 1.5s",
            FakeResult(),
            "p99.9 <= 1.5s: measured 1200.0ms, objective <= 1.5s, headroom 300.0ms (PASS)",
        ),
    ],
)
def test_describe(text: str, result: FakeResult, line: str) -> None:
    (v,) = evaluate(text, result)
    assert v.describe() == line


def test_format_verdicts_is_an_aligned_table() -> None:
    table = format_verdicts(evaluate(["p95 < 300ms", "failure_rate < 1%", "rps >= 100"], FakeResult()))
    assert table.splitlines() == [
        "objective          measured  CI    margin  verdict",
        "p95 < 300ms         530.0ms   -  -230.0ms  FAIL",
        "failure_rate < 1%     0.20%   -    +0.80%  PASS",
        "rps >= 100          104.2/s   -    +4.2/s  PASS",
    ]
    assert format_verdicts([]) == "(no SLOs)"


def test_format_verdicts_shows_missing_measurements() -> None:
    table = format_verdicts(evaluate("p95 < 300ms", FakeResult(requests=0)))
    assert table.splitlines()[1].split() == ["p95", "<", "300ms", "n/a", "-", "n/a", "FAIL"]


def test_to_dict_is_json_ready() -> None:
    (ok,) = evaluate("p95 < 600ms", FakeResult())
    assert ok.to_dict() == {
        "objective": "p95 < 600ms",
        "metric": "p95",
        "op": "<",
        "threshold": 600.0,
        "window_s": None,
        "measured": 530.0,
        "margin": 70.0,
        "ci": [530.0, 530.0],
        "confidence": 0.95,
        "verdict": PASS,
        "reason": None,
        "window": None,
        "endpoint": None,
        "relative": None,
        "candidate": None,
        "other": None,
        "more_requests": None,
        "more_s": None,
        "would_decide": None,
    }
    (empty,) = evaluate("p95 < 600ms", FakeResult(requests=0))
    json.dumps(empty.to_dict(), allow_nan=False)


def test_assert_slos_passes_quietly_and_fails_with_one_line_per_objective() -> None:
    assert [v.verdict for v in assert_slos(["p95 < 600ms", "rps >= 100"], FakeResult())] == [PASS, PASS]
    with pytest.raises(SloViolation) as info:
        assert_slos(["p95 < 300ms", "failure_rate < 1%"], FakeResult(percentiles={95: 412.3}))
    assert isinstance(info.value, AssertionError)
    assert str(info.value).splitlines() == [
        "SLO violated: 1 of 2 objectives failed",
        "p95 < 300ms: measured 412.3ms, objective < 300ms, over by 112.3ms (FAIL)",
        "failure_rate < 1%: measured 0.20%, objective < 1%, headroom 0.80% (PASS)",
    ]
    assert str(info.value) == failed_message(info.value.verdicts)


def test_slo_violation_survives_pickling() -> None:
    error = SloViolation(evaluate("p95 < 300ms", FakeResult()))
    again = pickle.loads(pickle.dumps(error))
    assert again.verdicts == error.verdicts and str(again) == str(error)


def test_grammar_and_judging_import_no_pytest_locust_or_pandas() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pytest_aksload.config.objectives, pytest_aksload.verdicts.slo; "
        "bad = {'pytest', 'locust', 'gevent', 'pandas'} & set(sys.modules); "
        "sys.exit(sorted(bad) or 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
