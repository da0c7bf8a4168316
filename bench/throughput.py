"""Load-generator throughput: does pytest-aksload cost CPU per request compared with plain Locust?

    python bench/throughput.py [--seconds 240] [--slice 2] [--users 32] [--before PATH] [--after PATH]

Needs `nginx` (Debian: apt-get install -y nginx); not part of CI. nginx on 127.0.0.1 answers
`POST /score` with a fixed `{"result":0.5}` (a C server: the load generator, not the target, is
the bottleneck). The variants:

* `locust`  plain Locust, one process, an equivalent FastHttpUser (same bodies and headers, wait 0);
* `plugin`  a pytest gate with `@pytest.mark.load_test(wait=(0, 0))`, one Locust process, every
            answer decoded by the `azureml` contract and its prediction checked (expected 0.5,
            Criteo labels), with the plugin from `--after` (default: this checkout);
* `before`  (with `--before PATH`) the same gate with the plugin from another checkout.

Built for a noisy shared host, where wall-clock RPS swings by ±20 % from one run to the next:

* All variants run AT ONCE, but only one at a time is let run: the others are stopped (SIGSTOP
  on their whole process tree). Each round resumes every variant once, for `--slice` seconds, in
  a fresh random order: hundreds of short alternations, so each round's variants meet the same
  neighbours; no start-up in the figures; a variant never competes with another for the cores.
* Per slice, two figures: wall-clock RPS, and the generator's CPU time (user + system of its
  process tree, from the kernel's accounting) per request. Time the kernel gave to other
  processes, or a hypervisor stole, is not in a process's CPU time: CPU per request is hit far
  less by neighbours than RPS is. The requests are counted by nginx (its access log stamps each
  answer, `$msec`): every answer logged between a variant's resume and the next variant's resume
  is that variant's.
* Ratios are taken within a round, and summarised as the geometric mean over rounds with a 95 %
  t-interval (on the mean of the per-round log ratios). For CPU the ratio is inverted
  (plain µs / plugin µs): the plugin's throughput at equal CPU, which is what the load generator
  delivers when CPU is what limits it.

Each variant's Locust run time is `--seconds` plus an allowance for the others' start-up; the
rounds go on for `--seconds`, or while every variant has run time left. At the end each
variant is resumed once its run time is over, so it ends at once, and its exit code is checked
(the gate asserts every answer was checked).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

from pytest_aksload.data import criteo

WARM_S = 2.0  # each variant runs this long alone after its first answer, before the rounds start
SETTLE_S = 0.05  # after a stop: the stopped variant's last answers reach nginx's log before the next resumes
# Run time beyond the rounds: the variants start one after another, and the first one's clock runs
# while the others start up (a slow start only means fewer rounds than asked).
START_ALLOWANCE_S = 45.0
READY_TIMEOUT_S = 120.0
EXIT_TIMEOUT_S = 120.0
CONFIDENCE = 0.95

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format stamp '$msec';
    access_log {dir}/access.log stamp buffer=256k flush=1s;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    server {{
        listen 127.0.0.1:{port};
        location /score {{
            default_type application/json;
            return 200 '{{"result":0.5}}';
        }}
    }}
}}
"""

PLAIN_LOCUSTFILE = """
import itertools, json, os
from locust import FastHttpUser, constant, task

_BODIES = [json.dumps(row, separators=(",", ":")).encode() for row in json.load(open(os.environ["BENCH_ROWS"]))]
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_numbers = itertools.count()


class PlainScorer(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        self._next = next(_numbers) % len(_BODIES)

    @task
    def score(self):
        body = _BODIES[self._next]
        self._next = (self._next + 1) % len(_BODIES)
        with self.client.post("/score", data=body, headers=_HEADERS, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
"""

