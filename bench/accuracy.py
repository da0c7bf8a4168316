"""How exact are the plugin's percentiles, and do its 95 % confidence intervals cover the truth?

For each latency distribution (constant, uniform, lognormal, bimodal with a 5 % slow tail) a
loopback scoring server sleeps a freshly drawn delay per request and measures the sleep it
actually did (the server-side truth); the plugin load-tests it through a real inner pytest run.
Per repetition it compares, on the same requests:

* the plugin's p50/p95/p99/p99.9 with the server-side percentiles (relative error), beside
  Locust's own p50/p95/p99 of the same run (the result's generator.locust block);
* whether the plugin's 95 % interval covers the POPULATION percentile: the distribution's
  analytic quantile plus the loopback request overhead (client minus server time, the median
  over the run's requests, measured per run from a zero-delay calibration server).

    python bench/accuracy.py [--repeat 20] [--duration 10s] [--users 100] [--only lognormal]

Prints one line per distribution and percentile: median and worst |error| of the plugin and of
Locust, and the interval coverage (unbounded intervals, e.g. p99.9 from too few requests, are
counted separately: they cover trivially and say "too few requests").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from pytest_aksload.results import LoadResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from loopback_servers import ScoringServer  # noqa: E402

QUANTILES = (50, 95, 99, 99.9)
KEY = "bench-accuracy-key-0123456789"
GATE = """
import os, pytest

@pytest.mark.load_test(users={users}, spawn_rate=200, duration="{duration}", wait=(0, 0.05), rows=5)
def test_gate(load_result):
    with open(os.environ["ACCURACY_DUMP"], "w") as out:
        out.write(load_result.to_json())
"""
Z = statistics.NormalDist()


def _bimodal(rng: random.Random) -> float:
    return rng.uniform(0.900, 1.100) if rng.random() < 0.05 else rng.uniform(0.090, 0.110)


def _bimodal_quantile(p: float) -> float:
    # 95 % uniform 90..110 ms, then 5 % uniform 900..1100 ms
    return 0.090 + 0.020 * p / 0.95 if p <= 0.95 else 0.900 + 0.200 * (p - 0.95) / 0.05


# name -> (draw one delay in s, quantile function in s)
DISTRIBUTIONS: dict[str, tuple[Callable[[random.Random], float], Callable[[float], float]]] = {
    "constant": (lambda rng: 0.200, lambda p: 0.200),
    "uniform": (lambda rng: rng.uniform(0.100, 0.300), lambda p: 0.100 + 0.200 * p),
    "lognormal": (
        lambda rng: rng.lognormvariate(math.log(0.150), 0.5),
        lambda p: math.exp(math.log(0.150) + 0.5 * Z.inv_cdf(p)),
    ),
    "bimodal": (_bimodal, _bimodal_quantile),
}


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered) - 1e-9)) - 1]


def run_gate(root: Path, server: ScoringServer, users: int, duration: str) -> dict:
    (root / "test_gate.py").write_text(GATE.format(users=users, duration=duration))
    dump = root / "result.json"
    env = {**os.environ, "AKS_KEY": KEY, "ACCURACY_DUMP": str(dump)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--aks-scoring-uri", server.url]
        + ["--aks-inconclusive=pass", "test_gate.py"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"inner run failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return json.loads(dump.read_text())


def overhead_ms(root: Path, users: int) -> float:
    """Median client-minus-server time of a request on this machine (the zero-delay server)."""
    with ScoringServer(delays_s=(0.0,)) as server:
        result = run_gate(root, server, users, "4s")
        server_ms = statistics.median(r.delay_s for r in server.scoring_requests()[1:]) * 1000
    return result["summary"]["p50_ms"] - server_ms


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--only", choices=sorted(DISTRIBUTIONS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        overhead = overhead_ms(root, args.users)
        print(f"loopback overhead (client - server, median): {overhead:.2f} ms", flush=True)
        header = f"{'distribution':<10} {'q':>5} {'truth ms':>9} {'plugin |err| med/max':>21} "
        print(header + f"{'locust |err| med/max':>21} {'CI covers':>10} {'unbounded':>9} {'requests':>9}")
        for name, (draw, quantile) in DISTRIBUTIONS.items():
            if args.only and name != args.only:
                continue
            errors: dict[float, list[float]] = {q: [] for q in QUANTILES}
            locust_errors: dict[float, list[float]] = {q: [] for q in QUANTILES}
            covered = {q: 0 for q in QUANTILES}
            unbounded = {q: 0 for q in QUANTILES}
            requests = []
            for rep in range(args.repeat):
                rng = random.Random(f"{name}-{rep}")
                with ScoringServer(delays_s=[draw(rng) for _ in range(200_000)]) as server:
                    data = run_gate(root, server, args.users, args.duration)
                    # n = 0 is the pre-flight request, which the load result does not hold
                    truth_values = [r.delay_s * 1000 for r in server.scoring_requests()[1:]]
                requests.append(data["summary"]["requests"])
                result = LoadResult.from_dict(data)
                locust = result.generator.get("locust") or {}
                for q in QUANTILES:
                    truth = nearest_rank(truth_values, q)
                    measured = result.percentile(q)
                    errors[q].append(abs(measured - truth) / truth)
                    own = locust.get(f"p{int(q)}_ms") if q == int(q) else None
                    if own is not None:
                        locust_errors[q].append(abs(own - truth) / truth)
                    low, high = result.ci(f"p{q:g}")
                    population = quantile(q / 100) * 1000 + overhead
                    unbounded[q] += math.isinf(high)
                    covered[q] += low <= population <= high
            for q in QUANTILES:
                own = (
                    f"{statistics.median(locust_errors[q]):>9.2%}/{max(locust_errors[q]):>8.2%}"
                    if locust_errors[q]
                    else f"{'n/a':>18}"
                )
                print(
                    f"{name:<10} {'p' + format(q, 'g'):>5} {quantile(q / 100) * 1000:>9.1f} "
                    f"{statistics.median(errors[q]):>11.3%}/{max(errors[q]):>8.3%} {own:>21} "
                    f"{covered[q]:>6}/{args.repeat:<3} {unbounded[q]:>9} {statistics.median(requests):>9.0f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
