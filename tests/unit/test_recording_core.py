"""The recording core (`stats.recording`, `stats.windows`, `stats.error_groups`) driven in this
process by plain calls on a fake clock: no Locust, no child Python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from synthetic_results import EPOCH, FakeClock

import pytest_aksload
from pytest_aksload.contracts.failures import describe_exception
from pytest_aksload.protocol import SampleRows
from pytest_aksload.stats import histograms, recording, windows
from pytest_aksload.stats.correctness import CorrectnessTally
from pytest_aksload.stats.error_groups import MAX_ERROR_GROUPS, OTHER_MESSAGES, ErrorGroups
from pytest_aksload.stats.recording import MAX_ENDPOINTS, OTHER_ENDPOINTS, Recorder


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock(monkeypatch, recording)


def started(warmup_s: float = 0.0, window_s: float = 1.0, **settings: Any) -> Recorder:
    recorder = Recorder(warmup_s=warmup_s, window_s=window_s, describe_failure=describe_exception, **settings)
    recorder.start()
    return recorder


def request(
    recorder: Recorder,
    clock: FakeClock,
    done_s: float,
    latency_ms: float,
    name: str = "/score",
    error: BaseException | None = None,
    answer: tuple[tuple[int, ...], list[float]] | None = None,
) -> None:
    """A request that completed `done_s` after the start and took `latency_ms`."""
    clock.now = done_s
    status = None if error is None else 500
    recorder.record("POST", name, latency_ms, EPOCH + done_s - latency_ms / 1000, status, error, None, answer)


def latencies_us(encoded: str | None) -> list[int]:
    """The recorded values of an encoded window histogram (each at its bucket's value)."""
    if encoded is None:
        return []
    histogram = histograms.decode(encoded)
    return [
        item.value_iterated_to
        for item in histogram.get_recorded_iterator()
        for _ in range(item.count_added_in_this_iter_step)
    ]


# --- windows ----------------------------------------------------------------------------------
def test_a_request_goes_to_the_window_it_completed_in(clock: FakeClock) -> None:
    recorder = started(window_s=1.0)
    request(recorder, clock, 0.4, 100.0)
    request(recorder, clock, 1.2, 900.0)  # started in window 0, completed in window 1
    request(recorder, clock, 1.9, 5.0, error=RuntimeError("HTTP 500"))
    clock.now = 2.0
    recorder.stop()
    closed = recorder.windows.closed
    assert [(w["index"], w["requests"], w["failures"]) for w in closed] == [(0, 1, 0), (1, 2, 1)]
    assert latencies_us(closed[0]["histogram"]) == [pytest.approx(100_000, rel=1e-3)]
    assert sorted(latencies_us(closed[1]["histogram"])) == [
        pytest.approx(5_000, rel=1e-3),
        pytest.approx(900_000, rel=1e-3),
    ]


def test_windows_without_requests_are_closed_empty_and_the_last_one_is_partial(clock: FakeClock) -> None:
    recorder = started(window_s=1.0)
    request(recorder, clock, 0.5, 10.0)
    request(recorder, clock, 3.5, 10.0)  # windows 1 and 2 saw nothing
    clock.now = 3.75
    recorder.stop()
    closed = recorder.windows.closed
    assert [w["index"] for w in closed] == [0, 1, 2, 3]
    assert [w["start_offset_s"] for w in closed] == [0.0, 1.0, 2.0, 3.0]
    assert [w["duration_s"] for w in closed] == [1.0, 1.0, 1.0, 0.75]
    assert [(w["requests"], w["histogram"] is None) for w in closed[1:3]] == [(0, True), (0, True)]
    assert closed[3]["requests"] == 1


def test_advancing_closes_the_windows_of_a_silent_service(clock: FakeClock) -> None:
    recorder = started(window_s=1.0)
    seen: list[int] = []
    recorder.windows.on_close = lambda window: seen.append(window["index"])
    clock.now = 2.5
    recorder.advance_windows()
    assert seen == [0, 1]


# --- error groups -----------------------------------------------------------------------------
def test_failures_are_grouped_by_kind_status_and_message(clock: FakeClock) -> None:
    recorder = started()
    for done, message in ((0.1, "HTTP 500"), (0.2, "HTTP 500"), (0.3, "HTTP 502")):
        request(recorder, clock, done, 10.0, error=RuntimeError(message))
    request(recorder, clock, 0.4, 10.0)
    groups = recorder.errors.to_list()
    assert [(g["message"], g["count"]) for g in groups] == [
        ("RuntimeError: HTTP 500", 2),
        ("RuntimeError: HTTP 502", 1),
    ]
    assert {g["status"] for g in groups} == {500}


def test_past_the_group_cap_new_messages_count_under_other_messages_of_their_kind() -> None:
    groups = ErrorGroups()
    for number in range(MAX_ERROR_GROUPS + 7):
        groups.add("http", 500, f"request {number} failed")
    groups.add("http", 500, "request 0 failed")  # a known group still counts as itself
    groups.add("timeout", None, "timed out")  # a new one of another kind: also capped
    listed = groups.to_list()
    assert len(listed) == MAX_ERROR_GROUPS + 2
    assert listed[0] == {"kind": "http", "status": None, "message": OTHER_MESSAGES, "count": 7}
    assert {"kind": "http", "status": 500, "message": "request 0 failed", "count": 2} in listed
    assert {"kind": "timeout", "status": None, "message": OTHER_MESSAGES, "count": 1} in listed
    assert sum(g["count"] for g in listed) == MAX_ERROR_GROUPS + 9


def test_a_result_recut_after_warmup_groups_window_failures_as_the_recorder_does() -> None:
    parts = [
        {"errors": [{"kind": "http", "status": 500, "message": f"m{i}", "count": 1} for i in range(40)]},
        {"errors": [{"kind": "http", "status": 500, "message": f"m{i}", "count": 2} for i in range(30, 70)]},
    ]
    listed = windows.errors_of_windows(parts)
    assert len(listed) == MAX_ERROR_GROUPS + 1
    assert listed[0] == {"kind": "http", "status": None, "message": OTHER_MESSAGES, "count": 40}
    assert {"kind": "http", "status": 500, "message": "m30", "count": 3} in listed


# --- endpoints --------------------------------------------------------------------------------
def test_endpoints_past_the_cap_are_pooled(clock: FakeClock) -> None:
    recorder = started()
    for number in range(MAX_ENDPOINTS + 3):
        request(recorder, clock, 0.1, 10.0, name=f"/e{number}")
    request(recorder, clock, 0.2, 10.0, name="/e0")
    assert len(recorder.endpoints) == MAX_ENDPOINTS + 1
    assert recorder.endpoints["POST /e0"].latencies.count == 2
    assert recorder.endpoints[OTHER_ENDPOINTS].latencies.count == 3
    assert recorder.total().latencies.count == MAX_ENDPOINTS + 4


def test_only_requests_started_after_the_warmup_are_measured(clock: FakeClock) -> None:
    recorder = started(warmup_s=1.0)
    request(recorder, clock, 1.5, 800.0)  # started at 0.7 s: warm-up, though it completed after
    request(recorder, clock, 1.6, 100.0, error=RuntimeError("HTTP 500"))
    request(recorder, clock, 0.5, 10.0, error=RuntimeError("HTTP 502"))
    assert recorder.measured_requests() == 1
    assert [g["message"] for g in recorder.errors.to_list()] == ["RuntimeError: HTTP 500"]
    assert recorder.all_requests == 3


# --- correctness tallies ----------------------------------------------------------------------
SAMPLE = SampleRows(rows=[{"x": 0}, {"x": 1}], expected=[0.25, 0.75], labels=[0.0, 1.0])


def test_a_repeated_matching_answer_is_tallied_once_with_its_count(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    add_batch = CorrectnessTally.add_batch

    def counting(self: CorrectnessTally, *args: Any) -> int:
        calls.append(args[4] if len(args) > 4 else 1)
        return add_batch(self, *args)

    monkeypatch.setattr(CorrectnessTally, "add_batch", counting)
    recorder = started(tolerance=1e-6, sample=SAMPLE)
    for done in (0.1, 0.2, 0.3, 0.4):
        request(recorder, clock, done, 10.0, answer=((0, 1), [0.25, 0.75]))
    request(recorder, clock, 0.5, 10.0, answer=((0,), [0.5]))  # a mismatch: tallied on its own
    assert calls == [1, 1]
    clock.now = 1.0
    recorder.stop()
    assert calls == [1, 1, 3]  # the three repeats, added at the window's close
    tally = recorder.correctness
    assert tally is not None
    assert (tally.predicted, tally.checked, tally.mismatches, tally.labelled) == (9, 9, 1, 9)
    assert recorder.rows == 9 and recorder.windows.closed[0]["rows"] == 9
    by_row = CorrectnessTally(1e-6)
    for _ in range(4):
        by_row.add_batch((0, 1), [0.25, 0.75], SAMPLE.expected, SAMPLE.labels)
    by_row.add_batch((0,), [0.5], SAMPLE.expected, SAMPLE.labels)
    got, want = tally.to_dict(), by_row.to_dict()
    for key in ("loss_sum", "loss_sum_squares"):  # n repeats added at once: only the last bit may differ
        assert got.pop(key) == pytest.approx(want.pop(key), rel=1e-12)
    assert got == want


def test_warmup_answers_count_in_their_window_but_not_in_the_measured_tally(clock: FakeClock) -> None:
    recorder = started(warmup_s=1.0, tolerance=1e-6, sample=SAMPLE)
    request(recorder, clock, 1.2, 500.0, answer=((0,), [0.5]))  # started in the warm-up
    request(recorder, clock, 1.5, 10.0, answer=((1,), [0.75]))
    clock.now = 2.0
    recorder.stop()
    window = recorder.windows.closed[1]
    assert window["rows"] == 2 and window["correctness"]["mismatches"] == 1
    result = recorder.result({}, True, None)
    assert result["total"]["rows"] == 1 and result["total"]["correctness"]["mismatches"] == 0


# --- drain and merge --------------------------------------------------------------------------
def test_two_drained_recorders_merge_into_what_one_recorder_of_all_requests_records(clock: FakeClock) -> None:
    """A distributed master's result is exactly that of all requests: endpoints, errors,
    windows (detailed ones too) and correctness, whatever the drains cut."""
    settings = {"warmup_s": 0.5, "window_s": 1.0, "detailed": True, "tolerance": 1e-6, "sample": SAMPLE}
    single, master = started(**settings), started(**settings)
    workers = [started(**settings), started(**settings)]
    plan = [
        (0.2, 30.0, "/a", None, ((0,), [0.25])),
        (0.7, 40.0, "/b", RuntimeError("HTTP 500"), None),
        (1.1, 250.0, "/a", None, ((0, 1), [0.25, 0.7])),
        (1.4, 12.0, "/a", RuntimeError("HTTP 503"), None),
        (2.3, 80.0, "/b", None, ((1,), [0.75])),
        (2.6, 9.0, "/b", RuntimeError("HTTP 500"), None),
        (3.2, 70.0, "/a", None, ((0, 1), [0.25, 0.75])),
        (3.3, 70.0, "/a", None, ((0, 1), [0.25, 0.75])),
    ]
    for number, (done, latency, name, error, answer) in enumerate(plan):
        request(single, clock, done, latency, name, error, answer)
        request(workers[number % 2], clock, done, latency, name, error, answer)
        if number == 3:
            master.merge("w0", workers[0].drain())  # mid-run, with a window still open
    clock.now = 3.5
    for recorder in (single, *workers):
        recorder.stop()
    for name, worker in zip(("w0", "w1"), workers, strict=True):
        master.merge(name, worker.drain(final=True))
    master.stop()
    one, merged = single.result({}, True, None), master.result({}, True, None)
    assert merged["generator"].pop("workers") == 2
    for key in ("total", "endpoints", "errors", "windows", "measure_start", "started_at", "ended_at"):
        assert merged[key] == one[key], key
    assert one["total"]["requests"] == 7 and one["total"]["correctness"]["mismatches"] == 1


def test_the_core_imports_neither_locust_nor_gevent() -> None:
    """In a fresh interpreter (this one may hold anything another test imported): use the core,
    then look at what is loaded."""
    script = """
import sys
from pytest_aksload.contracts.failures import describe_exception
from pytest_aksload.stats.recording import Recorder
from pytest_aksload.stats import windows, error_groups
recorder = Recorder(warmup_s=0.0, window_s=1.0, describe_failure=describe_exception)
recorder.start()
recorder.record("POST", "/score", 12.5, recorder.started_at, 500, RuntimeError("HTTP 500"))
recorder.stop()
windows.total_of_windows(recorder.result({}, True, None)["windows"])
assert recorder.result({}, True, None)["total"]["requests"] == 1
print(sorted(m for m in sys.modules if m.split(".")[0] in ("locust", "gevent")))
"""
    package_root = str(Path(pytest_aksload.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": package_root}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
