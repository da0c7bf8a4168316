"""A relative objective whose other side (or candidate) measured nothing FAILs, saying which side:
never INCONCLUSIVE, which --aks-inconclusive=pass would pass. A custom locustfile that never uses
`request_plan()` sends nothing to the other side, and must not pass `rps >= 0.9x` that way."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_results import result_from_windows, side_by_side, steady_result

from pytest_aksload.config.profile import profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts.decision import apply_policy
from pytest_aksload.verdicts.slo import FAIL, PASS, evaluate

RELATIVE = ["p95 <= 1.2x", "p50 <= 1.1x", "mean <= 1.2x", "rps >= 0.8x", "rows_per_s >= 0.8x", "failure_rate <= +1pp"]


def nothing() -> LoadResult:
    """Ten one-second windows without a request: the side a locustfile never sent to."""
    return result_from_windows([([], 0)] * 10)


@pytest.mark.parametrize("slo", RELATIVE)
def test_an_other_side_that_measured_nothing_fails(slo: str) -> None:
    (verdict,) = evaluate(slo, side_by_side(steady_result(100_000), nothing()))

    metric = slo.split()[0]
    assert (verdict.verdict, verdict.reason) == (FAIL, f"the other side measured no {metric} to compare")


@pytest.mark.parametrize("slo", RELATIVE)
def test_a_candidate_that_measured_nothing_fails(slo: str) -> None:
    (verdict,) = evaluate(slo, side_by_side(nothing(), steady_result(100_000)))

    metric = slo.split()[0]
    assert (verdict.verdict, verdict.reason) == (FAIL, f"the candidate measured no {metric} to compare")


def test_the_same_objectives_pass_when_both_sides_measured_alike() -> None:
    verdicts = evaluate(RELATIVE, side_by_side(steady_result(100_000), steady_result(100_000)))

    assert [v.verdict for v in verdicts] == [PASS] * len(RELATIVE)


def test_inconclusive_pass_does_not_pass_a_comparison_with_nothing() -> None:
    marker = {"slo": ["rps >= 0.9x", "p95 <= 1.2x"], "locustfile": __file__, "against": "http://127.0.0.1:9/score"}
    gate = profile_from_marker((), marker, Settings(), Path(__file__).parent)
    result = side_by_side(steady_result(100_000), nothing())

    decided = apply_policy(gate, result, "pass")

    assert [v.verdict for v in decided.verdicts] == [FAIL, FAIL]
    assert decided.failure is not None and decided.failure.startswith("2 of 2 SLOs violated")
    assert "the other side measured no rps to compare" in decided.failure