GATE = """
import pytest

@pytest.fixture
def aks_expected_predictions(aks_sample):
    return [0.5] * len(aks_sample)  # nginx answers 0.5: every prediction is decoded and checked


@pytest.mark.load_test(users={users}, spawn_rate={users}, duration="{seconds}s", wait=(0, 0))
def test_throughput(load_result):
    assert load_result.requests > 0 and load_result.correctness.checked == load_result.rows
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Nginx:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "nginx"
        self.dir.mkdir()
        self.port = _free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=self.dir, port=self.port))
        self.log = self.dir / "access.log"
        self.process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(self.dir)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"nginx did not start; see {self.dir / 'error.log'}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/score"

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def stamps(self) -> np.ndarray:
        time.sleep(1.5)  # the log buffer flushes every second
        return np.sort(np.loadtxt(self.log, dtype=np.float64, ndmin=1))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class Slice:
    variant: str
    round: int
    start: float  # wall clock (nginx stamps with the same clock)
    stop: float
    cpu_s: float
    requests: int = 0

    @property
    def rps(self) -> float:
        return self.requests / (self.stop - self.start)

    @property
    def us_per_request(self) -> float:
        return 1e6 * self.cpu_s / self.requests if self.requests else math.inf


@dataclass
class Generator:
    """One variant's process tree, held stopped except during its slices."""

    name: str
    argv: list[str]
    env: dict[str, str]
    experiment: bool = False  # a --variant: it may fail the gate (e.g. checks switched off)
    process: subprocess.Popen[bytes] | None = None
    tree: list[psutil.Process] = field(default_factory=list)
    end_by: float = 0.0  # wall clock after which its Locust run time is surely over

    def start(self, workdir: Path, nginx: Nginx, run_time_s: float) -> None:
        self.log = workdir / f"{self.name}.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(self.argv, cwd=workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        root = psutil.Process(self.process.pid)
        # The Locust process first (a gate's own preflight requests come from pytest), then its answers.
        while not any(_runs_locust(proc) for proc in [root, *root.children(recursive=True)]):
            self._wait_a_little(deadline, "started no Locust process")
        offset = nginx.log_size()
        while nginx.log_size() <= offset:  # the log is flushed every second
            self._wait_a_little(deadline, "sent no request")
        self.end_by = time.time() + run_time_s + 1.0
        time.sleep(WARM_S)
        self.tree = [root, *root.children(recursive=True)]
        self.suspend()

    def _wait_a_little(self, deadline: float, what: str) -> None:
        assert self.process is not None
        if self.process.poll() is not None or time.monotonic() > deadline:
            self.fail(what)
        time.sleep(0.05)

    def suspend(self) -> None:
        for proc in reversed(self.tree):  # the Locust process first, then whatever waits for it
            proc.suspend()

    def resume(self) -> None:
        for proc in self.tree:
            proc.resume()

    def cpu_s(self) -> float:
        """CPU time of the tree's threads, in ns from the scheduler (user and system time come in
        10 ms ticks, coarse for a slice). A thread that ends during a slice takes its time with it:
        Locust's threads live as long as the process."""
        total_ns = 0
        for proc in self.tree:
            for task in Path(f"/proc/{proc.pid}/task").glob("*/schedstat"):
                with contextlib.suppress(OSError):
                    total_ns += int(task.read_text().split()[0])
        return total_ns / 1e9

    def run_slice(self, round_: int, seconds: float) -> Slice:
        before = self.cpu_s()
        start = time.time()
        self.resume()
        time.sleep(seconds)
        self.suspend()
        stop = time.time()
        assert self.process is not None
        if self.process.poll() is not None:
            self.fail("ended during the rounds")
        return Slice(self.name, round_, start, stop, self.cpu_s() - before)

    def finish(self) -> None:
        """Resume it once its run time is over (so it stops at once) and check its exit."""
        assert self.process is not None
        time.sleep(max(0.0, self.end_by - time.time()))
        self.resume()
        try:
            self.process.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.fail(f"did not end within {EXIT_TIMEOUT_S:g}s of its run time")
        if self.process.returncode != 0:
            if not self.experiment:
                self.fail(f"exited with {self.process.returncode}")
            print(f"{self.name} (an experiment) exited with {self.process.returncode}")

    def fail(self, what: str) -> None:
        tail = self.log.read_text(errors="replace")[-5000:]
        raise SystemExit(f"{self.name} {what}:\n{tail}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            for proc in self.tree:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
            self.process.kill()
            self.process.wait(10)


def _runs_locust(proc: psutil.Process) -> bool:
    try:
        return proc.cmdline()[1:3] == ["-m", "locust"]
    except psutil.Error:  # a short-lived process, gone already
        return False


def _checkout(path: str) -> Path:
    """The root of a checkout whose `pytest_aksload` the plugin variants import (via PYTHONPATH)."""
    root = Path(path).resolve()
    if not (root / "pytest_aksload" / "__init__.py").is_file():
        raise SystemExit(f"--before/--after {path}: not a checkout of pytest-aksload (no pytest_aksload/__init__.py)")
    return root


def _named_checkout(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or name in ("locust", "plugin", "before"):
        raise argparse.ArgumentTypeError(f"{value!r}: expected NAME=PATH, NAME not locust, plugin or before")
    return name, path


def _imports_from(env: dict[str, str], root: Path) -> None:
    """The plugin variant really loads the checkout it names (not the installed one)."""
    code = "import pytest_aksload, sys; sys.stdout.write(pytest_aksload.__file__)"
    run = subprocess.run([sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True, timeout=60)
    loaded = run.stdout
    if not Path(loaded).resolve().is_relative_to(root):
        raise SystemExit(f"PYTHONPATH={root} still imports pytest_aksload from {loaded}")


def _t_quantile(p: float, df: int) -> float:
    """Student's t quantile (Cornish-Fisher expansion: within 1e-3 for df >= 10, 3e-3 at 5; no scipy needed)."""
    z = statistics.NormalDist().inv_cdf(p)
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def ratio_summary(ratios: list[float]) -> str:
    """Geometric mean of per-round ratios with a 95 % t-interval, and the rounds' range."""
    logs = [math.log(r) for r in ratios]
    mean = statistics.fmean(logs)
    if len(logs) < 3:
        return f"{math.exp(mean):.3f} (too few rounds for an interval)"
    half = _t_quantile(0.5 + CONFIDENCE / 2, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return (
        f"{math.exp(mean):.3f}  [{math.exp(mean - half):.3f}, {math.exp(mean + half):.3f}]"
        f"  rounds {min(ratios):.2f}-{max(ratios):.2f}"
    )


class HostCpu:
    """The host's CPU use over the bench (from /proc/stat): how noisy the neighbours were."""

    def __init__(self) -> None:
        self.start, self.load = self._read(), os.getloadavg()[0]

    @staticmethod
    def _read() -> list[int]:
        with open("/proc/stat") as stat:
            return [int(v) for v in stat.readline().split()[1:]]

    def report(self, bench_cpu_s: float, wall_s: float) -> str:
        delta = [b - a for a, b in zip(self.start, self._read(), strict=True)]
        ticks = os.sysconf("SC_CLK_TCK")
        total = sum(delta[:8])  # user nice system idle iowait irq softirq steal
        busy = total - delta[3] - delta[4]
        cores = os.cpu_count() or 1
        return (
            f"host: {cores} CPUs, load average {self.load:.1f} at start, {os.getloadavg()[0]:.1f} at end; "
            f"busy {busy / total:.0%} of the CPUs over the run ({busy / ticks / wall_s:.2f} cores, of which the "
            f"generators {bench_cpu_s / wall_s:.2f}), steal {delta[7] / total:.1%}"
        )


def _variants(args: argparse.Namespace, workdir: Path, nginx: Nginx, run_time_s: int) -> list[Generator]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "AKS", "PYTHONPATH"))}
    base.update(BENCH_ROWS=str(workdir / "rows.json"), PYTHONDONTWRITEBYTECODE="1")
    gate_dir = workdir / "gate"
    gate_dir.mkdir()
    (gate_dir / "test_throughput.py").write_text(GATE.format(users=args.users, seconds=run_time_s))
    pytest_argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(gate_dir)]
    pytest_argv += ["--aks-scoring-uri", nginx.url]
    locust_argv = [
        sys.executable, "-m", "locust", "-f", str(workdir / "plain.py"), "--headless",
        "--host", f"http://127.0.0.1:{nginx.port}", "-u", str(args.users), "-r", str(args.users),
        "-t", f"{run_time_s}s", "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    generators = [Generator("locust", locust_argv, base)]
    trees = [("plugin", args.after)] + ([("before", args.before)] if args.before else []) + args.variant
    for name, path in trees:
        root = _checkout(path)
        env = {**base, "PYTHONPATH": str(root)}
        _imports_from(env, root)
        generators.append(Generator(name, pytest_argv, env, experiment=name not in ("plugin", "before")))
    return generators


def _rounds(generators: list[Generator], args: argparse.Namespace, seed: int) -> list[Slice]:
    shuffle = random.Random(seed).shuffle
    round_s = len(generators) * (args.slice + SETTLE_S + 0.05)
    end = min(time.time() + args.seconds, min(g.end_by for g in generators) - 2.0)
    slices: list[Slice] = []
    round_ = 0
    while time.time() + round_s < end:
        order = list(generators)
        shuffle(order)
        done = []
        for generator in order:
            done.append(generator.run_slice(round_, args.slice))
            time.sleep(SETTLE_S)
        slices += done
        round_ += 1
        if round_ % 25 == 0:
            cores = "  ".join(f"{s.variant} {s.cpu_s / (s.stop - s.start):.2f}" for s in done)
            print(f"round {round_:3d}, generator cores: {cores}", flush=True)
    return slices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=240, help="time the rounds take, all variants together")
    parser.add_argument("--slice", type=float, default=2.0, help="seconds each variant runs per round")
    parser.add_argument("--rounds-table", action="store_true", help="print every round's figures")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--after", default=str(Path(__file__).resolve().parents[1]), help="checkout for `plugin`")
    parser.add_argument("--before", help="a second checkout, measured as `before` in the same rounds")
    parser.add_argument(
        "--variant", type=_named_checkout, action="append", default=[], metavar="NAME=PATH",
        help="one more checkout measured in the same rounds (an experiment); repeatable",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=None, help="the rounds' orders (default: from the clock)")
    args = parser.parse_args()
    if shutil.which("nginx") is None:
        sys.exit("nginx not found: apt-get install -y nginx")
    seed = args.seed if args.seed is not None else int(time.time())

    workdir = Path(tempfile.mkdtemp(prefix="aksload-bench-"))
    (workdir / "rows.json").write_text(json.dumps(criteo.payloads(criteo.load_sample(), 100)))
    (workdir / "plain.py").write_text(PLAIN_LOCUSTFILE)
    nginx = Nginx(workdir)
    run_time_s = math.ceil(args.seconds + START_ALLOWANCE_S)
    generators: list[Generator] = []
    try:  # from here on nothing outlives the bench: not nginx, not a held variant
        generators = _variants(args, workdir, nginx, run_time_s)
        host, began = HostCpu(), time.time()
        for generator in generators:
            generator.start(workdir, nginx, run_time_s)
        slices = _rounds(generators, args, seed)
        for generator in sorted(generators, key=lambda g: g.end_by):
            generator.finish()
        stamps = nginx.stamps()
    finally:
        for generator in generators:
            generator.kill()
        nginx.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    _count(slices, stamps)
    print(f"\n{host.report(sum(s.cpu_s for s in slices), time.time() - began)}")
    print(f"{args.users} users, {len(slices) // len(generators)} rounds of {args.slice:g} s per variant, seed {seed}")
    _report(slices, [g.name for g in generators], args.variant, args.rounds_table)


