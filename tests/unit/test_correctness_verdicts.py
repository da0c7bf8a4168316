"""Correctness in the result and in the SLOs, on synthetic result files whose truth is known: rows and
rows_per_s, mismatch_rate with its interval (whole run and per window), auc/logloss, the first
mismatches in the failure message, and metrics that cannot be measured failing with their reason."""

from __future__ import annotations

import bisect
import math
from typing import Any

import pytest
from synthetic_results import result_from_windows

from pytest_aksload.config.objectives import SloError, parse_slo
from pytest_aksload.reports.record import build_record
from pytest_aksload.reports.terminal import summary_lines
from pytest_aksload.stats.correctness import CorrectnessTally
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts.decision import mismatch_lines
from pytest_aksload.verdicts.slo import FAIL, INCONCLUSIVE, PASS, evaluate

REQUESTS_PER_WINDOW, BATCH = 200, 4


def _tally(rows: int, wrong: int, labels: bool = False) -> CorrectnessTally:
    tally = CorrectnessTally()
    for row in range(rows):
        prediction = (row % 100) / 100
        tally.add(row % 50, prediction + (0.01 if row < wrong else 0.0), prediction, float(row % 2) if labels else None)
    return tally


def _result(wrong_per_window: list[int], labels: bool = False, **extra: Any) -> LoadResult:
    """Windows of 200 requests x 4 rows each; window i has `wrong_per_window[i]` mismatches."""
    base = result_from_windows([([5_000] * REQUESTS_PER_WINDOW, 0)] * len(wrong_per_window))
    data = base.to_dict()
    tallies = [_tally(REQUESTS_PER_WINDOW * BATCH, wrong, labels) for wrong in wrong_per_window]
    for window, tally in zip(data["windows"], tallies, strict=True):
        window["rows"], window["correctness"] = REQUESTS_PER_WINDOW * BATCH, tally.to_dict()
    data["total"]["rows"] = REQUESTS_PER_WINDOW * BATCH * len(wrong_per_window)
    data["total"]["correctness"] = CorrectnessTally.merged(tallies).to_dict()
    return LoadResult.from_dict({**data, "sample_rows": 50, **extra})


def test_rows_and_rows_per_s_count_every_row_of_the_successful_requests() -> None:
    result = _result([0] * 5)
    assert result.rows == 5 * REQUESTS_PER_WINDOW * BATCH
    assert result.rows_per_s == pytest.approx(result.rps * BATCH)
    low, high = result.ci("rows_per_s")
    assert low <= result.rows_per_s <= high and high / low == pytest.approx(result.ci("rps")[1] / result.ci("rps")[0])
    assert result.summary()["rows"] == result.rows and result.summary()["mismatches"] == []


def test_mismatch_rate_passes_fails_or_is_inconclusive_by_its_interval() -> None:
    right, one_bad, bad = _result([0] * 5), _result([1, 0, 0, 0, 0]), _result([40] * 5)
    assert right.mismatch_rate == 0 and bad.mismatch_rate == pytest.approx(0.05)
    (v_right,), (v_bad,) = (evaluate("mismatch_rate < 0.1%", r) for r in (right, bad))
    assert (v_right.verdict, v_bad.verdict) == (PASS, FAIL)
    (v_one,) = evaluate("mismatch_rate < 0.5%", one_bad)
    (undecided,) = evaluate("mismatch_rate < 0.1%", one_bad)  # 1 in 4000: its interval straddles 0.1%
    assert (v_one.verdict, undecided.verdict) == (PASS, INCONCLUSIVE)
    assert v_bad.describe().startswith("mismatch_rate < 0.1%: measured 5.00% (95% CI")


def test_a_model_that_goes_wrong_late_is_caught_by_the_windowed_form() -> None:
    result = _result([0, 0, 0, 0, 80])  # 80 of 800 rows wrong in the last second only
    (whole,) = evaluate("mismatch_rate < 3%", result)
    (windowed,) = evaluate("mismatch_rate < 3% over 1s windows", result)
    assert whole.verdict == PASS
    assert windowed.verdict == FAIL and windowed.window == (4.0, 5.0)


