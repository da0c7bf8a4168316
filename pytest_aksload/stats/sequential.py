"""Anytime-valid looks: judging a side-by-side gate while it runs, and stopping once it is decided.

Looking at a 95 % interval every second and stopping the first time it excludes the objective
raises the false-alarm rate far above 5 %: each look is another chance for noise to cross the
line. Here the looks are few and each is judged at a stricter level, so that the chance that ANY
look gives a false verdict stays at most alpha (alpha = 1 - confidence) whenever the run stops.

Schedule: the first look when each side has ``FIRST_LOOK_REQUESTS`` requests, then each time the
per-side count has grown by ``LOOK_GROWTH`` since the last look, and a final look at run end.
Geometric spacing keeps the number of looks logarithmic in the run's length (a 100x longer run
adds ~11 looks), so little confidence is spent on looks that bring little new evidence.

Levels: look k is judged at confidence ``1 - alpha / (k (k + 1))``. The series
``sum_k alpha / (k (k + 1)) = alpha (1 - 1/(K + 1))`` stays below alpha for any number of looks K,
so by the union bound P(some look's interval misses the truth) <= alpha, whatever the stopping
rule (stop on the first decided look, or at duration). Stated error rate: a FAIL or PASS verdict
of an objective whose truth lies on the other side of its threshold happens with probability at
most alpha = 1 - confidence over the whole run (5 % at the default 95 %), given each look's
interval is valid at its level. The price: look 1 is judged at 97.5 %, look 5 at 99.83 %, look
10 at 99.95 %: decided runs need somewhat more requests than one fixed-size look would.

The false-verdict rates this gives, against every look judged at a plain 95 %, are measured by
bench/side_by_side_intervals.py (docs/performance.md).
"""

from __future__ import annotations

__all__ = ["FIRST_LOOK_REQUESTS", "LOOK_GROWTH", "LookSchedule", "look_confidence"]

FIRST_LOOK_REQUESTS = 100  # per side: fewer cannot bound a p95 on either side
LOOK_GROWTH = 1.5


def look_confidence(confidence: float, look: int) -> float:
    """The confidence look number ``look`` (1, 2, ...) is judged at: ``1 - alpha / (look (look + 1))``."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be a fraction between 0 and 1 (e.g. 0.95), not {confidence!r}")
    if isinstance(look, bool) or not isinstance(look, int) or look < 1:
        raise ValueError(f"look must be a whole number >= 1, not {look!r}")
    return 1.0 - (1.0 - confidence) / (look * (look + 1))


class LookSchedule:
    """When to look: ``due(n)`` is True once each time the per-side request count ``n`` reaches the
    next look (``FIRST_LOOK_REQUESTS``, then x``LOOK_GROWTH`` of the count at the last look);
    ``finish(n)`` counts the final look at run end. ``looks`` is how many were taken."""

    def __init__(self, first: int = FIRST_LOOK_REQUESTS, growth: float = LOOK_GROWTH) -> None:
        if first < 1 or growth <= 1:
            raise ValueError(f"a look schedule needs first >= 1 and growth > 1, not {first!r} and {growth!r}")
        self.growth = growth
        self.looks = 0
        self.next_at: float = first
        self._last_at: int | None = None

    def due(self, requests_per_side: int) -> bool:
        """True (and counted) when this count is a look; judge it at ``look_confidence(c, self.looks)``."""
        if requests_per_side < self.next_at:
            return False
        self._take(requests_per_side)
        return True

    def finish(self, requests_per_side: int) -> int:
        """The final look at run end (not counted twice when the last look saw this same count);
        returns the look number to judge the final result at."""
        if requests_per_side != self._last_at:
            self._take(requests_per_side)
        return self.looks

    def _take(self, requests_per_side: int) -> None:
        self.looks += 1
        self._last_at = requests_per_side
        # From the count actually seen: a burst past several thresholds is one look, not many.
        self.next_at = requests_per_side * self.growth
