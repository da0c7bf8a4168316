"""Load-generator throughput: does pytest-aksload cost requests per second compared with plain Locust?

    python bench/throughput.py [--seconds 10] [--reps 3] [--users 32]

Needs `nginx` and `wrk` (Debian: apt-get install -y nginx wrk); not part of CI. One run
starts nginx on 127.0.0.1 with its own temporary config, answering `POST /score` with a fixed
`{"result":0.5}` (a C server, so the load generator, not the target, is the bottleneck), then
measures, in alternating order per repetition (A/B/C/D, B/C/D/A, ...):

* `locust`   plain Locust, one process, an equivalent FastHttpUser (same bodies and headers, wait 0);
* `plugin`   a pytest gate with `@pytest.mark.load_test(wait=(0, 0))`, one Locust process, every answer
             decoded by the `azureml` contract and its prediction checked (expected 0.5, Criteo labels);
* `plugin-2w` the same with `--aks-workers 2` (master + 2 worker processes);
* `wrk`      wrk with the same connections and body: the ceiling of this machine and server.

Every variant is measured the same way, by nginx: its access log stamps each request (`$msec`),
and the RPS is the count over the middle of the run (the first 2 s and last 1 s cut: spawn
and stop). The CPU of the load generator's process tree and of nginx is reported per run
(sampled mid-run; on a 2-core machine the server and the generator share the cores, and this
shows where they went).
Prints a table of medians and the ratios the project promises (plugin >= 95 % of Locust).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

from pytest_aksload.data import criteo

CUT_START_S = 2.0
CUT_END_S = 1.0
SAMPLE_S = 3.0  # CPU sampling inside the counted part of a run (needs --seconds >= 8)

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

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("BENCH_BODY")):read("*a")
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

    def cpu_s(self) -> float:
        total = 0.0
        for proc in [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
        return total

    def stamps_since(self, offset: int) -> list[float]:
        time.sleep(1.5)  # the log buffer flushes every second
        with open(self.log, "rb") as log:
            log.seek(offset)
            return [float(line) for line in log.read().split()]

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _tree_cpu_s(root: psutil.Process) -> float:
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _cores_mid_run(process: subprocess.Popen[bytes], nginx: Nginx, offset: int) -> dict[str, float]:
    """CPU (in cores) of the load generator's process tree and of nginx over SAMPLE_S in the
    steady part of the run: where the 2-core machine's CPU went while the RPS was counted."""
    deadline = time.monotonic() + 60
    while nginx.log_size() <= offset and time.monotonic() < deadline:  # the load has started
        time.sleep(0.05)
    time.sleep(CUT_START_S)
    root = psutil.Process(process.pid)
    gen0, web0, t0 = _tree_cpu_s(root), nginx.cpu_s(), time.monotonic()
    time.sleep(SAMPLE_S)
    gen1, web1, t1 = _tree_cpu_s(root), nginx.cpu_s(), time.monotonic()
    return {"gen_cores": (gen1 - gen0) / (t1 - t0), "nginx_cores": (web1 - web0) / (t1 - t0)}


def _steady_rps(stamps: list[float]) -> float:
    if len(stamps) < 2:
        return 0.0
    start, end = min(stamps) + CUT_START_S, max(stamps) - CUT_END_S
    if end <= start:
        raise RuntimeError("run too short to cut spawn and stop; use --seconds >= 5")
    return sum(start <= s < end for s in stamps) / (end - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--users", type=int, default=32)
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install -y nginx wrk")

    workdir = Path(tempfile.mkdtemp(prefix="aksload-bench-"))
    rows = criteo.payloads(criteo.load_sample(), 100)
    (workdir / "rows.json").write_text(json.dumps(rows))
    (workdir / "body.json").write_text(json.dumps(rows[0]))
    (workdir / "plain.py").write_text(PLAIN_LOCUSTFILE)
    (workdir / "wrk.lua").write_text(WRK_SCRIPT)
    gate_dir = workdir / "gate"
    gate_dir.mkdir()
    (gate_dir / "test_throughput.py").write_text(GATE.format(users=args.users, seconds=args.seconds))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "AKS"))}
    env.update(BENCH_ROWS=str(workdir / "rows.json"), BENCH_BODY=str(workdir / "body.json"))

    nginx = Nginx(workdir)
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(gate_dir)]
    variants = {
        "locust": [
            sys.executable, "-m", "locust", "-f", str(workdir / "plain.py"), "--headless",
            "--host", f"http://127.0.0.1:{nginx.port}", "-u", str(args.users), "-r", str(args.users),
            "-t", f"{args.seconds}s", "--only-summary", "--loglevel", "WARNING",
        ],
        "plugin": [*pytest_cmd, "--aks-scoring-uri", nginx.url],
        "plugin-2w": [*pytest_cmd, "--aks-scoring-uri", nginx.url, "--aks-workers", "2"],
        "wrk": [
            "wrk", "-t2", f"-c{args.users}", f"-d{args.seconds}s", "-s", str(workdir / "wrk.lua"), nginx.url,
        ],
    }  # fmt: skip
    names = list(variants)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    try:
        for rep in range(args.reps):
            order = names[rep % len(names) :] + names[: rep % len(names)]  # rotate: no variant always first
            for name in order:
                offset = nginx.log_size()
                process = subprocess.Popen(
                    variants[name], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                )
                cores = _cores_mid_run(process, nginx, offset)
                output = process.communicate(timeout=300)[0].decode()
                if process.returncode != 0:
                    sys.exit(f"{name} failed ({process.returncode}):\n{output[-5000:]}")
                runs[name].append({"rps": _steady_rps(nginx.stamps_since(offset)), **cores})
                last = runs[name][-1]
                print(
                    f"rep {rep + 1} {name:10s} {last['rps']:9.0f} rps, generator {last['gen_cores']:.2f} cores, "
                    f"nginx {last['nginx_cores']:.2f}",
                    flush=True,
                )
    finally:
        nginx.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    median = {name: statistics.median(r["rps"] for r in runs[name]) for name in names}
    print(f"\n{os.cpu_count()} CPUs; {args.users} connections/users, {args.seconds}s runs, {args.reps} reps (medians)")
    print(f"{'variant':10s} {'rps':>9s} {'runs':>34s} {'generator cores':>16s} {'nginx cores':>12s}")
    for name in names:
        each = " ".join(f"{r['rps']:.0f}" for r in runs[name])
        gen = statistics.median(r["gen_cores"] for r in runs[name])
        web = statistics.median(r["nginx_cores"] for r in runs[name])
        print(f"{name:10s} {median[name]:9.0f} {each:>34s} {gen:16.2f} {web:12.2f}")
    print(
        textwrap.dedent(f"""
        plugin / locust     = {median["plugin"] / median["locust"]:.3f}   (promise: >= 0.95)
        plugin-2w / plugin  = {median["plugin-2w"] / median["plugin"]:.2f}    (goal on 2 cores: >= 1.6)
        plugin-2w / wrk     = {median["plugin-2w"] / median["wrk"]:.2f}""")
    )


if __name__ == "__main__":
    main()
