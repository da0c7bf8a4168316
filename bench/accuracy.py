"""How exact are the plugin's percentiles, and do its 95 % confidence intervals cover the truth?

For each latency distribution (constant 300 ms, uniform 200-400 ms, lognormal with median 300 ms,
bimodal: 95 % around 300 ms and a 5 % slow tail around 3 s) a loopback scoring server
(bench/truth_server.py) answers each request after a freshly drawn delay and times it as an
access log would, from its last byte read to its response handed to the kernel: the
server-side truth.
The plugin load-tests it through a real inner pytest run (2 s warm-up: each user's first request
pays for its connection, which the server's clock cannot see). Per run it compares:

* on the same requests, the plugin's p50/p95/p99/p99.9 with the server-side percentiles
  (relative error), beside Locust's own p50/p95/p99 (the result's generator.locust block);
* whether the plugin's 95 % interval covers the POPULATION percentile of what a client can
  observe: a drawn delay, plus the server's timer overshoot (its event loop wakes on whole
  milliseconds; this run's served-minus-drawn values), plus the loopback path (client minus
  server p50 on the constant-latency runs, which go first), estimated from 200,000 simulated
  requests. For "constant" coverage is n/a: with no sampling spread its interval is only as
  wide as the timer's jitter.

    python bench/accuracy.py [--repeat 20] [--duration 12s] [--users 60] [--only uniform ...]

Prints one line per distribution and percentile: median and worst |error| of the plugin and of
Locust, the coverage, and how many intervals were unbounded (too few requests for that
percentile: they "cover" trivially, and a gate would call such a verdict INCONCLUSIVE); then
every single error beyond 1 %, with the generator's event-loop lag in that run.
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

from pytest_aksload.stats.result import LoadResult

sys.path.insert(0, str(Path(__file__).resolve().parent))
from truth_server import TruthServer  # noqa: E402

QUANTILES = (50, 95, 99, 99.9)
KEY = "bench-accuracy-key-0123456789"
GATE = """
import os, pytest

@pytest.mark.load_test(users={users}, spawn_rate=200, duration="{duration}", warmup="2s", wait=(0, 0.05), rows=5)
def test_gate(load_result):
    with open(os.environ["ACCURACY_DUMP"], "w") as out:
        out.write(load_result.to_json())
