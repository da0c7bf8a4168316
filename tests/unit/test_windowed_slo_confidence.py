"""Windowed objectives (`... over 10s windows`) judge each window at the Bonferroni-corrected
confidence 1 - (1 - c)/k, so k windows do not multiply false alarms: checked on synthetic windows
whose interval width follows the confidence asked for, as a normal approximation's would."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import pytest

from pytest_aksload.verdicts.slo import FAIL, INCONCLUSIVE, PASS, evaluate

THRESHOLD_MS = 100.0


@dataclass
class Window:
    """One window with p95 `p95_ms` and standard error `se_ms`; records each confidence asked for."""

    p95_ms: float
    se_ms: float
    start_offset_s: float = 0.0
    duration_s: float = 10.0
    requests: int = 500
    failure_rate: float = 0.0
    rps: float = 50.0
    asked: list[float] = field(default_factory=list)

    @property
    def mean_ms(self) -> float:
        return self.p95_ms

    @property
    def max_ms(self) -> float:
        return self.p95_ms

    def percentile(self, q: float) -> float:
        return self.p95_ms

    def ci(self, metric: str, confidence: float) -> tuple[float, float]:
        self.asked.append(confidence)
        half = NormalDist().inv_cdf(0.5 + confidence / 2) * self.se_ms
        return self.p95_ms - half, self.p95_ms + half


@dataclass
class Run:
    """A result made of `windows` (whatever window length is asked for)."""

    parts: Sequence[Window]
    requests: int = 5000
    mean_ms: float = 50.0
    max_ms: float = 150.0
    failure_rate: float = 0.0
    rps: float = 50.0

    def percentile(self, q: float) -> float:
        return max(window.p95_ms for window in self.parts)

    def windows(self, window_s: float) -> Sequence[Window]:
        return self.parts


def spaced(windows: list[Window]) -> list[Window]:
    for index, window in enumerate(windows):
        window.start_offset_s = index * window.duration_s
    return windows


@pytest.mark.parametrize(("k", "per_window"), [(1, 0.95), (5, 0.99), (10, 0.995), (50, 0.999)])
def test_each_window_is_judged_at_the_corrected_confidence(k: int, per_window: float) -> None:
    windows = spaced([Window(p95_ms=60.0, se_ms=2.0) for _ in range(k)])

    (verdict,) = evaluate("p95 < 100ms over 10s windows", Run(windows))

    assert all(window.asked == [pytest.approx(per_window)] for window in windows)
    assert verdict.verdict == PASS and verdict.confidence == pytest.approx(per_window)


def test_a_window_the_uncorrected_interval_would_fail_is_inconclusive_among_five() -> None:
    # p95 110 ms ± 1.96 x 4 ms lies wholly above 100 ms (a FAIL at 95 %), but at the 99 % that
    # each of five windows gets, ± 2.58 x 4 ms reaches below it: not enough to fail the run.
    doubtful = Window(p95_ms=110.0, se_ms=4.0)
    assert doubtful.ci("p95", 0.95)[0] > THRESHOLD_MS > doubtful.ci("p95", 0.99)[0]
    windows = spaced([Window(p95_ms=60.0, se_ms=2.0) for _ in range(4)] + [doubtful])

    (windowed,) = evaluate("p95 < 100ms over 10s windows", Run(windows))
    (alone,) = evaluate("p95 < 100ms", doubtful)

    assert alone.verdict == FAIL
    assert windowed.verdict == INCONCLUSIVE and windowed.window == (40.0, 50.0)
    assert windowed.confidence == pytest.approx(0.99) and windowed.low < THRESHOLD_MS


def test_a_window_beyond_doubt_even_after_correction_fails_the_run() -> None:
    windows = spaced([Window(p95_ms=60.0, se_ms=2.0) for _ in range(9)] + [Window(p95_ms=130.0, se_ms=4.0)])

    (verdict,) = evaluate("p95 < 100ms over 10s windows", Run(windows))

    assert verdict.verdict == FAIL and verdict.window == (90.0, 100.0)
    assert verdict.confidence == pytest.approx(0.995) and verdict.low > THRESHOLD_MS
    assert "worst window 90-100s" in verdict.describe()
