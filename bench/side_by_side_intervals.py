"""Do the side-by-side comparison intervals and the anytime-valid looks keep their stated error rates?

Pure simulation, no server: both sides draw latencies from the SAME log-normal distribution (so
the true ratio of any percentile or mean is exactly 1), recorded into the plugin's own HDR
histograms and compared with stats/comparison.py.

1. Coverage: for p50, p95, p99 and the mean, at 200, 1,000 and 3,000 requests a side, how often
   the 95 % interval of the ratio misses 1 (stated: at most 5 %), and its mean log-width, for the
   MOVER interval the gate uses and, for p95, the Bonferroni alternative (each side at 97.5 %,
   combined as [low_c / high_o, high_c / low_o]) it was chosen over.
2. Looks: one run grows to 3,000 requests a side; at each look of stats/sequential.py's schedule
   (100, 150, 225, ... a side) the ratio interval is computed, and the run counts as a false
   verdict if ANY look excludes 1 (a FAIL of "p95 <= 1.0x" or of "p95 >= 1.0x" on equal sides).
   At the look levels 1 - alpha / (k (k + 1)) the stated rate is at most alpha = 5 %; judging every
   look at a plain 95 % is what the issue warns about.

    python bench/side_by_side_intervals.py [--runs 400]
"""

from __future__ import annotations

import argparse
import math
import random

from pytest_aksload.stats.comparison import compare_sides
from pytest_aksload.stats.histograms import Latencies
from pytest_aksload.stats.latency_stats import LatencyStats
from pytest_aksload.stats.sequential import LookSchedule, look_confidence


def _draw(rng: random.Random, sigma: float) -> int:
    return round(100_000 * rng.lognormvariate(0, sigma))  # µs, median 100 ms


def _sides(seed: int, n: int, sigma: float) -> tuple[LatencyStats, LatencyStats]:
    rng = random.Random(seed)
    a, b = Latencies(), Latencies()
    for _ in range(n):
        a.record(_draw(rng, sigma))
        b.record(_draw(rng, sigma))
    return LatencyStats(a, 0, n / 50), LatencyStats(b, 0, n / 50)


def _bonferroni(candidate: LatencyStats, other: LatencyStats, metric: str) -> tuple[float, float]:
    low_c, high_c = candidate.ci(metric, 0.975)
    low_o, high_o = other.ci(metric, 0.975)
    return low_c / high_o, (high_c / low_o if low_o > 0 else math.inf)


def coverage(runs: int) -> None:
    print("coverage of 95 % ratio intervals on equal sides (stated: misses <= 5 %)")
    for sigma in (0.5, 1.0):
        for n in (200, 1000, 3000):
            misses = {"p50": 0, "p95": 0, "p99": 0, "mean": 0, "p95 bonferroni": 0}
            widths = dict.fromkeys(misses, 0.0)
            for seed in range(runs):
                candidate, other = _sides(seed * 7 + n, n, sigma)
                compared = {m: compare_sides(m, candidate, other, 0.95) for m in ("p50", "p95", "p99", "mean")}
                intervals = {m: (c.low, c.high) for m, c in compared.items()}
                intervals["p95 bonferroni"] = _bonferroni(candidate, other, "p95")
                for name, (low, high) in intervals.items():
                    misses[name] += not low <= 1.0 <= high
                    widths[name] += math.log(high / low) if low > 0 and math.isfinite(high) else math.inf
            for name in misses:
                print(
                    f"  sigma {sigma} n={n:>5}/side {name:<15} missed {misses[name] / runs:6.1%}"
                    f"  mean log-width {widths[name] / runs:.3f}"
                )


def looks(runs: int, n_max: int = 3000) -> None:
    print(f"runs with ANY false verdict over the looks up to {n_max} requests a side (stated: <= 5 %)")
    for metric in ("p95", "mean"):
        for sequential in (True, False):
            false_runs = 0
            for seed in range(runs):
                rng = random.Random(seed)
                a, b = Latencies(), Latencies()
                schedule = LookSchedule()
                for n in range(1, n_max + 1):
                    a.record(_draw(rng, 0.5))
                    b.record(_draw(rng, 0.5))
                    if schedule.due(n):
                        level = look_confidence(0.95, schedule.looks) if sequential else 0.95
                        c = compare_sides(metric, LatencyStats(a, 0, n / 50), LatencyStats(b, 0, n / 50), level)
                        if not c.low <= 1.0 <= c.high:
                            false_runs += 1
                            break
            how = "look levels 1 - a/(k(k+1))" if sequential else "plain 95 % at every look"
            print(f"  {metric:<4} {how:<27} {false_runs / runs:6.1%} ({false_runs}/{runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    args = parser.parse_args()
    coverage(args.runs)
    looks(args.runs)


if __name__ == "__main__":
    main()