"""
Z = statistics.NormalDist()


def _bimodal(rng: random.Random) -> float:
    return rng.uniform(2.700, 3.300) if rng.random() < 0.05 else rng.uniform(0.280, 0.320)


def _bimodal_quantile(p: float) -> float:
    # 95 % uniform 280..320 ms, then 5 % uniform 2.7..3.3 s
    return 0.280 + 0.040 * p / 0.95 if p <= 0.95 else 2.700 + 0.600 * (p - 0.95) / 0.05


# name -> (draw one delay in s, quantile function in s). Latencies of a few hundred ms keep the
# loopback path's own ~1 ms small next to them; "constant" goes first: it calibrates that path.
DISTRIBUTIONS: dict[str, tuple[Callable[[random.Random], float], Callable[[float], float]]] = {
    "constant": (lambda rng: 0.300, lambda p: 0.300),
    "uniform": (lambda rng: rng.uniform(0.200, 0.400), lambda p: 0.200 + 0.200 * p),
    "lognormal": (
        lambda rng: rng.lognormvariate(math.log(0.300), 0.4),
        lambda p: math.exp(math.log(0.300) + 0.4 * Z.inv_cdf(p)),
    ),
    "bimodal": (_bimodal, _bimodal_quantile),
}


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered) - 1e-9)) - 1]


def population_percentiles(
    draw: Callable[[random.Random], float], overshoots_ms: list[float], loopback_ms: float, seed: str
) -> dict[float, float]:
    """Percentiles (ms) of drawn delay + timer overshoot + loopback path, from simulated requests."""
    rng = random.Random(seed)
    values = sorted(draw(rng) * 1000 + rng.choice(overshoots_ms) + loopback_ms for _ in range(200_000))
    return {q: nearest_rank(values, q) for q in QUANTILES}


def run_gate(root: Path, server: TruthServer, users: int, duration: str) -> LoadResult:
    (root / "test_gate.py").write_text(GATE.format(users=users, duration=duration))
    dump = root / "result.json"
    env = {**os.environ, "AKSLOAD_KEY": KEY, "ACCURACY_DUMP": str(dump)}
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
    return LoadResult.from_dict(json.loads(dump.read_text()))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--duration", default="12s")
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument(
        "--only", nargs="*", choices=sorted(DISTRIBUTIONS), help="run only these (constant always runs)"
    )
    args = parser.parse_args()
    print(f"{args.repeat} runs per distribution, {args.users} users, {args.duration} each", flush=True)
    print(
        f"{'distribution':<12} {'q':>5} {'truth ms':>9} {'plugin |err| med/max':>21} "
        f"{'locust |err| med/max':>21} {'CI covers':>9} {'unbounded':>9} {'requests':>8}",
        flush=True,
    )
    loopback: list[float] = []  # client minus server p50 on the constant runs: the loopback path
    outliers: list[str] = []  # every error beyond 1 %, with what the generator saw meanwhile
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, (draw, quantile) in DISTRIBUTIONS.items():
            if args.only and name != "constant" and name not in args.only:
                continue
            errors: dict[float, list[float]] = {q: [] for q in QUANTILES}
            locust_errors: dict[float, list[float]] = {q: [] for q in QUANTILES}
            covered = {q: 0 for q in QUANTILES}
            unbounded = {q: 0 for q in QUANTILES}
            requests = []
            for rep in range(args.repeat):
                rng = random.Random(f"{name}-{rep}")
                with TruthServer(delays_s=[draw(rng) for _ in range(100_000)]) as server:
                    result = run_gate(root, server, args.users, args.duration)
                    # The same requests as the result: the last `result.requests` to arrive. The
                    # result counts those that started after the warm-up (which holds each user's
                    # connection set-up, a cost the server's clock never sees); cutting the server's
                    # log by count, not by clock, keeps a request sent within a millisecond of the
                    # cut from being in one set and not the other (one request moves a bimodal p95
                    # across its gap). The run's end needs no cut: in-flight requests complete.
                    arrivals = server.requests()
                    measured = arrivals[-result.requests :]
                    truth_values = [served_s * 1000 for _, served_s, _ in measured]
                    overshoots = [(served_s - delay_s) * 1000 for _, served_s, delay_s in measured]
                    late = sum(arrived >= result.measure_start for arrived, _, _ in arrivals)
                    if abs(late - result.requests) > 2:
                        print(f"  warning: server saw {late} requests after the warm-up, the plugin {result.requests}")
                requests.append(result.requests)
                if name == "constant":
                    loopback.append(result.p50_ms - nearest_rank(truth_values, 50))
                population = population_percentiles(draw, overshoots, statistics.median(loopback), f"{name}-{rep}-pop")
                locust = result.generator.get("locust") or {}
                for q in QUANTILES:
                    truth = nearest_rank(truth_values, q)
                    errors[q].append(abs(result.percentile(q) - truth) / truth)
                    if errors[q][-1] > 0.01:
                        lag = (result.generator.get("loop_lag_ms") or {}).get("max")
                        outliers.append(
                            f"{name} p{q:g} run {rep}: {errors[q][-1]:.2%} (plugin {result.percentile(q):.1f} ms, "
                            f"server {truth:.1f} ms; generator event-loop lag max {lag} ms)"
                        )
                    own = locust.get(f"p{q:g}_ms")
                    if own is not None:
                        locust_errors[q].append(abs(own - truth) / truth)
                    low, high = result.ci(f"p{q:g}")
                    unbounded[q] += math.isinf(high)
                    covered[q] += low <= population[q] <= high
            for q in QUANTILES:
                own = (
                    f"{statistics.median(locust_errors[q]):>9.2%}/{max(locust_errors[q]):>8.2%}"
                    if locust_errors[q]
                    else "n/a"
                )
                # A constant has no sampling spread: its interval is as wide as the timer's jitter.
                coverage = "n/a" if name == "constant" else f"{covered[q]}/{args.repeat}"
                print(
                    f"{name:<12} {'p' + format(q, 'g'):>5} {quantile(q / 100) * 1000:>9.1f} "
                    f"{statistics.median(errors[q]):>11.3%}/{max(errors[q]):>8.3%} {own:>21} "
                    f"{coverage:>9} {unbounded[q]:>9} {statistics.median(requests):>8.0f}",
                    flush=True,
                )
        print(f"loopback path (client minus server p50, constant runs): {statistics.median(loopback):.2f} ms")
        print(f"errors beyond 1 %: {len(outliers) or 'none'}", *outliers, sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
