"""The recorder tallies each answer's predictions once (an answer seen before to match, once per
window with its count), yet its window figures (all answers, by completion time) and its measured
figures (answers whose request started after the warm-up) are both those of a row-by-row tally,
in one process and merged from distributed workers.

The recording core is plain Python: a scripted run on a fake clock drives it in this process,
and the same figures built the plain way are compared with it.
"""

from __future__ import annotations

import random
import types
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_aksload.contracts.failures import describe_exception
from pytest_aksload.protocol import SampleRows
from pytest_aksload.stats import recording
from pytest_aksload.stats.correctness import MAX_EXAMPLES, CorrectnessTally

WARMUP_S, WINDOW_S, END_S = 2.5, 1.0, 6.5  # windows 0..6, the last one half long
ROWS = 20
EPOCH = 1_000_000.0  # the fake clock's wall time at the start


def _play(events: list[Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Feeds `events` to a single Recorder, and to two worker Recorders (alternating) that drain
    into a master now and then, as Locust's worker reports do; counts the rows that reach
    CorrectnessTally.add_batch (the per-answer work)."""
    clock = types.SimpleNamespace(now=0.0)
    fake_time = types.SimpleNamespace(
        monotonic=lambda: clock.now, time=lambda: EPOCH + clock.now, process_time=lambda: 0.0
    )
    monkeypatch.setattr(recording, "time", fake_time)
    tallied, repeated = [0], [0]
    add_batch = CorrectnessTally.add_batch

    def counting(
        self: CorrectnessTally, rows: Any, predictions: Any, expected: Any = None, labels: Any = None, times: int = 1
    ) -> int:
        tallied[0] += len(rows) * times
        repeated[0] += times > 1
        return add_batch(self, rows, predictions, expected, labels, times)

    monkeypatch.setattr(CorrectnessTally, "add_batch", counting)
    sample = SampleRows(rows=[{"x": row} for row in range(ROWS)], expected=_expected(), labels=_labels())

    def new() -> recording.Recorder:
        rec = recording.Recorder(
            warmup_s=WARMUP_S, window_s=WINDOW_S, describe_failure=describe_exception, tolerance=1e-6, sample=sample
        )
        rec.start()
        return rec

    single, master, workers = new(), new(), [new(), new()]
    for i, (done, latency, rows, predictions, failed) in enumerate(events):
        clock.now = done
        answer = None if failed else (tuple(rows), predictions)
        error = RuntimeError("HTTP 500") if failed else None
        args = ("POST", "/score", latency * 1000, EPOCH + done - latency, 500 if failed else 200, error, None, answer)
        single.record(*args)
        worker = workers[i % 2]
        worker.record(*args)
        if i % 7 == 3:  # a report mid-window: the open window's answers must come later, exactly once
            master.merge(f"w{i % 2}", worker.drain())
    clock.now = END_S
    single.stop()
    for name, worker in zip(("w0", "w1"), workers, strict=True):
        worker.stop()
        master.merge(name, worker.drain(final=True))
    master.stop()
    return {
        "single": single.result({}, True, None),
        "master": master.result({}, True, None),
        "tallied_rows": tallied[0],
        "repeated": repeated[0],
    }


def _events(rng: random.Random) -> Iterator[tuple[float, float, list[int], list[float], bool]]:
    """(completion s, latency s, rows, predictions, failed), in completion order: some long
    requests start in the warm-up and complete after it; a few predictions are wrong; window 4
    has only failures."""
    done = 0.0
    while True:
        done += rng.uniform(0.005, 0.06)
        if done >= END_S:
            return
        rows = [rng.randrange(ROWS) for _ in range(rng.choice((1, 1, 3)))]
        predictions = [_right(row) + (0.25 if rng.random() < 0.03 else 0.0) for row in rows]
        failed = int(done) == 4 or rng.random() < 0.05
        yield round(done, 6), rng.choice((0.004, 0.02, 0.9)), rows, predictions, failed


def _right(row: int) -> float:
    return round(0.05 + 0.9 * row / ROWS, 6)


def _expected() -> list[float | None]:
    return [None if row % 5 == 4 else _right(row) for row in range(ROWS)]


def _labels() -> list[float | None]:
    return [None if row % 7 == 6 else float(row % 3 == 0) for row in range(ROWS)]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    events = list(_events(random.Random(13)))
    return {"events": events, **_play(events, monkeypatch)}


def _reference(events: list[Any], which: Any) -> CorrectnessTally:
    """The plain way: every answer `which` selects, row by row, in completion order (keeping
    every mismatch as an example)."""
    tally = CorrectnessTally(max_examples=len(events) * 3)
    expected, labels = _expected(), _labels()
    for done, latency, rows, predictions, failed in events:
        if not failed and which(done, latency):
            for row, prediction in zip(rows, predictions, strict=True):
                tally.add(row, prediction, expected[row], labels[row])
    return tally


def _assert_same(got: dict[str, Any] | None, want: CorrectnessTally, exact_examples: bool) -> None:
    """Counts, maximum and AUC bins exactly; the float sums up to rounding (added per window);
    the examples the first mismatches, or (merged from parts) real ones of the right number."""
    assert got is not None
    got, expected = dict(got), want.to_dict()
    for key in ("loss_sum", "loss_sum_squares"):
        assert got.pop(key) == pytest.approx(expected.pop(key), rel=1e-12)
    examples, mismatches = got.pop("examples"), expected.pop("examples")
    assert got == expected
    if exact_examples:
        assert examples == mismatches[:MAX_EXAMPLES]
    else:
        assert len(examples) == min(MAX_EXAMPLES, len(mismatches))
        assert all(example in mismatches for example in examples)


def _measured(done: float, latency: float) -> bool:
    return EPOCH + done - latency >= EPOCH + WARMUP_S


@pytest.mark.parametrize("process", ["single", "master"])
def test_window_and_measured_figures_are_exact(run: dict[str, Any], process: str) -> None:
    result, events = run[process], run["events"]
    measured = _reference(events, _measured)
    # The data must exercise what the split is for: answers that started in the warm-up and
    # completed after it, measured mismatches, and a window with failures only.
    assert measured.mismatches and any(d >= WARMUP_S and not _measured(d, lat) for d, lat, *_ in events)
    _assert_same(result["total"]["correctness"], measured, exact_examples=process == "single")
    assert result["total"]["rows"] == sum(len(e[2]) for e in events if not e[4] and _measured(e[0], e[1]))

    windows = result["windows"]
    assert [w["index"] for w in windows] == list(range(7)) and windows[-1]["duration_s"] == pytest.approx(0.5)
    for window in windows:
        index = window["index"]
        answers = [e for e in events if int(e[0] / WINDOW_S) == index and not e[4]]
        assert window["rows"] == sum(len(e[2]) for e in answers)
        if not answers:
            assert index == 4 and window["correctness"] is None and window["requests"] > 0
            continue
        _assert_same(window["correctness"], _reference(events, lambda d, _l, i=index: int(d / WINDOW_S) == i), False)


def test_each_answer_is_tallied_once(run: dict[str, Any]) -> None:
    answered = sum(len(rows) for _d, _l, rows, _p, failed in run["events"] if not failed)
    assert run["tallied_rows"] == 2 * answered  # the single recorder's and the workers' copy of each
    # Answers already seen to match (the same rows, the same predictions) were counted and added
    # to the tally once per window, `times` at a time; the figures above are still exact.
    assert run["repeated"] > 0
