"""Time windows: the recorder's live windows, and the arithmetic on closed ones.

A window holds EVERY request (warm-up too) that COMPLETED in its `window_s` seconds, so a closed
window never changes. `Windows` keeps only the current window's histogram live and closes the
others into their result-file form (`result_schema.Window`, the histogram encoded: a few hundred
bytes), so memory stays flat however long the run. The functions below work on closed windows,
for both processes: the distributed master adds its workers' windows (`merge_window`), and the
pytest side re-cuts a result after a warm-up (`after_warmup`, `total_of_windows`, ...).

Each successful answer's rows and predictions go into the window's `CorrectnessTally` of its
part (warm-up or measured, by its request's start time, like the latencies). An answer already
seen to match its expectations (the same rows, the same predictions: a deterministic model's
usual answer) is only counted, and added to the tally with its count when the window closes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hdrh.histogram import HdrHistogram

from pytest_aksload.protocol import SampleRows
from pytest_aksload.result_schema import ErrorExample, Window
from pytest_aksload.stats import histograms
from pytest_aksload.stats.correctness import DEFAULT_TOLERANCE, CorrectnessTally
from pytest_aksload.stats.error_groups import ErrorGroupKey, ErrorGroups
from pytest_aksload.stats.histograms import Latencies

# Distinct answers remembered as matching their expectations (rows x predictions): a deterministic
# model answers each sample row alike, so a few per row; past the bound every answer is tallied.
MAX_MATCHING_ANSWERS = 65_536

AnswerKey = tuple[tuple[int, ...], tuple[float, ...]]  # (rows sent, predictions answered)


class Answers:
    """The successful answers of one window whose requests started in one part of the run
    (warm-up or measured): their rows, the tally of their predictions (None until one), and how
    often each answer already known to match its expectations came again (added at close)."""

    __slots__ = ("rows", "tally", "repeats")

    def __init__(self) -> None:
        self.rows = 0
        self.tally: CorrectnessTally | None = None
        self.repeats: dict[AnswerKey, int] = {}


class Windows:
    """Per-window histograms; only the current one is live, closed ones are in result-file form."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.closed: list[Window] = []
        self.on_close: Callable[[Window], None] | None = None  # abort_on watches closed windows
        self.index = 0
        self._histogram: HdrHistogram | None = None
        self._requests = 0
        self._failures = 0
        # warmup="auto" cuts after the run, from the windows: "detailed" windows also split their
        # requests by endpoint and keep their failure groups, so the cut applies to those too.
        self.detailed = False
        self._endpoints: dict[str, list[Any]] = {}  # name -> [histogram, requests, failures]
        self._errors = ErrorGroups()
        # The current window's answers: (warm-up part, measured part), indexed by `measured`.
        self._answers = (Answers(), Answers())
        self.on_measured: Callable[[Answers], None] | None = None  # the measured part of each closed window
        self.compares = False  # whether there are expected predictions or labels to tally against
        self._tolerance = DEFAULT_TOLERANCE
        self._expected: list[float | None] | None = None
        self._labels: list[float | None] | None = None
        self._matching: set[AnswerKey] = set()

    def compare_with(self, sample: SampleRows | None, tolerance: float) -> None:
        """Tally predictions against `sample`'s expectations and labels (when it has any)."""
        self._expected = None if sample is None else sample.expected
        self._labels = None if sample is None else sample.labels
        self.compares = self._expected is not None or self._labels is not None
        self._tolerance = tolerance
        self._matching = set()

    def record_predictions(self, measured: bool, rows: Sequence[int], predictions: list[float]) -> None:
        """A successful answer's rows and predictions, in the window its `record` just went to;
        `measured`: whether its request started after the warm-up."""
        answers = self._answers[measured]
        answers.rows += len(rows)
        if not self.compares:
            return
        # The same rows answered alike and known to match: counted now, tallied once at close (the
        # tally per answer was the recorder's largest cost per request). A tally of n repeats is
        # that of n answers; only the float sums may differ in the last bit.
        key = (rows, tuple(predictions)) if type(rows) is tuple else None
        if key in self._matching:
            answers.repeats[key] = answers.repeats.get(key, 0) + 1  # type: ignore[index]
            return
        mismatches = self._tally(answers).add_batch(rows, predictions, self._expected, self._labels)
        if key is not None and not mismatches and len(self._matching) < MAX_MATCHING_ANSWERS:
            self._matching.add(key)

    def _tally(self, answers: Answers) -> CorrectnessTally:
        if answers.tally is None:
            answers.tally = CorrectnessTally(self._tolerance)
        return answers.tally

    def record(self, index: int, us: int, failed: bool, counts_index: int) -> None:
        """A request that completed in window `index`: `us` already clamped, `counts_index` its
        `histograms.counts_index`."""
        if index > self.index:
            self.advance(index)
        if self._histogram is None:  # lazily: empty windows cost no allocation
            self._histogram = histograms.new_histogram()
        histograms.record_at(self._histogram, counts_index, us)
        self._requests += 1
        self._failures += failed

    def record_detail(
        self,
        endpoint: str,
        us: int,
        counts_index: int,
        error: ErrorGroupKey | None,
        examples: Sequence[ErrorExample] = (),
    ) -> None:
        """The current window's share of `endpoint`, and the failure group of `error` with its
        `examples` (detailed windows)."""
        stats = self._endpoints.get(endpoint)
        if stats is None:
            stats = self._endpoints[endpoint] = [histograms.new_histogram(), 0, 0]
        histograms.record_at(stats[0], counts_index, us)
        stats[1] += 1
        if error is not None:
            stats[2] += 1
            self._errors.add(*error, examples=examples)

    def advance(self, index: int) -> None:
        """Close the current window and any empty ones before `index`."""
        while self.index < index:
            self._close(self.window_s)

    def finish(self, elapsed_s: float) -> None:
        """Close the last, partial window at run end (`elapsed_s` after the start)."""
        self.advance(max(0, math.ceil(elapsed_s / self.window_s) - 1))
        start = self.index * self.window_s
        self._close(max(0.0, min(self.window_s, elapsed_s - start)))

    def _close(self, duration_s: float) -> None:
        histogram = histograms.encode(self._histogram) if self._requests else None
        window = new_window(self.index, self.window_s, duration_s, self._requests, self._failures, histogram)
        warmup, measured = self._answers
        window["rows"] = warmup.rows + measured.rows
        for answers in self._answers:
            for (rows, predictions), times in answers.repeats.items():
                self._tally(answers).add_batch(rows, predictions, self._expected, self._labels, times)
        if self.compares:
            window["correctness"] = _both_tallies(warmup.tally, measured.tally)
        if self.on_measured is not None:
            self.on_measured(measured)
        self._answers = (Answers(), Answers())
        if self.detailed:
            window["endpoints"] = {
                name: {"requests": requests, "failures": failures, "histogram": histograms.encode(histogram)}
                for name, (histogram, requests, failures) in self._endpoints.items()
            }
            window["errors"] = self._errors.to_list()
            self._endpoints, self._errors = {}, ErrorGroups()
        self.closed.append(window)
        self.index += 1
        self._histogram = None
        self._requests = self._failures = 0
        if self.on_close is not None:
            self.on_close(window)


