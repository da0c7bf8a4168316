"""Load results built from latencies a test chooses, shaped exactly like what the Locust child
writes, for tests that need the truth known exactly (verdicts, warm-up, baselines)."""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any

from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.result_schema import RESULT_FORMAT
from pytest_aksload.stats import histograms
from pytest_aksload.stats.histograms import Latencies
from pytest_aksload.stats.result import LoadResult

STARTED = 1_700_000_000.0


def result_from_windows(
    windows: Sequence[tuple[Sequence[int], int]], *, window_s: float = 1.0, warmup_s: float = 0.0, **extra: Any
) -> LoadResult:
    """A result as the recorder writes it: `windows` are (latencies in µs, failures) per window;
    the totals hold the windows after `warmup_s` (the recorder's view when every request
    finishes in the window it started in)."""
    total, encoded, measured_failures = Latencies(), [], 0
    for index, (values, failures) in enumerate(windows):
        histogram = histograms.new_histogram()
        for us in values:
            histogram.record_value(us)
            if index * window_s >= warmup_s:
                total.record(us)
        measured_failures += failures if index * window_s >= warmup_s else 0
        encoded.append(
            {
                "index": index,
                "start_offset_s": index * window_s,
                "duration_s": window_s,
                "requests": len(values),
                "failures": failures,
                "histogram": histograms.encode(histogram) if values else None,
            }
        )
    data = {
        "format": RESULT_FORMAT,
        "complete": True,
        "started_at": STARTED,
        "measure_start": STARTED + warmup_s,
        "ended_at": STARTED + len(windows) * window_s,
        "warmup_s": warmup_s,
        "window_s": window_s,
        "users_peak": 10,
        "generator": {"cpu_percent": 20.0, "cpu_percent_peak": 25.0, "cpu_warning": False, "warnings": []},
        "total": {**total.to_dict(), "failures": measured_failures},
        "endpoints": {},
        "windows": encoded,
        "errors": [],
        **extra,
    }
    return LoadResult.from_dict(data)


def steady_result(
    latency_us: int, *, seconds: int = 10, per_second: int = 100, failures: int = 0, **extra: Any
) -> LoadResult:
    """`seconds` one-second windows of `per_second` requests, all taking `latency_us` (apart from a
    ±1 % spread, so percentiles have an interval); `failures` of them failed, in the first second."""
    spread = [latency_us + (i % 21 - 10) * latency_us // 1000 for i in range(per_second)]
    return result_from_windows([(spread, failures if second == 0 else 0) for second in range(seconds)], **extra)


def side_by_side(candidate: LoadResult, other: LoadResult, **extra: Any) -> LoadResult:
    """`candidate` measured side by side with `other` (the result file's `against`), plus `extra` keys
    (`agreement`, `sequential`, `endpoints`, ...)."""
    return LoadResult.from_dict({**candidate.to_dict(), "against": other.to_dict(), **extra})


def endpoint_stats(latencies_us: Sequence[int], failures: int = 0) -> dict[str, Any]:
    """One entry of the result file's `endpoints`: these latencies, `failures` of them failed."""
    latencies = Latencies()
    for us in latencies_us:
        latencies.record(us)
    return {**latencies.to_dict(), "failures": failures}


def load_profile(**changes: Any) -> LoadProfile:
    """A plain closed-model profile (10 users, 20 s, no objectives) with `changes`."""
    fields: dict[str, Any] = {
        "users": 10,
        "spawn_rate": 10.0,
        "duration_s": 20.0,
        "wait_s": (0.5, 1.5),
        "slos": (),
        "warmup_s": 0.0,
        "rows": 10,
        "locustfile": None,
        "request_timeout_s": 10.0,
    }
    fields.update(changes)
    return LoadProfile(**fields)


EPOCH = 1_000_000.0  # a FakeClock's wall-clock start


class FakeClock:
    """`now` seconds after the start on the `time` of each of `modules` (wall = EPOCH + now, monotonic =
    now): the recording core's clock, moved by the test instead of by time passing."""

    def __init__(self, monkeypatch: Any, *modules: Any) -> None:
        self.now = 0.0
        fake = types.SimpleNamespace(
            monotonic=lambda: self.now, time=lambda: EPOCH + self.now, process_time=lambda: 0.0
        )
        for module in modules:
            monkeypatch.setattr(module, "time", fake)
