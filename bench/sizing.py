"""Capacity per instance: does the embedded local service's capacity grow with its instances?

Runs one capacity search (`capacity=`, `peak=`) against `--aks-local --aks-local-instances N` for
each N in --instances (default 1 and 2), one pytest session each, and prints the capacity, the
capacity per instance and the sizing (`load_result.sizing`) each gave. Each instance is one server
worker process: on a host with fewer free cores than instances (plus the load generator), the
capacity per instance falls as instances are added, and the sizing's per-instance figure is only
as good as the host the search ran on.

    python bench/sizing.py [--instances 1 2] [--peak 1200]

After the first search, each further one also says how well the first one's capacity per instance
predicted it (capacity per instance x instances).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GATE = """
import pytest

@pytest.mark.load_test(
    capacity={{"start": 20, "step": "2s", "hold": "4s", "precision": 0.1, "max_duration": "120s"}},
    slo="p95 < 200ms",
    timeout="2s",
    peak={peak},
)
def test_capacity(load_result):
    pass
"""


def search(instances: int, peak: float) -> dict[str, Any] | None:
    """One capacity search against the local service with `instances` instances: its record, or None."""
    with tempfile.TemporaryDirectory() as scratch:
        where = Path(scratch)
        (where / "test_gate.py").write_text(GATE.format(peak=peak))
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--aks-local"]
            + ["--aks-local-instances", str(instances), "--aks-report", "report", "test_gate.py"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=600,
        )
        summary = where / "report" / "summary.json"
        tests = json.loads(summary.read_text())["tests"] if summary.exists() else []
        if not tests or tests[0].get("sizing") is None:
            print(f"{instances} instance(s): no sizing (exit {done.returncode})\n{(done.stdout + done.stderr)[-2000:]}")
            return None
        return tests[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--peak", type=float, default=1200.0)
    args = parser.parse_args()
    first: tuple[int, float] | None = None  # the first search's instances and capacity per instance
    for instances in args.instances:
        started = time.monotonic()
        record = search(instances, args.peak)
        if record is None:
            return 1
        sizing = record["sizing"]
        print(
            f"{instances} instance(s): capacity {sizing['capacity_rps']:.1f} rps, per instance "
            f"{sizing['per_instance_rps']:.1f} rps, {len(record['capacity']['steps'])} steps, "
            f"bounded {record['capacity']['bounded']}, {time.monotonic() - started:.0f} s\n  {sizing['sentence']}",
            flush=True,
        )
        if first is None:
            first = (instances, sizing["per_instance_rps"])
        else:  # what the first search's capacity per instance predicted for this many instances
            predicted = first[1] * instances
            error = sizing["capacity_rps"] / predicted - 1
            print(f"{first[0]} instance(s) predicted {predicted:.1f} rps for {instances}: measured {error:+.1%} off")
    return 0


if __name__ == "__main__":
    sys.exit(main())
