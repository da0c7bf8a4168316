"""Run a gate file the way a user does, for the benchmarks: a real `pytest` process in a temporary
directory, with `--aks-report`, against a scoring URL. The benchmarks repeat what the test suite
cannot assert on a shared, noisy host (rates of verdicts, accuracy against a known truth) and
print the figures the README and docs/performance.md quote.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The loopback scoring servers of the test suite.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


@dataclass(frozen=True)
class GateRun:
    exit_code: int
    tests: list[dict[str, Any]]  # summary.json's "tests", each with its "result" file's content
    output: str


def run_gate(source: str, scoring_uri: str, *options: str, root: Path | None = None, timeout_s: float = 900) -> GateRun:
    """`source` as test_gate.py, run by pytest against `scoring_uri` (in `root`, or a fresh directory)."""
    with tempfile.TemporaryDirectory() as scratch:
        where = root or Path(scratch)
        (where / "test_gate.py").write_text(source)
        report = where / "report"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--aks-scoring-uri", scoring_uri]
            + ["--aks-report", str(report), *options, "test_gate.py"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        summary = report / "summary.json"
        tests = json.loads(summary.read_text())["tests"] if summary.exists() else []
        for record in tests:  # the record names its result file, which goes with the directory
            if record.get("result_json"):
                record["result"] = json.loads((report / record["result_json"]).read_text())
        return GateRun(done.returncode, tests, done.stdout + done.stderr)
