"""Distributed load on Locust's own master/worker engine: inner pytest runs, real Locust masters
and workers, a loopback scoring server that counts what it served."""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from loopback_servers import ScoringServer, closed_port

from pytest_aksload.stats.result import LoadResult

KEY = "k3y-DISTRIBUTED-0123456789-abcdef"
TOKEN = "worker-token-DISTRIBUTED-0123456789-abcdefghij"  # AKSLOAD_WORKER_TOKEN: master and workers

# A custom locustfile: the packaged user, plus a listener that keeps every raw latency Locust
# reports in this process and writes them out at quit (one file per worker process).
RAW_LATENCIES_LOCUSTFILE = """
import json, os
from locust import events
from pytest_aksload._locust import locustfile as packaged

class Scorer(packaged.ScoringUser):
    pass

_raw = []

@events.request.add_listener
def _keep(response_time, **_kwargs):
    _raw.append(response_time)

@events.quitting.add_listener
def _dump(**_kwargs):
    if _raw:
        with open(os.path.join(os.environ["RAW_DIR"], f"{os.getpid()}.json"), "w") as out:
            json.dump(_raw, out)
"""

DUMP_RESULT = """
import os, pytest

@pytest.mark.load_test({marker})
def test_load(load_result):
    with open(os.environ["RESULT_DUMP"], "w") as out:
        out.write(load_result.to_json())
"""