def _count(slices: list[Slice], stamps: np.ndarray) -> None:
    """Each slice's requests: the answers logged from its start to the next slice's start."""
    ordered = sorted(slices, key=lambda s: s.start)
    for this, following in zip(ordered, [*ordered[1:], None], strict=True):
        end = following.start if following is not None else this.stop + SETTLE_S
        this.requests = int(np.searchsorted(stamps, end) - np.searchsorted(stamps, this.start))


def _report(slices: list[Slice], names: list[str], extra: list[tuple[str, str]], rounds_table: bool) -> None:
    by_round: dict[int, dict[str, Slice]] = {}
    for s in slices:
        by_round.setdefault(s.round, {})[s.variant] = s
    if rounds_table:
        print("\nround  " + "  ".join(f"{name:>8s} rps  µs/req" for name in names))
        for number, round_ in sorted(by_round.items()):
            cells = "  ".join(f"{round_[n].rps:12.0f} {round_[n].us_per_request:7.1f}" for n in names)
            print(f"{number + 1:5d}  {cells}")
    print(f"\n{'variant':8s} {'median rps':>11s} {'median CPU µs/request':>22s} {'generator cores':>16s}")
    for name in names:
        own = [s for s in slices if s.variant == name]
        cores = statistics.median(s.cpu_s / (s.stop - s.start) for s in own)
        rps = statistics.median(s.rps for s in own)
        us = statistics.median(s.us_per_request for s in own)
        print(f"{name:8s} {rps:11.0f} {us:22.1f} {cores:16.2f}")
    print("\nratios: geometric mean over rounds [95 % interval]; throughput at equal CPU = 1 / CPU-per-request ratio")
    pairs = [("plugin", "locust"), ("before", "locust"), ("plugin", "before")]
    pairs += [(name, other) for name, _ in extra for other in ("locust", "plugin")]
    for a, b in pairs:
        if a not in names or b not in names:
            continue
        rounds = list(by_round.values())
        cpu = [r[b].us_per_request / r[a].us_per_request for r in rounds]
        rps = [r[a].rps / r[b].rps for r in rounds]
        print(f"{a}/{b}  throughput at equal CPU {ratio_summary(cpu)}")
        print(f"{a}/{b}  wall-clock rps          {ratio_summary(rps)}")


if __name__ == "__main__":
    main()
