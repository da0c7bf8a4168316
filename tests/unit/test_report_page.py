"""The session page's data, from report records built on synthetic results (no Locust, no browser):
what each chart is given to draw. tests/live/test_reports.py checks in a real browser that it is drawn."""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from synthetic_results import result_from_windows, side_by_side

from pytest_aksload.config.profile import LoadProfile, profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.reports.html import render_session_page
from pytest_aksload.reports.record import SPECTRUM_QUANTILES, build_record, spectrum
from pytest_aksload.stats.correctness import CorrectnessTally
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.targets.deployment import Deployment
from pytest_aksload.verdicts import baseline
from pytest_aksload.verdicts.decision import judge_gate
from pytest_aksload.verdicts.sizing import size


def profile(**marker: Any) -> LoadProfile:
    return profile_from_marker((), {"users": 10, "duration": "10s", **marker}, Settings(), Path(__file__).parent)


def ramp(latency_us: int, seconds: int = 10) -> LoadResult:
    """`seconds` windows of 50 requests whose latencies spread from `latency_us` to 3x it."""
    return result_from_windows([([latency_us + i * latency_us // 25 for i in range(50)], 0)] * seconds)


def page_data(*entries: dict[str, Any]) -> list[dict[str, Any] | None]:
    """What the page's script is given to draw, per test in order."""
    page = render_session_page(entries)
    assert "<script src=" not in page and "http" not in page.split("<script>")[0]  # nothing fetched
    (payload,) = re.findall(r"^const REPORT = (.*);$", page, re.M)
    return list(json.loads(payload)["tests"].values())


def gate_record(result: LoadResult, marker: dict[str, Any], stored: LoadResult | None = None) -> dict[str, Any]:
    gate = profile(**marker)
    comparisons = [] if stored is None else baseline.compare_with_baseline(stored, result)
    gated = judge_gate(gate, result, "fail", comparisons, compared=stored is not None)
    return dict(
        build_record("t.py::test_gate", gate.describe(), "PASS", gated=gated, load_profile=gate, baseline=stored)
    )


def test_objectives_become_threshold_lines_with_their_whole_run_interval_as_a_band() -> None:
    result = ramp(20_000)
    (test,) = page_data(gate_record(result, {"slo": ["p95 < 300ms", "mean < 1s", "rps >= 20", "failure_rate < 1%"]}))
    p95, mean = test["objectives"]
    assert (p95["label"], p95["value"], p95["verdict"]) == ("p95 < 300ms", 300.0, "PASS")
    assert p95["band"] == [round(v, 3) for v in result.ci("p95")] and p95["band"][0] < result.p95_ms < p95["band"][1]
    assert p95["x"] == 20.0  # where p95 sits on the spectrum's 1/(1-q) axis
    assert mean["label"] == "mean < 1s" and mean["value"] == 1000.0 and "x" not in mean
    assert [mark["label"] for mark in test["rps_objectives"]] == ["rps >= 20"]


def test_the_spectrum_runs_p0_to_p99_99_from_the_histogram_with_the_baseline_beside_it() -> None:
    result, stored = ramp(20_000), ramp(30_000)
    (test,) = page_data(gate_record(result, {"slo": "p95 < 300ms"}, stored=stored))
    assert test["spectrum_x"][0] == 1 and test["spectrum_x"][-1] == 10_000 and len(test["spectrum_x"]) == 41
    assert [side["name"] for side in test["spectrum"]] == ["this run", "baseline"]
    now, then = (side["ms"] for side in test["spectrum"])
    assert now == sorted(now) and now[0] == result.percentile(0)
    assert now[SPECTRUM_QUANTILES.index(99.0)] == round(result.percentile(99), 3)
    assert now[-1] == pytest.approx(result.max_ms, rel=1e-3) and then[-1] == pytest.approx(stored.max_ms, rel=1e-3)
    (alone,) = page_data(gate_record(result, {"slo": "p95 < 300ms"}))
    assert [side["name"] for side in alone["spectrum"]] == ["this run"]


def test_the_record_carries_the_baseline_spectrum_not_the_baseline() -> None:
    stored = ramp(30_000)
    record = gate_record(ramp(20_000), {}, stored=stored)
    assert record["baseline_spectrum"] == spectrum(stored) and len(record["baseline_spectrum"]) == 41
    json.dumps(record, allow_nan=False)  # summary.json is strict
    assert spectrum(result_from_windows([([], 0)] * 3)) == []  # nothing measured: no curve


def test_users_ramp_at_the_spawn_rate_and_an_open_model_shows_its_offered_rate() -> None:
    (closed,) = page_data(gate_record(ramp(20_000), {"users": 8, "spawn_rate": 3}))
    assert closed["x"] == [float(s) for s in range(1, 11)]
    assert closed["load"]["label"] == "users" and closed["load"]["values"] == [3, 6, 8, 8, 8, 8, 8, 8, 8, 8]
    (open_model,) = page_data(gate_record(ramp(20_000), {"rate": 40}))
    assert open_model["load"]["label"] == "offered /s" and open_model["load"]["values"] == [40.0] * 10
    assert open_model["rps"] == [50.0] * 10  # achieved, beside it
    (search,) = page_data(gate_record(ramp(20_000), {"slo": "p95 < 1s", "capacity": {"start": 10}}))
    assert search["load"] is None  # the rate changes step by step: nothing fixed to draw


def test_warm_up_latency_per_window_and_failures_by_kind_when_windows_are_detailed() -> None:
    data = result_from_windows([([40_000] * 10, 2), ([20_000] * 10, 1), ([20_000] * 10, 0)], warmup_s=1.0).to_dict()
    kinds = [[("timeout", 2)], [("http", 1)], []]
    for window, groups in zip(data["windows"], kinds, strict=True):
        window["errors"] = [{"kind": k, "status": None, "message": "m", "count": n} for k, n in groups]
    (test,) = page_data(gate_record(LoadResult.from_dict(data), {}))
    assert test["warmup_s"] == 1.0 and test["warmup_method"] == "fixed"
    assert [side["name"] for side in test["latency"]] == ["this run"]
    assert test["latency"][0]["p50"] == pytest.approx([40.0, 20.0, 20.0], rel=1e-3)  # warm-up included
    assert test["failures"] == [{"label": "timeout", "values": [2, 0, 0]}, {"label": "http", "values": [0, 1, 0]}]
    # Without detail the windows only count failures: one series, named with the run's kinds.
    (plain,) = page_data(gate_record(result_from_windows([([20_000] * 10, 2), ([20_000] * 10, 0)]), {}))
    assert plain["failures"] == [{"label": "failures", "values": [2, 0]}]


def test_mismatch_rate_per_window_where_predictions_were_checked() -> None:
    data = result_from_windows([([20_000] * 4, 0)] * 3).to_dict()
    tallies = [CorrectnessTally(), CorrectnessTally(), None]
    for row in range(4):
        tallies[0].add(row, 0.5, expected=0.5)  # type: ignore[union-attr]
        tallies[1].add(row, 0.5 if row else 0.9, expected=0.5)  # type: ignore[union-attr]
    for window, tally in zip(data["windows"], tallies, strict=True):
        window["correctness"] = None if tally is None else tally.to_dict()
    (test,) = page_data(gate_record(LoadResult.from_dict(data), {}))
    assert test["mismatch"] == [0.0, 25.0, None]
    (unchecked,) = page_data(gate_record(ramp(20_000), {}))
    assert unchecked["mismatch"] is None  # no chart for a test that checked nothing


def test_the_header_names_versions_without_importing_locust_and_verdicts_carry_their_reason() -> None:
    record = gate_record(ramp(20_000), {"slo": "p95 < 1ms"})
    record.update(verdict="FAIL", target="my-service", generator_issues=["CPU 97 %"])
    page = render_session_page([record])
    assert f"<span>Locust</span> {metadata.version('locust')}" in page and "locust" not in sys.modules
    assert "<span>target</span> my-service" in page and "overloaded in 1 test(s)" in page
    assert re.search(r'<li style="color:#a40e26">p95 &lt; 1ms: measured [\d.]+ms .*\(FAIL\)</li>', page)
    assert '<li style="color:#9a6700">load generator: CPU 97 %</li>' in page
    nothing = dict(record, result=None, metrics=None, verdict="ERROR")
    assert page_data(nothing) == [None] and "No result: the load did not run to the end." in (
        render_session_page([nothing])
    )


def test_the_other_side_of_a_side_by_side_gate_is_one_more_series_on_latency_and_the_spectrum() -> None:
    """A side-by-side result draws both deployments: latency over time and the percentile spectrum."""
    other = ramp(50_000)
    both = side_by_side(ramp(20_000), other)
    (test,) = page_data(gate_record(both, {"slo": ["p95 <= 1.10x"], "against": "blue"}, stored=ramp(30_000)))
    assert [side["name"] for side in test["latency"]] == ["candidate", "other side"]
    assert test["latency"][1]["p95"] == [round(w.p95_ms, 3) for w in other.timeline]
    assert [side["name"] for side in test["spectrum"]] == ["candidate", "baseline", "other side"]
    assert test["spectrum"][2]["ms"][-1] == pytest.approx(other.max_ms, rel=1e-3)


def test_a_run_that_measured_nothing_draws_thresholds_without_bands() -> None:
    (test,) = page_data(gate_record(result_from_windows([([], 0)] * 3), {"slo": "p95 < 300ms"}))
    assert test["objectives"] == [{"label": "p95 < 300ms", "value": 300.0, "verdict": "FAIL", "x": 20.0}]
    assert test["spectrum"][0]["ms"] == [None] * 41 and test["latency"][0]["p95"] == [None] * 3


def test_outputs_read_records_only() -> None:
    """Every output but the record's builder reads report records, never a measurement."""
    reports = Path(__file__).parents[2] / "pytest_aksload" / "reports"
    for module in reports.glob("*.py"):
        if module.name != "record.py":
            text = module.read_text(encoding="utf-8")
            assert "from pytest_aksload.stats" not in text and "LoadResult.from_dict(" not in text, module.name


def test_a_capacity_search_shows_its_sizing_as_a_sentence_and_its_steps_with_the_knee() -> None:
    gate = profile(slo="p95 < 1s", capacity={"start": 10}, peak=1200)
    steps = [
        {"phase": "ramp", "rate": 10.0, "passed": True, "rps": 10.0, "p95_ms": 20.0, "failure_rate": 0.0,
         "violated": []},
        {"phase": "ramp", "rate": 20.0, "passed": False, "rps": 12.0, "p95_ms": None, "failure_rate": 0.5,
         "violated": ["p95 < 1s"]},
        {"phase": "confirm", "rate": 10.0, "passed": True, "rps": 10.0, "p95_ms": 21.0, "failure_rate": 0.0,
         "violated": []},
    ]  # fmt: skip
    sizing = size(10.0, Deployment(instances=1, max_concurrent_per_instance=2), 1200.0, 0.7, 50.0)
    capacity = {"capacity_rps": 10.0, "bounded": False, "steps": steps}
    gated = judge_gate(gate, ramp(20_000), "fail", capacity=capacity, sizing=sizing)
    record = build_record("t.py::test_gate", gate.describe(), "PASS", gated=gated, load_profile=gate)
    assert record["sizing"]["instances_needed"] == 172 and record["sizing"]["sentence"] == sizing.sentence()
    json.dumps(record, allow_nan=False)  # summary.json takes it as it is
    page = render_session_page([dict(record)])
    assert "sizing: Capacity 10 rps, 10.0 rps per instance (1 instance)" in page
    rows = re.findall(r"<tr><td>(\w+)</td><td>([\d.]+)</td>.*?<td>(PASS|FAIL)([^<]*)</td></tr>", page)
    assert rows == [("ramp", "10", "PASS", " ← knee (capacity)"), ("ramp", "20", "FAIL", ""),
                    ("confirm", "10", "PASS", " ← knee (capacity)")]  # fmt: skip
    assert "<td>-</td><td>50.00%</td>" in page  # a step that measured no latency shows none