def _nearest_rank(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def test_local_workers_merge_histograms_exactly_with_no_fixed_port(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two local worker processes: the master merges their histograms exactly. Locust's default
    master port (5557, on every interface) is taken meanwhile, e.g. by another gate on the same CI
    machine: the run still works (its master binds a free loopback port)."""
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    monkeypatch.setenv("RAW_DIR", str(raw_dir))
    monkeypatch.setenv("RESULT_DUMP", str(tmp_path / "result.json"))
    pytester.makepyfile(raw_latencies=RAW_LATENCIES_LOCUSTFILE)
    pytester.makepyfile(
        test_dump=DUMP_RESULT.format(
            marker='users=6, spawn_rate=50, duration="3s", wait=(0, 0.01), locustfile="raw_latencies.py"'
        )
    )
    # Spread latencies, so the percentiles compared below are different numbers.
    with socket.socket() as squatter, ScoringServer(delays_s=(0.0, 0.002, 0.005, 0.0, 0.012, 0.001, 0.030)) as server:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            squatter.bind(("0.0.0.0", 5557))
            squatter.listen()
        except OSError:
            pass  # already taken by something else: the case under test all the same
        run = pytester.runpytest_subprocess(
            "--aks-scoring-uri", server.url, "--aks-workers", "2", "-p", "no:cacheprovider"
        )
        served = len(server.scoring_requests()) - 1  # the pre-flight request is not part of the load
    run.assert_outcomes(passed=1)
    result = LoadResult.from_dict(json.loads((tmp_path / "result.json").read_text()))
    per_worker = [json.loads(path.read_text()) for path in raw_dir.glob("*.json")]
    raw_us = [round(ms * 1000) for values in per_worker for ms in values]

    # Two worker processes generated the load; the master merged both.
    assert len(per_worker) == 2 and all(per_worker) and result.generator["workers"] == 2
    # Request counts add up exactly: every request served was recorded, once.
    assert result.requests == len(raw_us) == served
    assert sum(window.requests for window in result.timeline) == served
    # Merged percentiles are those of all raw latencies together, within HDR precision (half a
    # bucket: 0.05 %, and exact below 2.048 ms), plus the 1 µs rounding of ms to µs.
    for q in (50, 75, 90, 95, 99, 99.9, 100):
        exact_us = _nearest_rank(raw_us, q)
        assert result.percentile(q) * 1000 == pytest.approx(exact_us, rel=0.0005, abs=1), q
    assert result.mean_ms * 1000 == pytest.approx(sum(raw_us) / len(raw_us), rel=1e-9, abs=1e-3)


def _worker_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("aksload-worker")  # the installed console script
    return [str(script), "--master-host", "127.0.0.1", "--master-port", str(port)]


def _proc_bytes(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


# Loaded by every Python process a worker runs (through PYTHONPATH): at exit it writes the process's
# own os.environ, which /proc/PID/environ (fixed at exec) cannot show.
ENVIRON_AT_EXIT = """
import atexit, json, os

def _dump():
    path = os.path.join(os.environ["ENVIRON_PROBE_DIR"], f"{os.getpid()}.json")
    with open(path, "w") as out:
        json.dump(dict(os.environ), out)

atexit.register(_dump)
"""


def _snapshot(workers: list[subprocess.Popen[bytes]], worker_tmp: Path) -> bytes:
    """Command line and environment of every worker process and its descendants, and every file
    the workers have under their temporary directory, as they are now."""
    pids = []
    for worker in workers:
        with contextlib.suppress(psutil.Error):
            pids += [worker.pid] + [child.pid for child in psutil.Process(worker.pid).children(recursive=True)]
    parts = [_proc_bytes(pid, "cmdline") + b"\n" + _proc_bytes(pid, "environ") for pid in pids]
    for path in worker_tmp.rglob("*"):
        with contextlib.suppress(OSError):
            parts.append(path.read_bytes() if path.is_file() else b"")
    return b"\n".join(parts)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="samples /proc")
def test_remote_workers_run_a_gate_and_never_hold_the_key(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key reaches remote workers only as a Locust message: never their command line, their
    environment (as exec'd, or as the process changed it later), a file or their output. Sampled
    while they send load, when they hold the key, and at their exit."""
    port = closed_port()
    monkeypatch.setenv("AKSLOAD_KEY", KEY)
    monkeypatch.setenv("AKSLOAD_WORKER_TOKEN", TOKEN)  # the master's and (copied below) the workers'
    monkeypatch.setenv("RESULT_DUMP", str(tmp_path / "result.json"))
    pytester.makepyfile(
        test_dump=DUMP_RESULT.format(
            marker='users=4, spawn_rate=50, duration="4s", wait=(0, 0.01), slo=["failure_rate < 1%", "p99 < 2s"]'
        )
    )
    probe, environs, worker_tmp = tmp_path / "probe", tmp_path / "environ", tmp_path / "worker-tmp"
    for directory in (probe, environs, worker_tmp):
        directory.mkdir()
    (probe / "sitecustomize.py").write_text(ENVIRON_AT_EXIT)
    # Started first, like a Deployment that waits for its master; their environment is the
    # test's own, which holds the key only under AKSLOAD_KEY: the worker must drop nothing it needs.
    worker_env = {k: v for k, v in os.environ.items() if k != "AKSLOAD_KEY"}
    worker_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(probe), worker_env.get("PYTHONPATH")]))
    worker_env |= {"ENVIRON_PROBE_DIR": str(environs), "TMPDIR": str(worker_tmp)}
    logs = [tmp_path / f"worker-{index}.log" for index in range(2)]
    with ScoringServer(delays_s=(0.001,)) as server:

        def load_requests() -> int:
            # Not the pre-flight request: the pytest process sends it, with python-requests.
            served = server.scoring_requests()
            return sum(not r.headers.get("User-Agent", "").startswith("python-requests") for r in served)

        with logs[0].open("wb") as out0, logs[1].open("wb") as out1:
            workers = [
                subprocess.Popen(_worker_command(port), env=worker_env, stdout=out, stderr=subprocess.STDOUT)
                for out in (out0, out1)
            ]
            samples: list[tuple[int, bytes]] = []  # (load requests served so far, snapshot)

            def sample_while_loading() -> None:
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline and any(worker.poll() is None for worker in workers):
                    if loaded := load_requests():
                        samples.append((loaded, _snapshot(workers, worker_tmp)))
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample_while_loading)
            sampler.start()
            try:
                run = pytester.runpytest_subprocess(
                    "--aks-scoring-uri",
                    server.url,
                    "--aks-expect-workers",
                    "2",
                    "--aks-master-bind",
                    f"127.0.0.1:{port}",
                    "-p",
                    "no:cacheprovider",
                )
                exits = [worker.wait(30) for worker in workers]
                sampler.join(60)
            finally:
                for worker in workers:
                    if worker.poll() is None:
                        worker.kill()
        requests = server.scoring_requests()
    run.assert_outcomes(passed=1)
    result = LoadResult.from_dict(json.loads((tmp_path / "result.json").read_text()))
    assert result.generator["workers"] == 2 and result.requests == len(requests) - 1 > 0  # - pre-flight
    # The workers authorised every request with the key, which reached them only as a Locust message...
    assert {r.authorization for r in requests} == {f"Bearer {KEY}"}
    # ...never through the command line, environment or files of any of their processes, sampled
    # while load was still to come (so the workers held the key)...
    while_loading = [snapshot for loaded, snapshot in samples if loaded < len(requests) - 1]
    assert len(while_loading) >= 3 and all(snapshot.count(b"--worker") == 2 for snapshot in while_loading)
    assert not any(KEY.encode() in snapshot for _, snapshot in samples)
    # ...nor their environment as it was at exit, nor anything they printed.
    at_exit = [json.loads(path.read_text()) for path in environs.glob("*.json")]
    assert len(at_exit) >= 2 and not any(KEY in json.dumps(environ) for environ in at_exit)
    assert not any(KEY.encode() in log.read_bytes() for log in logs)
    # The master told them to quit at the end of the run, and they left no working directory behind.
    assert exits == [0, 0]
    assert list(worker_tmp.glob("aksload-worker-*")) == []


