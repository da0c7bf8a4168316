"""What do authenticated, encrypted workers cost? The rps of 2 local worker processes with and
without encryption, alternating in one run.

Every distributed run seals its run config, header refreshes and worker reports (AES-256-GCM,
`pytest_aksload/worker_auth.py`); there is no switch to turn that off. "Without" here swaps the
AEAD for a pass-through (a `sitecustomize` on the children's path replaces `worker_auth._aesgcm`),
so the handshake, the envelopes and their checks stay and only the cipher's own cost goes. A gate of
`workers=2`, 20 users without think time, 6 s against a loopback service answering at once.

    python bench/workers_crypto.py [--repeat 3]

Prints each run (mode, rps, requests), then the median rps of each mode, and the cost of one
seal + open of a 4 kB report measured in this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inner_gate import run_gate  # noqa: E402
from loopback_servers import ScoringServer  # noqa: E402

from pytest_aksload import worker_auth  # noqa: E402
from pytest_aksload.stats.result import LoadResult  # noqa: E402

KEY = "bench-workers-crypto-key-0123456789"
GATE = """
import pytest

@pytest.mark.load_test(users=20, spawn_rate=100, duration="6s", wait=(0, 0), workers=2)
def test_gate(load_result):
    pass
"""
NULL_CIPHER = """
import os
if os.environ.get("AKSLOAD_BENCH_NULL_CIPHER") == "1":
    from pytest_aksload import worker_auth

    class _PassThrough:
        def encrypt(self, nonce, data, aad):
            return data + bytes(16)  # the tag's length, so envelopes keep their size

        def decrypt(self, nonce, data, aad):
            return data[:-16]

    worker_auth._aesgcm = lambda key: _PassThrough()
"""


def seal_open_us(repeat: int = 2000) -> float:
    """Microseconds for one seal (worker) + open (master) of a 4 kB report."""
    token = worker_auth.new_token()
    master, worker = worker_auth.MasterAuth(token), worker_auth.WorkerHandshake(token, "w1")
    proof, worker_side = worker.answer(master.challenge("w1", worker.hello()))
    master_side = master.verify("w1", proof)
    report = os.urandom(4096)
    started = time.perf_counter()
    for _ in range(repeat):
        master_side.open("report", worker_side.seal("report", report))
    return (time.perf_counter() - started) / repeat * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ["AKSLOAD_KEY"] = KEY
    rps: dict[str, list[float]] = {"encrypted": [], "pass-through": []}
    with tempfile.TemporaryDirectory() as probe:
        (Path(probe) / "sitecustomize.py").write_text(NULL_CIPHER)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [probe, os.environ.get("PYTHONPATH")]))
        for index in range(args.repeat):
            for mode in rps:
                os.environ["AKSLOAD_BENCH_NULL_CIPHER"] = "1" if mode == "pass-through" else "0"
                with ScoringServer(delays_s=(0.0,)) as server:
                    run = run_gate(GATE, server.url)
                result = (run.tests[0] if run.tests else {}).get("result")
                if not result:
                    print(f"run {index + 1} {mode}: no result (exit {run.exit_code})\n{run.output[-2000:]}")
                    return 1
                parsed = LoadResult.from_dict(result)
                assert parsed.generator.get("workers") == 2 and parsed.generator.get("rejected_reports") == 0
                rps[mode].append(parsed.rps)
                print(f"run {index + 1} {mode:>12}: {parsed.rps:7.1f} rps  {parsed.requests} requests", flush=True)
    for mode, values in rps.items():
        print(f"{mode:>12}: median {statistics.median(values):.1f} rps ({', '.join(f'{v:.0f}' for v in values)})")
    print(f"one seal + open of a 4 kB report: {seal_open_us():.0f} us (a worker sends one every 3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