def new_window(
    index: int, window_s: float, duration_s: float, requests: int, failures: int, histogram: str | None
) -> Window:
    return {
        "index": index,
        "start_offset_s": round(index * window_s, 6),
        "duration_s": round(duration_s, 6),
        "requests": requests,
        "failures": failures,
        "histogram": histogram,
    }


def empty_window(index: int, window_s: float) -> Window:
    return new_window(index, window_s, window_s, 0, 0, None)


def merge_window(windows: dict[int, Window], window: Window) -> None:
    """Add `window` (another process's of the same run) to the one of its index in `windows`."""
    mine = windows.get(window["index"])
    if mine is None:
        windows[window["index"]] = window.copy()
        return
    _merge_counts(mine, window)
    mine["duration_s"] = max(mine["duration_s"], window["duration_s"])
    mine["rows"] = mine.get("rows", 0) + window.get("rows", 0)
    if window.get("correctness") is not None:
        mine["correctness"] = _merged_correctness([window, mine])
    if "endpoints" in window:  # detailed windows
        endpoints = mine.setdefault("endpoints", {})
        for name, stats in window["endpoints"].items():
            if name in endpoints:
                _merge_counts(endpoints[name], stats)  # type: ignore[arg-type]
            else:
                endpoints[name] = dict(stats)  # type: ignore[assignment]
        mine["errors"] = errors_of_windows([mine, window])


