"""LoadResult and the histogram layer, on synthetic result data (no Locust in this process)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from pytest_aksload.result_schema import RESULT_FORMAT
from pytest_aksload.stats import histograms
from pytest_aksload.stats.histograms import Latencies
from pytest_aksload.stats.result import ErrorGroup, LoadResult, ResultFileError
from pytest_aksload.verdicts.gated import MEASUREMENT_ATTRIBUTES, GatedResult

STARTED = 1_700_000_000.0


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered) - 1e-9)) - 1]


def stats_dict(latencies_us: list[int], failures: int) -> dict[str, Any]:
    latencies = Latencies()
    for us in latencies_us:
        latencies.record(us)
    return {**latencies.to_dict(), "failures": failures}


def make_result(latencies_us: list[int], *, warmup_s: float = 1.0, duration_s: float = 10.0) -> dict[str, Any]:
    """A result as the recorder writes it: 10 measured seconds, two windows of 5 s each."""
    half = len(latencies_us) // 2
    windows = []
    for index, chunk in enumerate((latencies_us[:half], latencies_us[half:])):
        histogram = histograms.new_histogram()
        for us in chunk:
            histogram.record_value(us)
        windows.append(
            {
                "index": index,
                "start_offset_s": index * 5.0,
                "duration_s": 5.0,
                "requests": len(chunk),
                "failures": min(1, len(chunk)),
                "histogram": histograms.encode(histogram) if chunk else None,
            }
        )
    return {
        "format": RESULT_FORMAT,
        "complete": True,
        "started_at": STARTED,
        "measure_start": STARTED + warmup_s,
        "ended_at": STARTED + warmup_s + duration_s,
        "warmup_s": warmup_s,
        "window_s": 5.0,
        "users_peak": 20,
        "generator": {"cpu_percent": 12.5, "warnings": []},
        "total": stats_dict(latencies_us, min(2, len(latencies_us))),
        "endpoints": {"POST /score": stats_dict(latencies_us, min(2, len(latencies_us)))},
        "windows": windows,
        "errors": [
            {"kind": "http", "status": 500, "message": "HTTP 500", "count": 1},
            {"kind": "timeout", "status": None, "message": "TimeoutError: timed out", "count": 1},
        ],
    }


@pytest.fixture(scope="module")
def latencies_us() -> list[int]:
    rng = random.Random(7)
    return [max(1, int(rng.lognormvariate(11.5, 0.6))) for _ in range(20_000)]


@pytest.fixture(scope="module")
def result(latencies_us: list[int]) -> LoadResult:
    return LoadResult.from_dict(make_result(latencies_us))


def test_fields(result: LoadResult, latencies_us: list[int]) -> None:
    assert result.requests == 20_000 and result.failures == 2
    assert result.failure_rate == pytest.approx(2 / 20_000)
    assert result.duration_s == pytest.approx(10.0)
    assert result.rps == pytest.approx(2_000.0)
    assert result.mean_ms == pytest.approx(sum(latencies_us) / len(latencies_us) / 1000)  # exact sum
    assert result.max_ms == max(latencies_us) / 1000  # exact max
    assert result.started_at == STARTED and result.measure_start == STARTED + 1 and result.complete
    assert result.errors == [
        ErrorGroup("http", 500, "HTTP 500", 1),
        ErrorGroup("timeout", None, "TimeoutError: timed out", 1),
    ]
    score = result.endpoints["POST /score"]
    assert score.requests == 20_000 and score.p95_ms == result.p95_ms


@pytest.mark.parametrize("q", [0, 0.1, 1, 25, 50, 90, 95, 99, 99.9, 99.99, 100])
def test_percentiles_within_half_a_bucket(result: LoadResult, latencies_us: list[int], q: float) -> None:
    truth = nearest_rank(latencies_us, q) / 1000
    assert result.percentile(q) == pytest.approx(truth, rel=0.0005)


def test_standard_percentiles_match_percentile(result: LoadResult) -> None:
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (
        result.percentile(50),
        result.percentile(95.0),
        result.percentile(99),
    )


@pytest.mark.parametrize("q", [-0.001, 100.001, 1e9, float("nan"), "95", None, True])
def test_percentile_outside_0_100_is_an_error(result: LoadResult, q: Any) -> None:
    with pytest.raises(ValueError, match="0 to 100"):
        result.percentile(q)


def test_sub_two_millisecond_latencies_are_exact() -> None:
    values = list(range(1, 2001))
    data = make_result(values)
    result = LoadResult.from_dict(data)
    for q in (1, 50, 95, 99, 100):
        assert result.percentile(q) == nearest_rank(values, q) / 1000


def test_timeline(result: LoadResult, latencies_us: list[int]) -> None:
    first, second = result.timeline
    assert (first.index, first.start_offset_s, first.requests, first.failures) == (0, 0.0, 10_000, 1)
    assert first.rps == pytest.approx(2_000.0)
    assert first.p95_ms == pytest.approx(nearest_rank(latencies_us[:10_000], 95) / 1000, rel=0.0005)
    assert second.start_offset_s == 5.0


def test_round_trip_through_dict_and_json(result: LoadResult) -> None:
    again = LoadResult.from_dict(json.loads(result.to_json()))
    assert again.to_dict() == result.to_dict()
    for name in ("requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms"):
        assert getattr(again, name) == getattr(result, name)
    assert again.timeline == result.timeline and again.errors == result.errors
    summary = result.to_dict()["summary"]
    assert summary["p95_ms"] == result.p95_ms and summary["endpoints"]["POST /score"]["requests"] == 20_000


def test_to_dict_histograms_can_be_merged(result: LoadResult) -> None:
    data = result.to_dict()
    merged = histograms.merge(w["histogram"] for w in data["windows"])
    assert merged.get_total_count() == result.requests
    assert histograms.percentile_ms(merged, 95) == pytest.approx(result.p95_ms, rel=0.001)


def test_empty_run_has_nan_latency_and_null_in_json() -> None:
    result = LoadResult.from_dict(make_result([]))
    assert result.requests == 0 and result.failure_rate == 0.0 and result.rps == 0.0
    assert math.isnan(result.p95_ms) and math.isnan(result.mean_ms) and math.isnan(result.max_ms)
    assert not result.p95_ms < 300  # an empty run must not pass a latency objective
    assert json.loads(result.to_json())["summary"]["p95_ms"] is None


def test_repr_is_short_and_informative(result: LoadResult) -> None:
    text = repr(result)
    assert text.startswith("LoadResult(requests=20000, failures=0.01%, rps=2000.0, p95=")
    assert len(text) < 100 and "HISTFAAA" not in text


def test_clamped_values_are_counted_not_dropped() -> None:
    latencies = Latencies()
    for us in (0, -5, 5, histograms.HIGHEST_US * 2):
        latencies.record(us)
    assert latencies.count == 4 and latencies.clamped == 3
    assert latencies.max_us == histograms.HIGHEST_US and latencies.min_us == histograms.LOWEST_US


# --- malformed files: one clear line, never a half-filled LoadResult ------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "result.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="no result file at .*nothing.json"):
        LoadResult.from_file(tmp_path / "nothing.json")


def test_truncated_file(tmp_path: Path, latencies_us: list[int]) -> None:
    text = json.dumps(make_result(latencies_us[:100]))
    with pytest.raises(ResultFileError, match="not valid JSON") as info:
        LoadResult.from_file(write(tmp_path, text[: len(text) // 2]))
    assert "\n" not in str(info.value)


def test_valid_file_loads(tmp_path: Path, latencies_us: list[int]) -> None:
    path = write(tmp_path, json.dumps(make_result(latencies_us[:100])))
    assert LoadResult.from_file(path).requests == 100


def corrupt(data: dict[str, Any], what: str) -> None:
    if what == "format":
        data["format"] = "pytest-aksload-result/999"
    elif what == "no format":
        del data["format"]
    elif what == "missing total":
        del data["total"]
    elif what == "string requests":
        data["total"]["requests"] = "100"
    elif what == "bool as int":
        data["users_peak"] = True
    elif what == "bad histogram":
        data["total"]["histogram"] = "HISTFAAAnot-really"
    elif what == "count mismatch":
        data["total"]["requests"] += 1
    elif what == "more failures than requests":
        data["endpoints"]["POST /score"]["failures"] = 10_000
    elif what == "bad window histogram":
        data["windows"][1]["histogram"] = "garbage"
    elif what == "window count mismatch":
        data["windows"][0]["requests"] += 1
    elif what == "error without count":
        del data["errors"][0]["count"]
    elif what == "zero window":
        data["window_s"] = 0


@pytest.mark.parametrize(
    "what",
    [
        "format",
        "no format",
        "missing total",
        "string requests",
        "bool as int",
        "bad histogram",
        "count mismatch",
        "more failures than requests",
        "bad window histogram",
        "window count mismatch",
        "error without count",
        "zero window",
    ],
)
def test_malformed_content(tmp_path: Path, latencies_us: list[int], what: str) -> None:
    data = make_result(latencies_us[:100])
    corrupt(data, what)
    with pytest.raises(ResultFileError) as info:
        LoadResult.from_file(write(tmp_path, json.dumps(data)))
    message = str(info.value)
    assert message.startswith("result file ") and "\n" not in message


@pytest.mark.parametrize("text", ["[]", "null", '"result"', "42"])
def test_not_an_object(tmp_path: Path, text: str) -> None:
    with pytest.raises(ResultFileError, match="JSON object"):
        LoadResult.from_file(write(tmp_path, text))


def test_a_result_is_read_only(result: LoadResult) -> None:
    """What the child measured never changes after parsing; a cut warm-up is a new result."""
    for name in ("requests", "p95_ms", "timeline", "warmup_s"):
        with pytest.raises(AttributeError, match="read-only"):
            setattr(result, name, 0)
    with pytest.raises(AttributeError, match="read-only"):
        del result.requests
    cut = result.with_warmup(5.0, "test")
    assert cut is not result and cut.warmup_s == 5.0 and result.warmup_s == 1.0
    assert not hasattr(result, "capacity") and "capacity" not in result.to_dict()


def test_gated_result_holds_the_measurement_and_round_trips(result: LoadResult) -> None:
    capacity = {"capacity_rps": 42.0, "bounded": False, "steps": []}
    gated = GatedResult(result, generator_issues=["busy"], overlapping_tests=["t.py::b"], capacity=capacity)
    assert not isinstance(gated, LoadResult) and gated.measurement is result
    assert gated.p95_ms == result.p95_ms and gated.timeline is result.timeline and gated.ci("p95") == result.ci("p95")
    assert (gated.generator_issues, gated.overlapping_tests, gated.capacity_rps) == (["busy"], ["t.py::b"], 42.0)
    for name in ("capacity", "p95_ms", "verdicts"):
        with pytest.raises(AttributeError):
            setattr(gated, name, None)
    with pytest.raises(AttributeError):  # a typo is an error, not a silent None
        gated.p59_ms  # noqa: B018
    data = json.loads(gated.to_json())
    assert GatedResult.from_dict(data).to_dict() == gated.to_dict()
    # A plain reader takes the measurement; the gate's fields are extra keys it ignores.
    assert LoadResult.from_dict(data).requests == result.requests
    assert GatedResult(result).capacity_rps is None and GatedResult.from_dict(result.to_dict()).generator_issues == []
    with pytest.raises(ResultFileError, match="generator_issues must be a list of strings"):
        GatedResult.from_dict({**data, "generator_issues": "busy"})


# What docs/writing-gates.md and docs/side-by-side.md say a test reads from `load_result`.
DOCUMENTED_ATTRIBUTES = (
    "requests", "failures", "failure_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms", "percentile",
    "duration_s", "endpoints", "errors", "failures_by_kind", "timeline", "to_dict", "to_json", "rows", "rows_per_s",
    "mismatch_rate", "max_abs_error", "auc", "logloss", "unmeasured", "mismatches", "correctness", "ci", "windows",
    "warmup_s", "warmup_method", "aborted", "uncorrected", "schedule", "generator_issues", "overlapping_tests",
    "capacity_rps", "capacity", "against", "comparison", "agreement", "decided_at_s", "looks", "verdicts",
)  # fmt: skip


def test_load_result_has_every_documented_attribute(result: LoadResult) -> None:
    docs = Path(__file__).parents[2] / "docs"
    text = (docs / "writing-gates.md").read_text(encoding="utf-8") + (docs / "side-by-side.md").read_text("utf-8")
    gated = GatedResult(result)
    for name in DOCUMENTED_ATTRIBUTES:
        assert f"`{name}" in text or f"load_result.{name}" in text, f"{name} is not documented"
        assert hasattr(gated, name), f"load_result.{name} is documented but missing"


def test_every_public_measurement_attribute_reaches_load_result(result: LoadResult) -> None:
    """A field added to LoadResult is delegated explicitly (or deliberately left to the measurement)."""
    own = {"from_dict", "from_file", "from_windows", "with_warmup", "to_dict", "to_json", "comparison"}
    own |= {"result_file", "figures", "other_side_figures"}  # the record's sources, not a test's
    public = {name for name in dir(result) if not name.startswith("_")}
    assert public - own == set(MEASUREMENT_ATTRIBUTES)
