"""Side-by-side statistics and judging on results whose truth is known: comparison intervals,
the anytime-valid look schedule, relative/per-endpoint/agreement verdicts, and what would
decide an INCONCLUSIVE one (issue 14)."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from synthetic_results import endpoint_stats, result_from_windows, side_by_side, steady_result

from pytest_aksload.config.profile import profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.stats.comparison import compare_sides, mean_ratio, quantile_ratio, rate_difference
from pytest_aksload.stats.histograms import Latencies
from pytest_aksload.stats.latency_stats import LatencyStats
from pytest_aksload.stats.result import LoadResult, ResultFileError
from pytest_aksload.stats.sequential import FIRST_LOOK_REQUESTS, LOOK_GROWTH, LookSchedule, look_confidence
from pytest_aksload.verdicts.decision import slo_verdicts
from pytest_aksload.verdicts.slo import FAIL, INCONCLUSIVE, PASS, comparisons_judged, evaluate


def stats(latencies_us: list[int], failures: int = 0, duration_s: float = 10.0) -> LatencyStats:
    latencies = Latencies()
    for us in latencies_us:
        latencies.record(us)
    return LatencyStats(latencies, failures, duration_s)


def lognormal_run(seed: int, median_ms: float, seconds: int = 20, per_second: int = 100) -> LoadResult:
    """A run whose latencies are drawn from a skewed (log-normal) distribution, like real ones."""
    rng = random.Random(seed)
    windows = [
        ([round(median_ms * 1000 * rng.lognormvariate(0, 0.5)) for _ in range(per_second)], 0) for _ in range(seconds)
    ]
    return result_from_windows(windows)


# ---------------------------------------------------------------- comparison intervals


def test_identical_samples_compare_as_equal() -> None:
    run = steady_result(130_000)
    for metric in ("p50", "p95", "p99", "mean", "rps", "failure_rate"):
        c = compare_sides(metric, run, run, 0.95)
        neutral = 0.0 if metric == "failure_rate" else 1.0
        assert c.value == neutral and c.low <= neutral <= c.high, c


def test_two_draws_from_one_distribution_have_ratio_intervals_that_hold_one() -> None:
    candidate, other = lognormal_run(1, 130.0), lognormal_run(2, 130.0)
    for metric in ("p50", "p95", "p99", "mean"):
        c = compare_sides(metric, candidate, other, 0.95)
        assert c.low < 1.0 < c.high and c.relative == "x", c


def test_a_three_times_slower_sample_has_a_ratio_near_three() -> None:
    slow, fast = lognormal_run(1, 390.0), lognormal_run(2, 130.0)
    for metric in ("p50", "p95", "mean"):
        c = compare_sides(metric, slow, fast, 0.95)
        assert 2.5 < c.low <= c.value <= c.high < 3.6, c


def test_the_quantile_ratio_recovers_each_sides_interval_on_the_log_scale() -> None:
    candidate, other = lognormal_run(3, 200.0), lognormal_run(4, 100.0)
    value, low, high = quantile_ratio(candidate, other, 95, 0.90)
    low_c, high_c = candidate.ci("p95", 0.90)
    low_o, high_o = other.ci("p95", 0.90)
    c, o = candidate.p95_ms, other.p95_ms
    assert value == c / o
    assert math.log(low) == pytest.approx(math.log(c / o) - math.hypot(math.log(c / low_c), math.log(high_o / o)))
    assert math.log(high) == pytest.approx(math.log(c / o) + math.hypot(math.log(high_c / c), math.log(o / low_o)))
    # narrower than both sides' extremes combined, wider than either side's own relative spread
    assert low_c / high_o < low < value < high < high_c / low_o
    assert high / low > max(high_c / low_c, high_o / low_o)


def test_too_few_requests_leave_a_quantile_ratio_unbounded() -> None:
    value, low, high = quantile_ratio(stats([100_000] * 20), stats([100_000] * 20), 99, 0.95)
    assert value == 1.0 and high == math.inf


def test_a_mean_ratio_narrows_with_more_requests() -> None:
    few = mean_ratio(lognormal_run(5, 100.0, seconds=2), lognormal_run(6, 100.0, seconds=2), 0.95)
    many = mean_ratio(lognormal_run(5, 100.0, seconds=40), lognormal_run(6, 100.0, seconds=40), 0.95)
    assert few[1] < many[1] <= many[2] < few[2]
    assert few[1] < 1.0 < few[2] and many[1] < 1.0 < many[2]


@pytest.mark.parametrize(
    ("candidate", "other", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873, table II, method 10
        ((56, 70), (48, 80), (0.0524, 0.3339)),
        ((0, 10), (0, 20), (-0.1611, 0.2775)),
        ((10, 10), (0, 10), (0.6075, 1.0)),
    ],
)
def test_a_difference_of_failure_rates_uses_newcombes_hybrid_score(
    candidate: tuple[int, int], other: tuple[int, int], expected: tuple[float, float]
) -> None:
    (f_c, n_c), (f_o, n_o) = candidate, other
    value, low, high = rate_difference(stats([1000] * n_c, f_c), stats([1000] * n_o, f_o), "failure_rate", 0.95)
    assert value == pytest.approx(f_c / n_c - f_o / n_o)
    assert (round(low, 4), round(high, 4)) == expected


def test_a_side_with_nothing_measured_compares_to_nothing() -> None:
    empty, run = stats([]), steady_result(100_000)
    for metric in ("p95", "mean", "failure_rate"):
        c = compare_sides(metric, empty, run, 0.95)
        assert math.isnan(c.value), c
    with pytest.raises(ValueError, match="no side-by-side comparison for 'max'; use p<q>, mean"):
        compare_sides("max", run, run, 0.95)


# ---------------------------------------------------------------- what a result carries


def test_a_result_keeps_the_other_side_agreement_and_looks_through_its_file() -> None:
    result = side_by_side(
        steady_result(390_000),
        steady_result(130_000),
        agreement={"compared": 1000, "agreeing": 999, "max_abs_difference": 0.02},
        sequential={"looks": 3, "decided_at_s": 4.5},
    )
    assert result.against is not None and result.against.p95_ms == pytest.approx(131.1, abs=0.2)
    assert (result.agreement, result.looks, result.decided_at_s) == (0.999, 3, 4.5)
    low, high = result.ci("agreement")
    assert low < 0.999 < high < 1.0
    assert set(result.comparison) == {"p50", "p95", "p99", "mean", "failure_rate", "rps", "rows_per_s", "agreement"}
    assert result.comparison["p95"].low > 2.9  # judged at look 3's level, still far from 1.10
    assert result.comparison["p95"].confidence == look_confidence(0.95, 3)
    again = LoadResult.from_dict(json.loads(result.to_json()))
    assert again.against is not None and again.against.requests == result.against.requests
    assert again.agreement == 0.999 and again.looks == 3
    summary = json.loads(result.to_json())["summary"]
    assert summary["comparison"]["p95"]["relative"] == "x" and summary["against"]["requests"] == 1000


def test_without_another_side_there_is_nothing_to_compare() -> None:
    result = steady_result(100_000)
    assert result.against is None and result.comparison == {} and math.isnan(result.agreement)
    assert result.looks is None and result.decided_at_s is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"agreement": {"compared": 5, "agreeing": 6, "max_abs_difference": None}}, "agreement: 6 agreeing of 5"),
        ({"agreement": {"compared": 5}}, "result.agreement lacks 'agreeing'"),
        ({"sequential": {"looks": -1, "decided_at_s": None}}, "sequential.looks must be >= 0"),
        ({"against": {"format": "pytest-aksload-result/1"}}, "against: result lacks 'complete'"),
    ],
)
def test_malformed_side_by_side_keys_are_one_line_errors(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ResultFileError) as info:
        LoadResult.from_dict({**steady_result(100_000).to_dict(), **extra})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_warm_up_cut_cuts_both_sides() -> None:
    cold = [([900_000] * 50, 0)] * 3 + [([100_000] * 100, 0)] * 20
    result = side_by_side(result_from_windows(cold), result_from_windows(cold))
    cut = result.with_warmup(3.0, "test")
    assert cut.against is not None
    assert (cut.requests, cut.against.requests) == (2000, 2000)
    assert cut.against.p95_ms < 200 and cut.comparison["p95"].value == 1.0


# ---------------------------------------------------------------- anytime-valid looks


def test_look_levels_spend_at_most_alpha_over_any_number_of_looks() -> None:
    assert look_confidence(0.95, 1) == pytest.approx(0.975)
    assert look_confidence(0.95, 2) == pytest.approx(1 - 0.05 / 6)
    spent = sum(1 - look_confidence(0.95, k) for k in range(1, 10_001))
    assert spent < 0.05 and spent == pytest.approx(0.05 * (1 - 1 / 10_001))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="look must be a whole number >= 1"):
            look_confidence(0.95, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence must be a fraction"):
        look_confidence(1.0, 1)


def test_looks_come_at_the_first_count_then_each_time_it_grows_by_the_factor() -> None:
    schedule = LookSchedule()
    assert (FIRST_LOOK_REQUESTS, LOOK_GROWTH) == (100, 1.5)
    assert [n for n in range(0, 400) if schedule.due(n)] == [100, 150, 225, 338]
    assert schedule.looks == 4
    assert not schedule.due(338)  # a count is looked at once
    assert schedule.due(10_000) and not schedule.due(14_999) and schedule.due(15_000)  # a burst is one look
    assert schedule.looks == 6


def test_the_final_look_is_counted_once() -> None:
    schedule = LookSchedule()
    assert schedule.finish(40) == 1  # a run too short for any look is still judged once
    schedule = LookSchedule()
    assert schedule.due(100) and schedule.finish(100) == 1  # the last look was at the end already
    assert schedule.finish(120) == 2


def test_a_sequential_run_is_judged_at_its_last_looks_level() -> None:
    profile = profile_from_marker((), {"slo": ["p95 <= 1.10x", "p95 < 1s"], "against": "blue"}, Settings(), Path.cwd())
    result = side_by_side(steady_result(390_000), steady_result(130_000), sequential={"looks": 3, "decided_at_s": 2.0})
    verdicts = slo_verdicts(profile, result)
    assert [v.verdict for v in verdicts] == [FAIL, PASS]
    assert [v.confidence for v in verdicts] == [pytest.approx(1 - 0.05 / 12)] * 2
    assert "(99.58% CI " in verdicts[0].describe()  # the level judged at, rounded down, never "100%"
    plain = side_by_side(steady_result(390_000), steady_result(130_000))
    assert [v.confidence for v in slo_verdicts(profile, plain)] == [0.95, 0.95]


# ---------------------------------------------------------------- relative verdicts


def test_three_times_slower_fails_a_ten_percent_ratio() -> None:
    result = side_by_side(steady_result(390_000), steady_result(130_000))
    p95, failures, mean = evaluate(["p95 <= 1.10x", "failure_rate <= +0.5pp", "mean <= 3.5x"], result)
    assert (p95.verdict, failures.verdict, mean.verdict) == (FAIL, PASS, PASS)
    assert p95.measured == pytest.approx(3.0, abs=0.01) and p95.margin < -1.8
    assert (p95.candidate, p95.other) == (pytest.approx(393.6, abs=0.5), pytest.approx(131.1, abs=0.2))
    assert 2.9 < p95.low < p95.high < 3.1
    assert p95.describe() == (
        f"p95 <= 1.10x: 393.6ms vs 131.1ms on the other side, ratio 3.00 (95% CI {p95.low:.2f}..{p95.high:.2f}), "
        "objective <= 1.10x (FAIL)"
    )
    assert failures.describe().startswith(
        "failure_rate <= +0.5pp: 0.00% vs 0.00% on the other side, difference +0.00pp (95% CI -0.38pp..+0.38pp)"
    )
    assert p95.to_dict()["relative"] == "x" and p95.to_dict()["other"] == pytest.approx(131.1, abs=0.2)


def test_the_same_service_passes_its_relative_objectives() -> None:
    result = side_by_side(lognormal_run(1, 130.0, seconds=60), lognormal_run(2, 130.0, seconds=60))
    verdicts = evaluate(["p50 <= 1.10x", "mean <= 1.10x", "failure_rate <= +0.5pp", "rps >= 0.9x"], result)
    assert [v.verdict for v in verdicts] == [PASS] * 4


def test_a_failure_rate_difference_fails_when_the_candidate_fails_more() -> None:
    candidate = steady_result(100_000, failures=60)  # 60 of 1000 failed
    (v,) = evaluate("failure_rate <= +0.5pp", side_by_side(candidate, steady_result(100_000)))
    assert v.verdict == FAIL and v.measured == pytest.approx(0.06) and v.low > 0.005
    assert "6.00% vs 0.00% on the other side, difference +6.00pp" in v.describe()


def test_a_relative_objective_without_another_side_fails_saying_how_to_give_one() -> None:
    (v,) = evaluate("p95 <= 1.10x", steady_result(100_000))
    assert v.verdict == FAIL and math.isnan(v.measured)
    assert v.reason == (
        "no other side was measured: pass --aks-against NAME, --aks-against-uri URL or the marker's against="
    )
    assert v.describe().endswith(f"nothing was measured, objective <= 1.10x; {v.reason} (FAIL)")


def test_comparisons_carry_the_verdicts_of_their_objectives() -> None:
    result = side_by_side(steady_result(390_000), steady_result(130_000))
    judged = comparisons_judged(result, evaluate(["p95 <= 1.10x", "p95 <= 5x", "p95[POST a] < 1s"], result))
    assert judged["p95"].verdict == FAIL and judged["mean"].verdict is None
    assert result.comparison["p95"].verdict is None  # the result itself is not changed


# ---------------------------------------------------------------- per-endpoint verdicts


def two_endpoints(score_us: int, health_us: int) -> dict[str, object]:
    return {
        "POST score": endpoint_stats([score_us + i for i in range(500)]),
        "GET /health": endpoint_stats([health_us + i for i in range(500)], failures=50),
    }


def test_an_objective_scoped_to_an_endpoint_reads_that_endpoint() -> None:
    result = steady_result(100_000, endpoints=two_endpoints(400_000, 5_000))
    score, health, whole = evaluate(
        ["p95[POST score] < 300ms", "failure_rate[GET /health] < 5%", "p95 < 300ms"], result
    )
    assert (score.verdict, health.verdict, whole.verdict) == (FAIL, FAIL, PASS)
    assert score.measured == pytest.approx(400.5, abs=0.5) and health.measured == 0.1


def test_an_unknown_endpoint_fails_listing_the_measured_ones() -> None:
    result = steady_result(100_000, endpoints=two_endpoints(400_000, 5_000))
    (v,) = evaluate("p95[POST scroe] < 300ms", result)
    assert v.verdict == FAIL
    assert v.reason == "no endpoint 'POST scroe' was measured; measured endpoints: 'POST score', 'GET /health'"
    assert v.reason in v.describe()


def test_a_relative_objective_scoped_to_an_endpoint_compares_that_endpoint() -> None:
    candidate = steady_result(100_000, endpoints=two_endpoints(390_000, 5_000))
    other = steady_result(100_000, endpoints=two_endpoints(130_000, 5_000))
    score, health = evaluate(["p95[POST score] <= 1.2x", "p95[GET /health] <= 1.2x"], side_by_side(candidate, other))
    assert (score.verdict, health.verdict) == (FAIL, PASS)
    lonely = steady_result(100_000, endpoints={"GET /health": endpoint_stats([5_000] * 100)})
    (missing,) = evaluate("p95[POST score] <= 1.2x", side_by_side(candidate, lonely))
    assert missing.verdict == FAIL
    assert (
        missing.reason == "no endpoint 'POST score' was measured on the other side; measured endpoints: 'GET /health'"
    )


# ---------------------------------------------------------------- agreement


@pytest.mark.parametrize(
    ("agreeing", "verdict"),
    [(99_990, PASS), (99_000, FAIL), (998, INCONCLUSIVE)],  # the last of 1,000 rows only
)
def test_agreement_is_judged_on_the_rows_compared(agreeing: int, verdict: str) -> None:
    compared = 1000 if agreeing < 1000 else 100_000
    tally = {"compared": compared, "agreeing": agreeing, "max_abs_difference": 1e-4}
    result = side_by_side(steady_result(100_000), steady_result(100_000), agreement=tally)
    (v,) = evaluate("agreement >= 99.9%", result)
    assert v.verdict == verdict and v.measured == agreeing / compared


def test_agreement_with_no_row_compared_fails_saying_why() -> None:
    (alone,) = evaluate("agreement >= 99.9%", steady_result(100_000))
    assert alone.verdict == FAIL and "no other side was measured" in (alone.reason or "")
    nothing = {"compared": 0, "agreeing": 0, "max_abs_difference": None}
    result = side_by_side(steady_result(100_000), steady_result(100_000), agreement=nothing)
    (v,) = evaluate("agreement >= 99.9%", result)
    assert v.verdict == FAIL and "no row was predicted on both sides" in (v.reason or "")


# ---------------------------------------------------------------- what would decide it


@dataclass
class Straddling:
    """A result whose p95 interval is chosen: 530 ms measured, 500..560 ms, 1,000 requests in 10 s."""

    requests: int = 1000
    duration_s: float = 10.0
    intervals: dict[str, tuple[float, float]] = field(default_factory=lambda: {"p95": (500.0, 560.0)})

    def percentile(self, q: float) -> float:
        return 530.0

    def ci(self, metric: str, level: float = 0.95) -> tuple[float, float]:
        return self.intervals[metric]


def test_an_undecided_verdict_says_how_much_more_load_would_likely_decide_it() -> None:
    # The upper 30 ms of the interval reach across a threshold 20 ms away; the half-width shrinks
    # like 1/sqrt(n), so (30/20)^2 = 2.25x the load: 1,250 more requests (shown rounded up to two
    # figures: an estimate must not look precise), 12.5 s more at 100/s.
    (v,) = evaluate("p95 < 550ms", Straddling())
    assert (v.verdict, v.more_requests, v.more_s) == (INCONCLUSIVE, 1300, 12.5)
    assert v.describe().endswith(
        "; about 1,300 more requests (~12 s at this rate) would likely decide it (INCONCLUSIVE)"
    )
    assert v.to_dict()["more_requests"] == 1300 and v.to_dict()["more_s"] == 12.5
    # Below the threshold the lower side must clear it: 30 ms reach, 10 ms away -> 9x, 8,000 more.
    (below,) = evaluate("p95 > 520ms", Straddling())
    assert (below.more_requests, below.more_s) == (8000, 80.0)


def test_a_value_on_the_threshold_is_too_close_to_decide_with_more_load() -> None:
    (v,) = evaluate("p95 <= 530ms", Straddling())
    assert v.verdict == INCONCLUSIVE and v.more_requests is None and v.more_s is None
    assert v.would_decide == "too close to the objective to decide with more load"
    assert v.describe().endswith("; too close to the objective to decide with more load (INCONCLUSIVE)")


def test_decided_and_unbounded_verdicts_carry_no_estimate() -> None:
    decided = evaluate(["p95 < 600ms", "p95 < 400ms"], Straddling())
    unbounded = evaluate("p95 < 600ms", Straddling(intervals={"p95": (500.0, math.inf)}))
    assert all(v.would_decide is None and v.more_requests is None for v in [*decided, *unbounded])


def test_an_undecided_relative_objective_counts_both_sides() -> None:
    # p95 ratio near 1.10 from skewed samples: an interval around the threshold
    result = side_by_side(lognormal_run(7, 110.0, seconds=10), lognormal_run(8, 100.0, seconds=10))
    (v,) = evaluate("p95 <= 1.10x", result)
    assert v.verdict == INCONCLUSIVE and v.more_requests is not None and v.more_s is not None
    growth = v.more_s / result.duration_s  # the run must grow by this fraction
    assert v.more_requests >= 2000 * growth * 0.99  # 1,000 requests a side
    assert f"about {v.more_requests:,} more requests" in v.describe()
