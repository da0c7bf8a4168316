"""Side by side: judge the test's objectives at each look and end the run once they are decided.

Looks come when both sides' measured request counts have grown by `stats.sequential.LOOK_GROWTH`
since the last one (`LookSchedule`); look k judges at `look_confidence(confidence, k)`, so the
chance that any look gives a false verdict stays within the stated rate whenever the run stops.
The run is decided when one objective FAILs beyond doubt, or when every objective PASSes (a
windowed objective can only FAIL early: a later window may still break it).

A look sees the requests completed so far; those still in flight are the slowest, so a verdict
from them alone could change once they land. So a decided look is only a proposal: from that
moment T no new request is measured (both sides), the run goes on until every request that
started before T has completed (twice the slowest latency seen, at most the request timeout), and
the same look judges again on that complete set. Still decided: the run ends, and its result is
exactly that set (measured interval up to T), so the pytest side, judging the result file at the
same look's level (`"sequential"`), reaches the same verdicts. Not decided: measuring resumes (the
requests started meanwhile are left out, chosen by start time, not outcome, so nothing is biased).
Runs with worker processes do not stop early (their requests' start times stay in the workers):
they run to their duration and are judged once, as a fixed-size run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from pytest_aksload.config.objectives import parse_slo
from pytest_aksload.stats.confidence import DEFAULT_CONFIDENCE
from pytest_aksload.stats.recording import Recorder
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.stats.sequential import LookSchedule, look_confidence
from pytest_aksload.verdicts.slo import FAIL, PASS, evaluate


def watch_for(role: str, objectives: Sequence[str], settle_max_s: float) -> DecisionWatch | None:
    """The watch of a side-by-side run in process `role` ("local", "master" or "worker"), None
    when it must not stop early: no objectives, or worker processes (looks need every request's
    start time, and a worker's stay in the worker: such a run goes to its duration)."""
    if role != "local" or not objectives:
        return None
    return DecisionWatch(objectives, settle_max_s)


class DecisionWatch:
    """Judges the run so far at each look; `outcome()` is the result file's `"sequential"`."""

    def __init__(self, objectives: Sequence[str], settle_max_s: float, confidence: float = DEFAULT_CONFIDENCE) -> None:
        self.slos = [parse_slo(text) for text in objectives]
        self.confidence = confidence
        self.settle_max_s = settle_max_s  # the request timeout: no request is in flight longer
        self.schedule = LookSchedule()
        self.decided_at_s: float | None = None
        self._proposed_at_s: float | None = None  # a decided look waiting for its in-flight requests
        self._confirm_at_s = 0.0
        self._windowed = any(slo.window_s is not None for slo in self.slos)

    def look(self, recorder: Recorder, generator: Callable[[], dict[str, Any]]) -> bool:
        """At a closed window: True once the objectives are decided (the run should end now)."""
        if self.decided_at_s is not None:
            return True
        elapsed = recorder.elapsed_s()
        if self._proposed_at_s is not None:
            if elapsed < self._confirm_at_s:
                return False
            if self._decided(recorder, generator, recorder.measure_end):
                self.decided_at_s = round(self._proposed_at_s, 3)
                return True
            self._proposed_at_s = None
            _measure_until(recorder, math.inf)
            return False
        if not self.schedule.due(_per_side(recorder)):
            return False
        now = time.time()
        if self._decided(recorder, generator, now):
            self._proposed_at_s = elapsed
            self._confirm_at_s = elapsed + min(self.settle_max_s, 2 * _slowest_s(recorder) + recorder.window_s)
            _measure_until(recorder, now)
        return False

    def _decided(self, recorder: Recorder, generator: Callable[[], dict[str, Any]], until: float) -> bool:
        snapshot = recorder.result(generator(), True, None, ended_at=until)
        result = LoadResult.from_dict(snapshot)
        verdicts = evaluate(self.slos, result, look_confidence(self.confidence, self.schedule.looks))
        failed = any(verdict.verdict == FAIL for verdict in verdicts)
        return failed or (all(verdict.verdict == PASS for verdict in verdicts) and not self._windowed)

    def outcome(self, recorder: Recorder) -> dict[str, Any]:
        """Decided: the deciding look; otherwise the final judgement is one more look (at run end)."""
        if self.decided_at_s is not None:
            return {"looks": self.schedule.looks, "decided_at_s": self.decided_at_s}
        return {"looks": self.schedule.finish(_per_side(recorder)), "decided_at_s": None}


def _per_side(recorder: Recorder) -> int:
    """Measured requests of the side that has fewer (looks follow the weaker evidence)."""
    requests = recorder.measured_requests()
    if recorder.other is not None:
        requests = min(requests, recorder.other.measured_requests())
    return requests


def _slowest_s(recorder: Recorder) -> float:
    sides = [recorder] if recorder.other is None else [recorder, recorder.other]
    return max((side.total().latencies.max_ms() for side in sides if side.measured_requests()), default=0.0) / 1000


def _measure_until(recorder: Recorder, until: float) -> None:
    recorder.measure_end = until
    if recorder.other is not None:
        recorder.other.measure_end = until
