"""Where the warm-up ends: `warmup="auto"` picks the cut with MSER-5 truncation.

MSER (Marginal Standard Error Rule, White 1997) deletes the first d batches of an output series
where d minimises the squared standard error of the mean of what is kept,
``sum((Y_i - mean_d)^2 for i > d) / (n - d)^2``; MSER-5 (White, Cobb & Spratt 2000) applies it to
means of batches of 5 observations. Here the batches are the recorder's time windows: the series
are per-5-window means of (a) latency and (b) throughput, each cut separately, and the later of the
two cuts wins, so neither a cold cache (slow first requests) nor the user ramp-up (rising rps)
is measured. As the rule prescribes, a cut in the second half of the run is rejected (the run was
never steady; the whole run is kept and the result says so through `warmup_method`).

Subtlety: the child records the totals only after its own warm-up, so with `warmup="auto"` it is
told 0 and the parent recomputes the totals from the window histograms after the cut
(`LoadResult.with_warmup`), and the child splits its windows by endpoint and keeps their failure
groups, so those are cut too. Windows hold requests by COMPLETION time, a fixed `warmup=` cuts
by START time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_aksload.stats.result import LoadResult

BATCH = 5  # the "5" of MSER-5
METHOD = "MSER-5"


def mser_cut(series: Sequence[float]) -> int | None:
    """Number of leading points of `series` MSER deletes; None when the minimum lies in the
    second half (no steady state found) or there are fewer than 4 points."""
    n = len(series)
    if n < 4:
        return None
    best_d, best = 0, math.inf
    for d in range(n // 2 + 1):
        kept = series[d:]
        mean = sum(kept) / len(kept)
        statistic = sum((y - mean) ** 2 for y in kept) / len(kept) ** 2
        if statistic < best:
            best_d, best = d, statistic
    return best_d if best_d < n // 2 else None


def _batched(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    batches = []
    for first in range(0, len(values) - BATCH + 1, BATCH):  # an incomplete last batch is left out
        weight = sum(weights[first : first + BATCH])
        total = sum(v * w for v, w in zip(values[first : first + BATCH], weights[first : first + BATCH], strict=True))
        batches.append(total / weight if weight else 0.0)
    return batches


def auto_warmup_s(result: LoadResult) -> float | None:
    """Seconds of warm-up MSER-5 finds in `result`'s windows, or None if the run never settled."""
    warmup_end = result.warmup_s - 1e-6  # start offsets are rounded to the µs
    full = [w for w in result.timeline if w.start_offset_s >= warmup_end and w.duration_s >= result.window_s / 2]
    rates = [w.requests / w.duration_s for w in full]
    means = [0.0 if math.isnan(w.mean_ms) else w.mean_ms for w in full]
    ones = [1.0] * len(full)
    cuts = [
        mser_cut(_batched(rates, ones)),
        # Latency batches are weighted by requests: a window with 2 requests says little.
        mser_cut(_batched(means, [float(w.requests) for w in full])),
    ]
    if any(cut is None for cut in cuts):
        return None
    batches = max(c for c in cuts if c is not None)
    if batches == 0:
        return 0.0
    return full[batches * BATCH].start_offset_s


def apply_auto_warmup(result: LoadResult) -> LoadResult:
    """`result` with the MSER-5 warm-up cut; with nothing cut (and the method saying so) if the run never settled."""
    cut = auto_warmup_s(result)
    if cut is None:
        return result.with_warmup(result.warmup_s, f"{METHOD}: no steady state found, nothing cut")
    return result.with_warmup(cut, METHOD)
