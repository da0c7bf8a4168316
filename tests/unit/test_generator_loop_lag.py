"""The event-loop lag check of generator health: a result whose recorder saw its 0.1 s probe wake
>= 100 ms late (p95) is untrustworthy, and every verdict says why instead of passing or failing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from synthetic_results import steady_result

from pytest_aksload.config.profile import LoadProfile, profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts import decision
from pytest_aksload.verdicts.health import LOOP_LAG_LIMIT_MS, generator_issues
from pytest_aksload.verdicts.slo import INCONCLUSIVE, PASS

HEALTHY_CPU = {"cpu_percent": 20.0, "cpu_percent_peak": 25.0, "cpu_warning": False, "warnings": []}


def result_with_lag(loop_lag_ms: dict[str, Any] | None) -> LoadResult:
    generator = dict(HEALTHY_CPU) if loop_lag_ms is None else {**HEALTHY_CPU, "loop_lag_ms": loop_lag_ms}
    return steady_result(20_000, generator=generator)


def profile() -> LoadProfile:
    # A custom locustfile sets its own pacing, so the shortfall check stays out of these tests.
    marker = {"slo": ["p95 < 100ms", "failure_rate < 1%"], "locustfile": __file__}
    return profile_from_marker((), marker, Settings(), Path(__file__).parent)


@pytest.mark.parametrize(
    ("loop_lag_ms", "flagged"),
    [
        (None, False),  # an old result file, or no probe completed
        ({"p50": None, "p95": None, "max": None}, False),
        ({"p50": 1.0, "p95": 99.9, "max": 400.0}, False),  # one long stall is not a late loop
        ({"p50": 40.0, "p95": LOOP_LAG_LIMIT_MS, "max": 300.0}, True),
        ({"p50": 200.0, "p95": 350.0, "max": 900.0}, True),
    ],
)
def test_lag_at_or_over_the_limit_at_p95_is_an_issue(loop_lag_ms: dict[str, Any] | None, flagged: bool) -> None:
    issues = generator_issues(result_with_lag(loop_lag_ms), profile())

    lag_issues = [issue for issue in issues if "event loop" in issue]
    assert bool(lag_issues) is flagged and len(issues) == len(lag_issues)
    if flagged:
        assert f"ran {loop_lag_ms['p95']:.0f} ms late (p95, limit 100 ms)" in lag_issues[0]


def test_a_late_loop_makes_every_verdict_inconclusive_with_the_reason() -> None:
    load = profile()
    healthy = result_with_lag({"p50": 1.0, "p95": 2.0, "max": 5.0})
    lagging = result_with_lag({"p50": 150.0, "p95": 250.0, "max": 400.0})
    issues = generator_issues(lagging, load)

    assert [v.verdict for v in decision.slo_verdicts(load, healthy, generator_issues(healthy, load))] == [PASS, PASS]
    judged = decision.slo_verdicts(load, lagging, issues)
    assert [v.verdict for v in judged] == [INCONCLUSIVE, INCONCLUSIVE]
    assert all("untrustworthy measurement: load generator event loop ran 250 ms late" in v.reason for v in judged)
    failure = decision.apply_policy(load, lagging, "fail", issues).failure  # --aks-inconclusive=fail
    assert failure is not None and "the load generator was the bottleneck" in failure
