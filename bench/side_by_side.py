"""Side by side against a saved baseline, on a host whose noise comes and goes: which regression
does each find with the same 30 s of load, and how often does each raise a false alarm?

Both loopback services share one "host": every request's delay (20..58 ms, cycled) is multiplied by
the host's current slowdown, which switches between 1x and 2x in phases of 1-4 s (seeded), as a
neighbour's batch job would. The candidate is the live service slowed by a regression r.

* side by side: one 30 s run, `p95 <= 1.0x` (the candidate's p95 no worse than the live one's
  beyond doubt); a regression is found when the verdict is FAIL. The run stops once decided.
* baseline: 15 s of the live service saved with --aks-save-baseline, then 15 s of the candidate
  compared with --aks-max-regression p95=T (default 0%: any significant worsening fails); found
  when it fails.

Regressions alternate with each other and the two methods alternate within a repetition, so slow
drifts of the machine hit both alike. Then `--false-alarms N` side-by-side runs on identical
services (10 s each) give the false-alarm rate, to compare with the method's stated 5 %.

    python bench/side_by_side.py [--reps 3] [--regressions 0,5,10,20,40] [--false-alarms 20]
                                 [--baseline-tolerance 0%]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inner_gate import run_gate  # noqa: E402
from loopback_servers import ScoringServer  # noqa: E402

DELAYS_S = [0.020 + 0.002 * i for i in range(20)]
LOAD = 'users=8, spawn_rate=100, wait=(0.01, 0.02), timeout="5s", rows=20'
SIDE_BY_SIDE = f"""
import pytest

@pytest.mark.load_test({LOAD}, duration="{{duration}}", slo=["p95 <= 1.0x"])
def test_gate(load_result):
    pass
"""
ALONE = f"""
import pytest

@pytest.mark.load_test({LOAD}, duration="15s")
def test_gate(load_result):
    pass
"""


class Host:
    """A shared slowdown that switches between 1x and 2x in phases of 1-4 s."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self._start = time.monotonic()
        self._phases: list[tuple[float, float]] = []
        at = 0.0
        while at < 3600:
            at += rng.uniform(1.0, 4.0)
            self._phases.append((at, rng.choice((1.0, 2.0))))

    def slowdown(self) -> float:
        now = time.monotonic() - self._start
        for ends_at, factor in self._phases:
            if now < ends_at:
                return factor
        return 1.0

    def service(self, regression: float) -> ScoringServer:
        return ScoringServer(delay_of=lambda n: DELAYS_S[n % len(DELAYS_S)] * self.slowdown() * (1 + regression))


def side_by_side(host: Host, regression: float, duration: str = "30s") -> tuple[bool, float | None]:
    with host.service(regression) as candidate, host.service(0.0) as live:
        done = run_gate(SIDE_BY_SIDE.format(duration=duration), candidate.url, "--aks-against-uri", live.url)
    record = done.tests[0] if done.tests else {}
    slo = (record.get("slos") or [{}])[0]
    return slo.get("verdict") == "FAIL", record.get("decided_at_s")


def against_baseline(host: Host, regression: float, tolerance: str) -> bool:
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "baseline.json"
        with host.service(0.0) as live:
            run_gate(ALONE, live.url, "--aks-save-baseline", str(baseline))
        with host.service(regression) as candidate:
            compare = ("--aks-compare", str(baseline), "--aks-max-regression", f"p95={tolerance}")
            done = run_gate(ALONE, candidate.url, *compare)
    return done.exit_code == 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--regressions", default="0,5,10,20,40", help="percent slowdowns of the candidate")
    parser.add_argument("--false-alarms", type=int, default=20, help="side-by-side runs on identical services")
    parser.add_argument("--baseline-tolerance", default="0%", help="--aks-max-regression p95=... of the baseline")
    args = parser.parse_args()
    regressions = [float(r) / 100 for r in args.regressions.split(",")]
    found: dict[tuple[str, float], int] = {}
    host = Host(seed=1)
    for rep in range(args.reps):
        for regression in regressions:
            methods = ("side by side", "baseline") if rep % 2 == 0 else ("baseline", "side by side")
            for method in methods:
                if method == "side by side":
                    hit, decided = side_by_side(host, regression)
                    note = f"decided at {decided:g}s" if decided is not None else "ran 30s"
                else:
                    hit, note = against_baseline(host, regression, args.baseline_tolerance), "15s + 15s"
                found[(method, regression)] = found.get((method, regression), 0) + hit
                print(f"rep {rep + 1} r={regression:.0%} {method:<12} {'FOUND' if hit else 'not found'} ({note})",
                      flush=True)  # fmt: skip
    print("\nregression  side by side  baseline   (found / reps, 30 s of load each)")
    for regression in regressions:
        print(f"{regression:>9.0%}  {found[('side by side', regression)]:>7}/{args.reps}  "
              f"{found[('baseline', regression)]:>6}/{args.reps}")  # fmt: skip
    alarms = 0
    for index in range(args.false_alarms):
        hit, _ = side_by_side(host, 0.0, duration="10s")
        alarms += hit
        print(f"identical services {index + 1}: {'FALSE ALARM' if hit else 'no alarm'}", flush=True)
    if args.false_alarms:
        print(f"false alarms side by side: {alarms}/{args.false_alarms} (stated rate: at most 5 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
