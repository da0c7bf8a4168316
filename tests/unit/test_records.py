"""The gate's outcome and the report record, on synthetic results (no Locust, no pytest run):
the verdict word each output shows, and a run that measured nothing (no NaN anywhere, a clear
failure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from synthetic_results import result_from_windows

from pytest_aksload.config.profile import LoadProfile, profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.reports.files import junit_properties, write_report_dir
from pytest_aksload.reports.record import build_record, result_document, verdict_of
from pytest_aksload.reports.terminal import SUMMARY_COLUMNS, format_table, summary_rows
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts import baseline
from pytest_aksload.verdicts.decision import judge_gate


def profile(**marker: Any) -> LoadProfile:
    return profile_from_marker((), {"users": 10, "duration": "5s", **marker}, Settings(), Path(__file__).parent)


def empty_run(**extra: object) -> LoadResult:
    """Five seconds of load in which no request completed."""
    return result_from_windows([([], 0)] * 5, **extra)


def test_a_run_that_measured_nothing_fails_clearly_and_reports_valid_json(tmp_path: Path) -> None:
    empty = empty_run()
    for slos in ([], ["p95 < 300ms"]):
        outcome = judge_gate(profile(slo=slos), empty, "fail")
        assert outcome.failure is not None and outcome.failure.startswith("the load measured 0 requests: ")
        assert "no request that started after the 0s warm-up completed" in outcome.failure and not outcome.inconclusive
        verdict = verdict_of(True, outcome, failed_by_gate=True)
        record = build_record("t.py::test_empty", "2 users", verdict, gated=outcome)
        assert record["verdict"] == "FAIL"
        json.dumps(record, allow_nan=False)  # no NaN: summary.json is written strictly
    assert record["metrics"] is not None and record["metrics"]["p95_ms"] is None
    assert record["slos"][0]["verdict"] == "FAIL" and "nothing was measured" in record["slos"][0]["description"]
    write_report_dir(tmp_path, [record])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["tests"][0]["metrics"]["requests"] == 0
    (row,) = summary_rows([record])
    assert row[1] == "0" and row[-1] == "FAIL" and row[5] == "-"  # p95: undefined, shown as "-"
    assert len(format_table(SUMMARY_COLUMNS, [row])) == 3
    assert ("aksload.p95_ms", "n/a") in junit_properties(record)


def test_a_warm_up_as_long_as_the_run_is_named() -> None:
    data = result_from_windows([([20_000] * 5, 0)] * 3).to_dict()
    data["warmup_s"] = 3.0
    data["measure_start"] = data["started_at"] + 3.0
    data["total"] = {**empty_run().to_dict()["total"]}
    outcome = judge_gate(profile(), LoadResult.from_dict(data), "fail")
    assert outcome.failure is not None and "warm-up (3s) lasted the whole" in outcome.failure


def test_verdict_words() -> None:
    gate = profile(slo="p95 < 1s")
    passing = judge_gate(gate, result_from_windows([([20_000] * 50, 0)] * 5), "fail")
    unsure = judge_gate(gate, result_from_windows([([20_000] * 3, 0)]), "fail")
    assert passing.failure is None and unsure.failure is not None and unsure.inconclusive
    assert verdict_of(False, passing, failed_by_gate=False) == "PASS"
    assert verdict_of(True, passing, failed_by_gate=False) == "FAIL"  # the test body failed
    assert verdict_of(True, unsure, failed_by_gate=True) == "INCONCLUSIVE"
    assert verdict_of(True, unsure, failed_by_gate=False) == "FAIL"
    assert verdict_of(True, None, failed_by_gate=False) == "ERROR"
    assert verdict_of(False, None, failed_by_gate=False) == "SKIP"


def test_the_record_carries_what_the_gate_found_and_the_measurement_alone() -> None:
    measured = result_from_windows([([20_000] * 50, 0)] * 5)
    capacity = {"capacity_rps": 40.0, "bounded": False, "steps": []}
    comparisons = baseline.compare_with_baseline(measured, measured)
    gated = judge_gate(
        profile(), measured, "fail", comparisons, compared=True,
        generator_issues=["busy"], overlapping_tests=["t.py::other"], capacity=capacity,
    )  # fmt: skip
    record = build_record("t.py::test_gate", "p", "PASS", target="svc", gated=gated, locust_html="x.html")
    assert (record["generator_issues"], record["overlapping_tests"], record["capacity"]) == (
        ["busy"],
        ["t.py::other"],
        capacity,
    )
    assert record["compared"] and [c["metric"] for c in record["comparisons"]] == list(baseline.DEFAULT_METRICS)
    # Each figure once: the measurement without a derived summary, the headline figures beside it,
    # joined back into the LoadResult.to_dict() form for the --aks-report file.
    assert "summary" not in record["result"] and record["metrics"] == measured.figures()
    assert result_document(record) == measured.to_dict()
    assert LoadResult.from_dict(record["result"]).requests == 250
    assert ("aksload.generator_issues", "['busy']") in junit_properties(record)
    assert [w["end_s"] for w in record["timeline"]] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_nothing_compared_lists_the_baselines_entries() -> None:
    stored = {"t.py::b": empty_run(), "t.py::a": empty_run()}
    message = baseline.nothing_compared("base.json", stored, 2)
    assert "none of this session's 2 load test(s) has an entry" in message and "t.py::a, t.py::b" in message
    assert "base.json" in baseline.missing_entry("t.py::c", "base.json") and "t.py::c" in baseline.missing_entry(
        "t.py::c", "base.json"
    )


@pytest.mark.parametrize("policy", ["fail", "extend"])
def test_a_capacity_search_lets_inconclusive_pass_with_a_warning(policy: str) -> None:
    few = result_from_windows([([20_000] * 3, 0)])
    outcome = judge_gate(profile(slo="p95 < 1s", capacity={"start": 10}), few, policy)
    assert outcome.failure is None and any("INCONCLUSIVE" in warning for warning in outcome.warnings)
