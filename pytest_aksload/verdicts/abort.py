"""Early abort: stop a doomed run as soon as one window proves it (`abort_on=` of the marker).

A rule such as ``"failure_rate > 50% over 10s windows"`` fires when, over the latest
``10s`` of completed requests (a sliding window of the recorder's 1 s windows, warm-up
excluded), its condition holds for the whole confidence interval, i.e. it is a PASS verdict
of the rule read as an objective (slo.py). Demanding the whole interval keeps three unlucky
requests from killing a run. The Locust child evaluates the rules as each recorded window
closes and quits the runner; the result file records ``"aborted": {"rule", "reason", "at_s"}``.
The rules travel to the child as their canonical text (`protocol.RunSettings.abort_on`).

No locust import here: the child calls it, and tests drive it with plain window dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_aksload.config.metrics import format_metric_value
from pytest_aksload.config.objectives import Slo
from pytest_aksload.stats.latency_stats import WindowSpan
from pytest_aksload.stats.result import latencies_of_windows
from pytest_aksload.verdicts.slo import PASS, evaluate


class AbortWatch:
    """Checks the rules against the closed windows the recorder hands it, one at a time."""

    def __init__(self, rules: Sequence[Slo], window_s: float, warmup_s: float) -> None:
        self.rules = list(rules)
        self.window_s = window_s
        self.warmup_s = warmup_s
        self._recent: list[dict[str, Any]] = []
        self._keep = max([self._span(rule) for rule in self.rules], default=0)

    def _span(self, rule: Slo) -> int:
        return max(1, round((rule.window_s or self.window_s) / self.window_s))

    def window_closed(self, window: dict[str, Any]) -> dict[str, Any] | None:
        """`{"rule", "reason", "at_s"}` when a rule fires on the windows so far, else None."""
        if not self.rules or window["start_offset_s"] < self.warmup_s - 1e-6:
            return None
        self._recent = [*self._recent, window][-self._keep :]
        for rule in self.rules:
            span = self._span(rule)
            if len(self._recent) < span:
                continue
            group = self._recent[-span:]
            start = group[0]["start_offset_s"]
            duration = sum(w["duration_s"] for w in group)
            measured = WindowSpan(latencies_of_windows(group), sum(w["failures"] for w in group), start, duration)
            bare = Slo(text=rule.text, metric=rule.metric, op=rule.op, threshold=rule.threshold, quantile=rule.quantile)
            (verdict,) = evaluate([bare], measured)
            if verdict.verdict == PASS:
                end = start + duration
                measured = format_metric_value(rule.metric, verdict.measured)
                reason = f"{rule} held in window {start:g}-{end:g}s (measured {measured})"
                return {"rule": str(rule), "reason": reason, "at_s": round(end, 3)}
        return None
