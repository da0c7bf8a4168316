"""Generator health, one sign at a time: each branch of `generator_issues` fires on its own, on a
result whose every other sign is healthy, so removing any one check turns a test here red."""

from __future__ import annotations

import math
from typing import Any

import pytest
from synthetic_results import load_profile, result_from_windows

from pytest_aksload.verdicts.health import CPU_SATURATED_PERCENT, doubt, generator_issues
from pytest_aksload.verdicts.slo import FAIL, INCONCLUSIVE, PASS, evaluate

HEALTHY = {"cpu_percent": 20.0, "cpu_percent_peak": 25.0, "cpu_warning": False, "warnings": []}
# 20 one-second windows of 10 requests at 20 ms: what 10 users with 0.5-1.5 s waits send (~9.8/s).
STEADY = [([20_000] * 10, 0)] * 20


def test_the_healthy_reference_has_no_issue() -> None:
    assert generator_issues(result_from_windows(STEADY, generator=HEALTHY), load_profile()) == []


@pytest.mark.parametrize(
    ("generator", "message"),
    [
        # Average CPU modest: only Locust's own 5 s samples saw the limit.
        ({"cpu_percent_peak": CPU_SATURATED_PERCENT}, "load generator CPU hit its limit during the run (peak 90%)"),
        ({"cpu_percent_peak": 99.6}, "load generator CPU hit its limit during the run (peak 100%)"),
        # Peak modest (or unknown): only Locust's cpu_warning says so.
        ({"cpu_warning": True}, "load generator CPU hit its limit during the run (peak 25%)"),
        ({"cpu_warning": True, "cpu_percent_peak": None}, "load generator CPU hit its limit during the run"),
    ],
)
def test_a_cpu_peak_or_locusts_warning_alone_is_an_issue(generator: dict[str, Any], message: str) -> None:
    result = result_from_windows(STEADY, generator={**HEALTHY, **generator})

    assert generator_issues(result, load_profile()) == [message]


def test_a_peak_just_under_the_limit_is_no_issue() -> None:
    result = result_from_windows(STEADY, generator={**HEALTHY, "cpu_percent_peak": CPU_SATURATED_PERCENT - 0.1})

    assert generator_issues(result, load_profile()) == []


def test_an_open_model_run_that_sent_under_half_its_rate_is_an_issue() -> None:
    # rate=10 over 20 s asks for 200 requests; 4/s (80) is under half, 6/s (120) is not.
    short = result_from_windows([([20_000] * 4, 0)] * 20, generator=HEALTHY)
    enough = result_from_windows([([20_000] * 6, 0)] * 20, generator=HEALTHY)
    open_model = load_profile(rate=10.0)

    assert generator_issues(short, open_model) == [
        "load generator sent 80 requests where 10 rps imply about 200: it could not keep up"
    ]
    assert generator_issues(enough, open_model) == []


def test_the_open_model_schedule_holds_even_with_a_custom_locustfile() -> None:
    # A custom locustfile sets a closed-loop user's pacing, but `rate=` still fixes the schedule.
    short = result_from_windows([([20_000] * 4, 0)] * 20, generator=HEALTHY)

    issues = generator_issues(short, load_profile(rate=10.0, locustfile=__file__))

    assert len(issues) == 1 and "where 10 rps imply about 200" in issues[0]


def test_doubt_keeps_a_fail_that_had_nothing_to_measure() -> None:
    # A starved generator makes measured verdicts INCONCLUSIVE; "the sample has no labels" is no
    # measurement, so it stays FAIL whatever the host (a busy CI host turned it INCONCLUSIVE).
    unlabelled = result_from_windows(STEADY, generator=HEALTHY)
    measured, missing = evaluate(["p95 < 1s", "auc >= 0.5"], unlabelled)
    assert (measured.verdict, missing.verdict) == (PASS, FAIL) and math.isnan(missing.measured)

    doubted, kept = doubt([measured, missing], ["load generator CPU hit its limit during the run"])

    assert doubted.verdict == INCONCLUSIVE and doubted.reason.startswith("untrustworthy measurement: ")
    assert kept == missing