def test_local_workers_obey_abort_rules_and_extension(pytester: pytest.Pytester) -> None:
    """The master judges the windows merged from its workers: an abort rule ends a doomed
    60 s run within seconds, and an extended run stops as soon as its verdict is decided (with
    warmup="auto", whose cut then applies to the endpoints merged from the workers' windows)."""
    pytester.makepyfile(
        test_doomed="""
        import pytest

        @pytest.mark.load_test(users=4, spawn_rate=50, duration="60s", wait=(0.05, 0.1),
                               abort_on=["failure_rate > 50% over 2s windows"])
        def test_gate(load_result):
            pass
        """,
        test_undecided="""
        import pytest

        @pytest.mark.load_test(users=4, spawn_rate=50, duration="3s", wait=(0.05, 0.1), max_duration="40s",
                               slo="failure_rate < 2%", warmup="auto")
        def test_gate(load_result):
            endpoint_requests = sum(e.requests for e in load_result.endpoints.values())
            print("EXTENDED", load_result.requests, load_result.duration_s, endpoint_requests)
        """,
    )
    with ScoringServer(outcomes=lambda n: "ok" if n == 0 else "http500") as failing:
        started = time.monotonic()
        doomed = pytester.runpytest_subprocess(
            "test_doomed.py", "--aks-scoring-uri", failing.url, "--aks-workers", "2", "-p", "no:cacheprovider"
        )
        aborted_after_s = time.monotonic() - started
    doomed.assert_outcomes(failed=1)
    doomed.stdout.fnmatch_lines(["*load aborted early after *s: failure_rate > 50% over 2s windows held in window*"])
    assert aborted_after_s < 35
    with ScoringServer(delays_s=(0.002,)) as healthy:
        extended = pytester.runpytest_subprocess(
            "test_undecided.py",
            "-s",
            "--aks-scoring-uri",
            healthy.url,
            "--aks-workers",
            "2",
            "--aks-inconclusive=extend",
            "-p",
            "no:cacheprovider",
        )
    extended.assert_outcomes(passed=1)
    line = next(line for line in extended.outlines if line.startswith("EXTENDED"))
    requests, duration_s, endpoint_requests = int(line.split()[1]), float(line.split()[2]), int(line.split()[3])
    # Decided (Wilson bound under 2 %) at ~190 requests; the master sees windows ~3 s late.
    assert requests >= 190 and duration_s <= 25
    # warmup="auto": the workers' windows, split by endpoint, merge so endpoints are cut like the total.
    assert endpoint_requests == requests
