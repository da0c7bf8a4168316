"""How punctually does the open model (`rate=`) keep its arrival schedule on this host?

The gate of tests/live/test_open_model.py: 40 Poisson arrivals a second for 5 s against a
loopback service answering in 40 ms, the 400-user pool (rate x the 10 s timeout) spawned at once.
Each run's `result.schedule` says how many requests went out more than 20 ms late, waited for a
free user, or were never sent; more than 1 % off schedule makes the plugin warn.

    python bench/open_model_schedule.py [--repeat 5]

Prints one line per run (rps, intended/sent, late, backlogged, missed, max lag, corrected minus
uncorrected p50, whether the run was warned), then how many runs were warned.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inner_gate import run_gate  # noqa: E402
from loopback_servers import ScoringServer  # noqa: E402

from pytest_aksload.stats.result import LoadResult  # noqa: E402

KEY = "bench-open-model-key-0123456789"
GATE = """
import pytest

@pytest.mark.load_test(rate=40, arrivals="poisson", duration="5s", slo="p95 < 1s")
def test_gate(load_result):
    pass
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ["AKSLOAD_KEY"] = KEY
    warned = 0
    for index in range(args.repeat):
        with ScoringServer(delays_s=(0.04,)) as server:
            run = run_gate(GATE, server.url)
        result = (run.tests[0] if run.tests else {}).get("result")
        if not result or not result.get("schedule"):
            print(f"run {index + 1}: no result (exit {run.exit_code})\n{run.output[-2000:]}")
            return 1
        schedule, parsed = result["schedule"], LoadResult.from_dict(result)
        assert parsed.uncorrected is not None
        corrected, uncorrected = parsed.p50_ms, parsed.uncorrected.p50_ms
        is_warned = "arrival schedule was not kept" in run.output
        warned += is_warned
        print(
            f"run {index + 1:>2}  {parsed.rps:5.1f} rps  intended {schedule['intended']} "
            f"sent {schedule['sent']}  late {schedule['late']}  backlogged {schedule['backlogged']}  "
            f"missed {schedule['missed']}  max lag {schedule['max_lag_ms']:.0f} ms  "
            f"p50 corrected-uncorrected {corrected - uncorrected:+.1f} ms  warned {is_warned}",
            flush=True,
        )
    print(f"warned: {warned} of {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
