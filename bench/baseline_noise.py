"""How often does --aks-max-regression fail an unchanged service (it must never), and does it
catch a 30 % slowdown? Saves a baseline against a loopback scoring server (20..58 ms), then runs
the same gate N times against the same server and once against it slowed by 30 %.

    python bench/baseline_noise.py [--repeat 10] [--duration 3s]

Prints one line per run: outcome and the p95 / rps / failure_rate comparisons.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inner_gate import run_gate  # noqa: E402
from loopback_servers import ScoringServer  # noqa: E402

DELAYS_S = [0.020 + 0.002 * i for i in range(20)]
TOLERANCES = "p95=10%,rps=5%,failure_rate=0.5pp"
GATE = """
import pytest

@pytest.mark.load_test(users=5, spawn_rate=50, duration="{duration}", wait=(0.02, 0.05), rows=5)
def test_gate(load_result):
    pass
"""


def run(root: Path, gate: str, delays_s: list[float], *options: str) -> tuple[int, list[dict]]:
    with ScoringServer(delays_s=delays_s) as server:
        done = run_gate(gate, server.url, *options, root=root)
    return done.exit_code, done.tests[0].get("comparisons", []) if done.tests else []


def show(label: str, code: int, comparisons: list[dict]) -> None:
    parts = [f"{c['metric']} {c['baseline']:.4g}->{c['now']:.4g} ({c['change']}) {c['status']}" for c in comparisons]
    print(f"{label:<12} exit {code}  " + "; ".join(parts), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--duration", default="3s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, gate = Path(tmp), GATE.format(duration=args.duration)
        baseline = root / "baseline.json"
        code, _ = run(root, gate, DELAYS_S, "--aks-save-baseline", str(baseline))
        print(f"baseline     exit {code}")
        compare = ("--aks-compare", str(baseline), "--aks-max-regression", TOLERANCES)
        false_alarms = 0
        for index in range(args.repeat):
            code, comparisons = run(root, gate, DELAYS_S, *compare)
            false_alarms += code != 0
            show(f"unchanged {index + 1}", code, comparisons)
        code, comparisons = run(root, gate, [delay * 1.3 for delay in DELAYS_S], *compare)
        show("slowed 30%", code, comparisons)
        print(f"false alarms: {false_alarms}/{args.repeat}; 30% slowdown caught: {code == 1}")
        return 0 if false_alarms == 0 and code == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
