"""Is a service whose p95 sits exactly on the threshold judged INCONCLUSIVE run after run, on a
real host, where a point estimate flips a coin?

A loopback scoring server answers in turn with a cycle of 100 delays, 95 under 100 ms and 5 over
(tests/loopback_servers.py `on_the_threshold_cycle`): any stretch of consecutive requests holds
95 % under the threshold to within 5 requests, so the service's true p95 is the threshold and
what varies from run to run is what the host and the load generator add. A real gate
(`slo="p95 < 100ms"`, 20 users, 3 s) loads it --repeat times in one pytest session.

    python bench/threshold_verdicts.py [--repeat 10] [--duration 3s] [--users 20]

Prints one line per run (verdict, why, point p95 and its interval, requests), then how many runs
were INCONCLUSIVE because the interval straddled the threshold, INCONCLUSIVE because the load
generator was doubted, PASS and FAIL. A FAIL is not an error of the verdict when that run's whole
interval really was above 100 ms (a slowed host adds latency: the verdict is about the run). The
suite checks the same logic on synthetic runs (tests/unit/test_verdicts.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inner_gate import run_gate  # noqa: E402
from loopback_servers import ScoringServer, on_the_threshold_cycle  # noqa: E402

KEY = "bench-threshold-key-0123456789"
GATE = """
import pytest

@pytest.mark.parametrize("repetition", range({repeat}))
@pytest.mark.load_test(users={users}, spawn_rate=200, duration="{duration}", wait=(0, 0.01), slo="p95 < 100ms")
def test_gate(load_result, repetition):
    pass
"""


def outcome_of(slo: dict) -> str:
    if slo["verdict"] != "INCONCLUSIVE":
        return slo["verdict"]
    doubted = (slo.get("reason") or "").startswith("untrustworthy measurement")
    return "INCONCLUSIVE (generator doubted)" if doubted else "INCONCLUSIVE (interval straddles)"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--duration", default="3s")
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    os.environ["AKSLOAD_KEY"] = KEY
    gate = GATE.format(repeat=args.repeat, users=args.users, duration=args.duration)
    with ScoringServer(delays_s=on_the_threshold_cycle(0.100)) as server:
        run = run_gate(gate, server.url)
    if len(run.tests) != args.repeat:
        print(run.output[-3000:])
        return 1
    counts: Counter[str] = Counter()
    for index, test in enumerate(run.tests):
        (slo,) = test["slos"]
        low, high = (f"{side:.1f}" if side is not None else "inf" for side in slo["ci"] or (None, None))
        outcome = outcome_of(slo)
        counts[outcome] += 1
        requests = (test.get("metrics") or {}).get("requests")
        print(
            f"run {index + 1:>3}  {outcome:<34} p95 {slo['measured']:.1f} ms (95% CI {low}-{high})  "
            f"{requests} requests  {slo.get('reason') or ''}",
            flush=True,
        )
    print("; ".join(f"{outcome}: {count}" for outcome, count in sorted(counts.items())) + f" (of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
