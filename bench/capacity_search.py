"""How close does the capacity search (`capacity=`) come to a capacity known by construction?

A loopback scoring server with 4 slots and a 40 ms service time completes at most ~100 requests
a second (the truth is computed from the delays it actually slept); the gate of
tests/live/test_capacity.py (`start` 40 rps, 2 s steps, 4 s confirmation, `p95 < 100ms`) searches
for it --repeat times, one pytest session each.

    python bench/capacity_search.py [--repeat 5]

Prints one line per search (found rate, truth, error, steps, wall time), then the median and worst
error. The suite asserts only the bounds that hold by construction.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inner_gate import run_gate  # noqa: E402
from loopback_servers import ScoringServer  # noqa: E402

KEY = "bench-capacity-key-0123456789"
SLOTS, SERVICE_S = 4, 0.04
GATE = """
import pytest

@pytest.mark.load_test(
    capacity={"start": 40, "step": "2s", "hold": "4s", "max_duration": "100s"},
    slo="p95 < 100ms",
    timeout="2s",
)
def test_capacity(load_result):
    pass
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ["AKSLOAD_KEY"] = KEY
    errors = []
    for index in range(args.repeat):
        started = time.monotonic()
        with ScoringServer(delays_s=(SERVICE_S,), slots=SLOTS) as server:
            run = run_gate(GATE, server.url)
            truth = SLOTS / statistics.mean(r.delay_s for r in server.scoring_requests())
        elapsed = time.monotonic() - started
        record = run.tests[0] if run.tests else {}
        search = (record.get("result") or {}).get("capacity")
        if not search:
            print(f"search {index + 1}: no capacity result (exit {run.exit_code})\n{run.output[-2000:]}")
            return 1
        found = search["capacity_rps"]
        errors.append(found / truth - 1)
        print(
            f"search {index + 1:>2}  found {found:6.1f} rps  truth {truth:6.1f} rps  error {errors[-1]:+6.1%}  "
            f"{len(search['steps'])} steps  bounded {search['bounded']}  {elapsed:.0f} s",
            flush=True,
        )
    worst = max(errors, key=abs)
    print(f"error: median {statistics.median(errors):+.1%}, worst {worst:+.1%} (of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