def _merge_counts(mine: dict[str, Any] | Window, theirs: Mapping[str, Any]) -> None:
    """Add `theirs` requests, failures and histogram to `mine` (a window, or its part for one endpoint)."""
    encoded = [w["histogram"] for w in (mine, theirs) if w["histogram"] is not None]
    mine["histogram"] = histograms.encode(histograms.merge(encoded)) if encoded else None
    mine["requests"] += theirs["requests"]
    mine["failures"] += theirs["failures"]


def _both_tallies(first: CorrectnessTally | None, second: CorrectnessTally | None) -> dict[str, Any] | None:
    """The `to_dict` of both tallies together (None when neither exists)."""
    if first is None or second is None:
        only = first or second
        return None if only is None else only.to_dict()
    return CorrectnessTally.merged([first, second]).to_dict()


def _merged_correctness(windows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The windows' correctness tallies merged, in their order (None when none has one)."""
    tallies = [CorrectnessTally.from_dict(w["correctness"]) for w in windows if w.get("correctness") is not None]
    return CorrectnessTally.merged(tallies).to_dict() if tallies else None


# --- closed windows, read back: a result re-cut after a warm-up, a streamed run -----------------
def after_warmup(windows: Sequence[Mapping[str, Any]], warmup_s: float) -> list[Any]:
    """The windows that start after a warm-up of `warmup_s` (start offsets are rounded to the µs)."""
    return [w for w in windows if w["start_offset_s"] >= warmup_s - 1e-6]


def latencies_of_windows(windows: Sequence[Mapping[str, Any]]) -> Latencies:
    """Merged latencies of recorded windows; sum/min/max are the histogram's (within 0.05 %)."""
    merged = histograms.merge(w["histogram"] for w in windows if w["histogram"] is not None)
    latencies = Latencies(merged)
    latencies.count = merged.get_total_count()
    if latencies.count:
        latencies.sum_us = round(histograms.moments_us(merged)[0] * latencies.count)
        latencies.min_us, latencies.max_us = merged.get_min_value(), merged.get_max_value()
    return latencies


def answers_of_windows(windows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Rows and merged correctness tally of recorded windows (result-file form; a window without
    `rows` counts one row per successful request)."""
    rows = sum(w.get("rows", w["requests"] - w["failures"]) for w in windows)
    correctness = _merged_correctness(windows)
    if correctness is None and any("correctness" in w for w in windows):
        correctness = CorrectnessTally().to_dict()  # something to compare, no answer: "no rows checked"
    return {"rows": rows, "correctness": correctness}


def total_of_windows(windows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The totals (`protocol.TotalStats`) of recorded windows."""
    return {
        **latencies_of_windows(windows).to_dict(),
        "failures": sum(w["failures"] for w in windows),
        **answers_of_windows(windows),
    }


def endpoints_of_windows(windows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-endpoint stats (`result_schema.Stats`) of detailed windows."""
    parts: dict[str, list[Mapping[str, Any]]] = {}
    for window in windows:
        for name, part in window["endpoints"].items():
            parts.setdefault(name, []).append(part)
    return {
        name: {**latencies_of_windows(group).to_dict(), "failures": sum(p["failures"] for p in group)}
        for name, group in parts.items()
    }


def errors_of_windows(windows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The failure groups of detailed windows together (bounded as the recorder bounds them)."""
    groups = ErrorGroups()
    for window in windows:
        groups.add_records(window.get("errors", []))
    return groups.to_list()
