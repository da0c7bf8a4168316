"""Throughput of the embedded local service: does the managed-endpoint front cost requests per second?

    python bench/local_front.py --before /path/to/checkout-before [--reps 5] [--seconds 10] [--instances 1]

Needs `wrk` (Debian: apt-get install -y wrk); not part of CI. Starts three local services, each
in its own process with its own tree on PYTHONPATH, and measures them with wrk (the same
authenticated Criteo row, 8 connections) in alternating order per repetition (A/B/C, B/C/A, ...):

* `before`   the local service of the `--before` checkout (no ceiling: the only behaviour it had);
* `after`    this tree's, no ceiling (`LocalServiceSettings()`: no front, the workers on the port);
* `front`    this tree's with a ceiling it never reaches (max_concurrent 1000) and the 5 s timeout,
             so every request goes through the front.

Prints the requests/s of every run, the medians, and after/before and front/after; and, since on a
shared machine throughput swings with the neighbours' load, the CPU time the service's processes
(master, workers, front) spent per answered request, which the neighbours do not change much.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent.parent
KEY = "bench-local-front-key"
CONNECTIONS = 8

SERVE = """
import json, sys
from pytest_aksload.local.service import LocalService
kwargs = json.loads(sys.argv[1])
if "max_concurrent" in kwargs:
    from pytest_aksload.local.service import LocalServiceSettings
    kwargs = {"settings": LocalServiceSettings(**kwargs)}
elif kwargs.get("instances", 1) > 1:
    kwargs = {"workers": kwargs["instances"]}
else:
    kwargs = {}
with LocalService(key=sys.argv[2], **kwargs) as service:
    print(service.scoring_uri, service.pid, flush=True)
    sys.stdin.read()  # until the bench closes our stdin
"""


def start(tree: Path, settings: dict[str, int]) -> tuple[subprocess.Popen[str], str, int]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, json.dumps(settings), KEY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    assert process.stdout is not None
    uri, _, pid = process.stdout.readline().strip().partition(" ")
    if not uri.startswith("http://127.0.0.1:"):
        process.kill()
        raise SystemExit(f"the local service of {tree} did not start")
    return process, uri, int(pid)


def cpu_seconds(server_pid: int) -> float:
    """CPU time of the server's master and every process under it (workers, front) so far."""
    master = psutil.Process(server_pid)
    return sum(sum(process.cpu_times()[:2]) for process in [master, *master.children(recursive=True)])


def wrk(uri: str, seconds: int, script: Path) -> tuple[float, int]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script), uri],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw failures:\n{out}")
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    count = re.search(r"([0-9]+) requests in", out)
    assert rate and count, out
    return float(rate.group(1)), int(count.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code before the front")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--instances", type=int, default=1)
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    from pytest_aksload.data import criteo

    body = json.dumps(criteo.payloads(criteo.load_sample(nrows=1), 1)[0])
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Authorization"] = "Bearer {KEY}"\nwrk.body = [[{body}]]\n'
        )
    instances = {"instances": args.instances}
    variants = {
        "before": (args.before.resolve(), instances),
        "after": (HERE, instances),
        "front": (HERE, {**instances, "max_concurrent": 1000}),
    }
    servers = {name: start(tree, settings) for name, (tree, settings) in variants.items()}
    rps: dict[str, list[float]] = {name: [] for name in variants}
    cpu_us: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    try:
        for _process, uri, _pid in servers.values():
            wrk(uri, 2, Path(lua.name))  # warm up
        for rep in range(args.reps):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                _process, uri, pid = servers[name]
                cpu_before = cpu_seconds(pid)
                rate, count = wrk(uri, args.seconds, Path(lua.name))
                rps[name].append(rate)
                cpu_us[name].append((cpu_seconds(pid) - cpu_before) / count * 1e6)
                print(f"rep {rep + 1} {name:6} {rate:8.1f} req/s {cpu_us[name][-1]:7.0f} CPU us/request", flush=True)
    finally:
        for process, _uri, _pid in servers.values():
            process.stdin.close()  # type: ignore[union-attr]
            process.wait(30)
        os.unlink(lua.name)
    median = {name: statistics.median(values) for name, values in rps.items()}
    cpu = {name: statistics.median(values) for name, values in cpu_us.items()}
    for name in names:
        runs = ", ".join(f"{v:.0f}" for v in rps[name])
        print(f"{name:6} median {median[name]:8.1f} req/s ({runs}), {cpu[name]:.0f} CPU us/request")
    after, front = median["after"] / median["before"], median["front"] / median["after"]
    print(f"after/before {after:.3f}   front/after {front:.3f}   (throughput)")
    after, front = cpu["after"] / cpu["before"], cpu["front"] / cpu["after"]
    print(f"after/before {after:.3f}   front/after {front:.3f}   (CPU per request)")


if __name__ == "__main__":
    main()