def test_max_abs_error_is_a_fact_and_auc_logloss_need_labels() -> None:
    result = _result([3, 0], labels=True)
    (error,) = evaluate("max_abs_error < 0.001", result)
    assert error.verdict == FAIL and error.measured == pytest.approx(0.01) and error.low == error.high
    # The exact values of the rows _tally fed in: Mann-Whitney AUC (ties half) and mean cross-entropy.
    rows = range(REQUESTS_PER_WINDOW * BATCH)
    labelled = [((row % 100) / 100 + (0.01 if row < wrong else 0.0), row % 2) for wrong in (3, 0) for row in rows]
    positives = sorted(p for p, label in labelled if label)
    negatives = [p for p, label in labelled if not label]
    pairs = sum(len(positives) - bisect.bisect_right(positives, n) for n in negatives)
    ties = sum(bisect.bisect_right(positives, n) - bisect.bisect_left(positives, n) for n in negatives)
    exact_auc = (pairs + ties / 2) / (len(positives) * len(negatives))
    assert abs(result.auc - exact_auc) <= result.correctness.auc_error_bound
    losses = [-math.log(min(max(p if label else 1 - p, 1e-15), 1 - 1e-15)) for p, label in labelled]
    assert result.logloss == pytest.approx(sum(losses) / len(losses), rel=1e-9)
    assert {verdict.verdict for verdict in evaluate(["auc >= 0", "logloss <= 100"], result)} == {PASS}
    unlabelled = _result([0, 0])
    (auc,) = evaluate("auc >= 0.75", unlabelled)
    assert auc.verdict == FAIL and "the sample has no labels" in (auc.reason or "")
    assert "the sample has no labels" in auc.describe()


def test_without_expectations_mismatch_rate_fails_saying_what_is_missing() -> None:
    result = result_from_windows([([5_000] * 10, 0)] * 2)  # no correctness at all
    (verdict,) = evaluate("mismatch_rate < 1%", result)
    assert verdict.verdict == FAIL and math.isnan(verdict.measured)
    assert verdict.reason is not None and verdict.reason.startswith("no expected predictions to compare with")
    assert result.ci("mismatch_rate") == (pytest.approx(math.nan, nan_ok=True),) * 2 or all(
        math.isnan(v) for v in result.ci("mismatch_rate")
    )
    assert result.cis()["mismatch_rate"] == [None, None]


def test_the_failure_message_lists_the_first_mismatches() -> None:
    lines = mismatch_lines(_result([7, 0])).splitlines()
    assert lines[1] == "wrong predictions (7 of 1600 checked rows; first 5):"
    assert lines[2].startswith("  sample row 0: expected 0.0, got 0.01")
    assert mismatch_lines(_result([0])) == ""


def test_a_warm_up_cut_recomputes_rows_and_correctness_from_the_windows() -> None:
    cut = _result([40, 0, 0]).with_warmup(1.0, "fixed")
    assert cut.rows == 2 * REQUESTS_PER_WINDOW * BATCH and cut.mismatch_rate == 0


@pytest.mark.parametrize(
    ("text", "metric", "threshold"),
    [
        ("mismatch_rate < 0.1%", "mismatch_rate", 0.001),
        ("rows_per_s >= 500", "rows_per_s", 500),
        ("auc >= 0.75", "auc", 0.75),
        ("logloss <= 0.45", "logloss", 0.45),
        ("max_abs_error < 1e-3".replace("1e-3", "0.001"), "max_abs_error", 0.001),
        ("mismatch_rate < 0.1% over 10s windows", "mismatch_rate", 0.001),
    ],
)
def test_the_new_metrics_parse(text: str, metric: str, threshold: float) -> None:
    slo = parse_slo(text)
    assert (slo.metric, slo.threshold) == (metric, pytest.approx(threshold))


def test_a_bare_mismatch_rate_above_one_is_refused_with_the_percent_hint() -> None:
    with pytest.raises(SloError, match="a bare mismatch_rate is a fraction 0..1; for a percentage write 5%"):
        parse_slo("mismatch_rate < 5")


def test_the_session_summary_shows_the_first_wrong_predictions() -> None:
    record = build_record("test_x.py::test_gate", "profile", "FAIL", partial=_result([2, 0]))
    lines = summary_lines([record], None, None)
    assert "test_x.py::test_gate: wrong predictions (0.12% of checked rows): row 0: expected 0, got 0.01; " in lines[-1]
    assert record["metrics"]["mismatches"][0] == {"row": 0, "expected": 0.0, "got": 0.01}


def test_remote_workers_refuse_a_contract_from_a_file(tmp_path: Any) -> None:
    from pytest_aksload.config.profile import ProfileError, profile_from_marker
    from pytest_aksload.config.settings import Settings

    (tmp_path / "mine.py").write_text("class C:\n    def encode(self, rows): ...\n    def decode(self, s, h, b): ...\n")
    settings = Settings(aks_expect_workers=2, aks_master_bind=("127.0.0.1", 5557))
    with pytest.raises(ProfileError, match="remote workers cannot load a contract from a file"):
        profile_from_marker((), {"contract": "mine.py:C"}, settings, tmp_path)
    assert profile_from_marker((), {"contract": "mine.py:C"}, Settings(), tmp_path).contract.endswith("mine.py:C")
