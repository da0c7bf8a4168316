"""Side by side: judge the test's objectives at each look and end the run once they are decided.

Looks come when both sides' measured request counts have grown by `stats.sequential.LOOK_GROWTH`
since the last one (`LookSchedule`); look k judges at `look_confidence(confidence, k)`, so the
chance that any look gives a false verdict stays within the stated rate whenever the run stops.
The run is decided when one objective FAILs beyond doubt, or when every objective PASSes (a
windowed objective can only FAIL early: a later window may still break it). The pytest side
judges the final result at the level of the look it stopped at (`"sequential"` in the result).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pytest_aksload.config.objectives import parse_slo
from pytest_aksload.stats.confidence import DEFAULT_CONFIDENCE
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.stats.sequential import LookSchedule, look_confidence
from pytest_aksload.verdicts.slo import FAIL, PASS, evaluate


class DecisionWatch:
    """Judges the run so far at each look; `outcome()` is the result file's `"sequential"`."""

    def __init__(self, objectives: Sequence[str], confidence: float = DEFAULT_CONFIDENCE) -> None:
        self.slos = [parse_slo(text) for text in objectives]
        self.confidence = confidence
        self.schedule = LookSchedule()
        self.decided_at_s: float | None = None
        self._windowed = any(slo.window_s is not None for slo in self.slos)

    def look(self, recorder: Any, generator: Callable[[], dict[str, Any]]) -> bool:
        """At a closed window: True once the objectives are decided (the run should end now)."""
        if self.decided_at_s is not None:
            return True
        if not self.schedule.due(_per_side(recorder)):
            return False
        elapsed = recorder.elapsed_s()
        snapshot = recorder.result(generator(), True, None, ended_at=(recorder.started_at or 0.0) + elapsed)
        result = LoadResult.from_dict(snapshot)
        verdicts = evaluate(self.slos, result, look_confidence(self.confidence, self.schedule.looks))
        failed = any(verdict.verdict == FAIL for verdict in verdicts)
        passed = all(verdict.verdict == PASS for verdict in verdicts) and not self._windowed
        if failed or passed:
            self.decided_at_s = round(elapsed, 3)
            return True
        return False

    def outcome(self, recorder: Any) -> dict[str, Any]:
        """Decided: the deciding look; otherwise the final judgement is one more look (at run end)."""
        if self.decided_at_s is not None:
            return {"looks": self.schedule.looks, "decided_at_s": self.decided_at_s}
        return {"looks": self.schedule.finish(_per_side(recorder)), "decided_at_s": None}


def _per_side(recorder: Any) -> int:
    """Measured requests of the side that has fewer (looks follow the weaker evidence)."""
    requests = recorder.measured_requests()
    if recorder.other is not None:
        requests = min(requests, recorder.other.measured_requests())
    return requests
