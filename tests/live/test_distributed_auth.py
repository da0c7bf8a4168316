"""Remote workers must prove the worker token: real masters and `aksload-worker`s on loopback, a
scripted stranger speaking Locust's own rpc, and a TCP relay the test controls between a worker
and its master (it records every byte, and may alter one)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest
from loopback_servers import ScoringServer, closed_port

from pytest_aksload import protocol
from pytest_aksload.run.runner import child_environment
from pytest_aksload.stats.result import LoadResult

KEY = "k3y-WORKER-AUTH-0123456789-abcdef"
TOKEN = "worker-token-AUTH-0123456789-abcdefghijklmnop"
ROW_MARK = 987654.125  # a value only the sample rows hold

GATE = """
import os, pytest

@pytest.mark.load_test(users=2, spawn_rate=50, duration="4s", wait=(0, 0.01), slo="failure_rate < 1%")
def test_load(load_result):
    with open(os.environ["RESULT_DUMP"], "w") as out:
        out.write(load_result.to_json())
"""

# A process without the token that joins the master the way a Locust worker does, through
# Locust's own rpc, and records every frame it receives: it says it is ready (again and again, as
# Locust's worker does), sends heartbeats, asks for the locustfile, and, once acknowledged, runs
# the handshake with a made-up proof. It stops when the test creates the stop file.
STRANGER = """
import os, sys, time
import locust
from locust.rpc import Message, rpc

host, port, out, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
me = "stranger_" + os.urandom(4).hex()
client = rpc.Client(host, port, me)
received = []

def send(kind, data=None):
    client.send(Message(kind, data, me))

deadline, next_beat, said_hello = time.monotonic() + 120, 0.0, False
while time.monotonic() < deadline and not os.path.exists(stop):
    if client.socket.poll(100):
        raw = client.socket.recv()
        received.append(raw)
        kind = Message.unserialize(raw).type
        if kind == "ack" and not said_hello:
            send("aksload_hello", {"v": 1, "nonce": os.urandom(32)})
            said_hello = True
        elif kind == "aksload_challenge":
            send("aksload_proof", {"v": 1, "proof": os.urandom(32)})
    if time.monotonic() > next_beat:
        send("client_ready", locust.__version__)
        send("heartbeat", {"state": "ready", "current_cpu_usage": 1.0, "current_memory_usage": 1})
        send("locustfile", {"version": locust.__version__})
        next_beat = time.monotonic() + 1.0
with open(out, "wb") as file:
    file.write(b"".join(len(raw).to_bytes(4, "big") + raw for raw in received))
"""


class Relay:
    """A TCP relay on 127.0.0.1 in front of `upstream`: records what each side sent, and lets
    `alter` change what a worker sends (each chunk as read) on its way to the master."""

    def __init__(self, upstream: int, alter: Callable[[bytes], bytes] = lambda chunk: chunk) -> None:
        self.upstream, self.alter = upstream, alter
        self.to_master, self.to_worker = bytearray(), bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                worker, _ = self.listener.accept()
            except OSError:
                return
            try:
                master = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:  # the master is not up yet: the worker's ZeroMQ reconnects
                worker.close()
                continue
            master.settimeout(None)
            threading.Thread(target=self._pump, args=(worker, master, self.to_master, self.alter), daemon=True).start()
            threading.Thread(target=self._pump, args=(master, worker, self.to_worker, None), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, record: bytearray, alter: Callable | None) -> None:
        with contextlib.suppress(OSError), source, sink:
            while chunk := source.recv(65536):
                chunk = alter(chunk) if alter is not None else chunk
                record.extend(chunk)
                sink.sendall(chunk)

    def close(self) -> None:
        self._closing = True
        self.listener.close()


def flip_first_sealed_report() -> Callable[[bytes], bytes]:
    """Alter one byte inside the ciphertext of the first sealed envelope a worker sends (a report
    in Locust's stats message, or its final delta): what an attacker on the path would do."""
    done = False

    def alter(chunk: bytes) -> bytes:
        nonlocal done
        at = chunk.find(b"AKW1")
        if done or at < 0 or at + 40 > len(chunk):
            return chunk
        done = True
        altered = bytearray(chunk)
        altered[at + 30] ^= 0x40  # past the magic and the sequence number: ciphertext
        return bytes(altered)

    return alter


def _worker(port: int, log: Path, token: str) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).with_name("aksload-worker")
    env = {k: v for k, v in os.environ.items() if k != "AKSLOAD_KEY"} | {"AKSLOAD_WORKER_TOKEN": token}
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(script), "--master-host", "127.0.0.1", "--master-port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextlib.contextmanager
def _processes(*processes: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)


def _gate(pytester: pytest.Pytester, server: ScoringServer, port: int) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--aks-scoring-uri", server.url, "--aks-expect-workers", "1", "--aks-master-bind", f"127.0.0.1:{port}",
        "-p", "no:cacheprovider",
    )  # fmt: skip


@pytest.fixture
def gate_env(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AKSLOAD_KEY", KEY)
    monkeypatch.setenv("AKSLOAD_WORKER_TOKEN", TOKEN)
    monkeypatch.setenv("RESULT_DUMP", str(tmp_path / "result.json"))
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"x": ROW_MARK + n, "y": 1.5}) + "\n" for n in range(2)))
    monkeypatch.setenv("AKSLOAD_SAMPLE", str(rows))
    pytester.makepyfile(test_gate=GATE)
    return tmp_path


def _frames(path: Path) -> list[bytes]:
    data, frames = path.read_bytes(), []
    while data:
        size = int.from_bytes(data[:4], "big")
        frames.append(data[4 : 4 + size])
        data = data[4 + size :]
    return frames


def test_a_process_without_the_token_gets_nothing_of_the_run_and_the_wire_holds_no_secret(
    pytester: pytest.Pytester, gate_env: Path
) -> None:
    """(a) a stranger speaking Locust's rpc, and a real worker holding another token, join the
    master and get nothing of the run (no spawn, no config: no scoring URI, key or rows) while a
    worker with the token, through the relay, runs the gate; (b) every byte between that worker
    and the master holds neither the key, nor the token, nor a sample row."""
    tmp_path = gate_env
    port = closed_port()
    recording, stop = tmp_path / "stranger.bin", tmp_path / "stop"
    (tmp_path / "stranger.py").write_text(STRANGER)
    relay = Relay(port)
    with ScoringServer(delays_s=(0.001,)) as server:
        stranger = subprocess.Popen([sys.executable, str(tmp_path / "stranger.py"), "127.0.0.1", str(port),
                                     str(recording), str(stop)])  # fmt: skip
        impostor = _worker(port, tmp_path / "impostor.log", "another-token-" + "x" * 32)
        worker = _worker(relay.port, tmp_path / "worker.log", TOKEN)
        with _processes(stranger, impostor, worker):
            run = _gate(pytester, server, port)
            stop.touch()
            stranger.wait(30)
            worker_exit, impostor_exit = worker.wait(30), impostor.wait(30)
        relay.close()
        served = server.scoring_requests()
    run.assert_outcomes(passed=1)
    result = LoadResult.from_dict(json.loads((tmp_path / "result.json").read_text()))
    assert result.generator["workers"] == 1 and result.generator["rejected_reports"] == 0
    assert result.requests == len(served) - 1 > 0  # every load request came from the worker with the token
    assert {r.authorization for r in served} == {f"Bearer {KEY}"}

    # (a) The stranger was acknowledged, challenged (random bytes) and told to quit: nothing else.
    frames = _frames(recording)
    kinds = [msgpack.unpackb(frame, raw=False)[0] for frame in frames]
    assert "ack" in kinds and "aksload_challenge" in kinds and "quit" in kinds, kinds
    assert set(kinds) <= {"ack", "aksload_challenge", "quit"}, kinds
    everything = b"".join(frames)
    host = server.url.split("//")[1].split("/")[0].encode()  # 127.0.0.1:PORT
    for secret in (KEY.encode(), TOKEN.encode(), host, b"/score", str(ROW_MARK).encode()):
        assert secret not in everything
    # The worker holding another token was refused, and said why before it quit.
    assert impostor_exit == 0 and worker_exit == 0
    assert "the master sent no run" in (tmp_path / "impostor.log").read_text()

    # (b) The run did cross the relay (the config, the reports), sealed: no secret, no row in clear.
    wire = bytes(relay.to_master) + bytes(relay.to_worker)
    assert b"aksload_config" in relay.to_worker and b"aksload_final" in relay.to_master
    assert wire.count(b"AKW1") >= 3  # the config, reports, the final delta
    for secret in (KEY.encode(), TOKEN.encode(), str(ROW_MARK).encode()):
        assert secret not in wire, secret


def test_a_report_altered_on_the_way_is_dropped_and_the_test_errors(pytester: pytest.Pytester, gate_env: Path) -> None:
    """(c) The relay flips one byte of a worker's sealed report: the master drops it, counts it,
    and the gate gives no verdict (ERROR, one line) on a load it could not fully see."""
    tmp_path = gate_env
    port = closed_port()
    relay = Relay(port, alter=flip_first_sealed_report())
    with ScoringServer(delays_s=(0.001,)) as server:
        worker = _worker(relay.port, tmp_path / "worker.log", TOKEN)
        with _processes(worker):
            started = time.monotonic()
            run = _gate(pytester, server, port)
            worker.wait(30)
        relay.close()
    run.assert_outcomes(errors=1)
    run.stdout.fnmatch_lines(
        ["*1 reports from an unauthenticated worker were dropped (a worker without the master's AKSLOAD_WORKER_TOKEN,"
         " or reports altered on the way): no verdict on a load the gate could not fully see*"]
    )  # fmt: skip
    assert time.monotonic() - started < 90


def test_a_header_refresh_reaches_a_remote_worker_sealed(tmp_path: Path) -> None:
    """A refreshed token (a headers line on the master's stdin, as the runner writes it) reaches the
    worker, which uses it from then on, and crosses the relay only sealed."""
    port, refreshed = closed_port(), "refreshed-TOKEN-0123456789-abcdefghij"
    relay = Relay(port)
    rows = tmp_path / "rows.json"
    rows.write_text(protocol.encode_rows_file(protocol.SampleRows([{"x": ROW_MARK}])))
    with ScoringServer(delays_s=(0.002,)) as server:
        settings = protocol.RunSettings(
            scoring_uri=server.url, rows_file=str(rows), result_file=str(tmp_path / "result.json"), run_time_s=6.0
        )
        env = child_environment(settings, {"Authorization": f"Bearer {KEY}"}, tmp_path, worker_token=TOKEN)
        argv = [
            sys.executable, "-m", "locust", "-f", f"{protocol.RECORDER_PATH},{protocol.DEFAULT_LOCUSTFILE_PATH}",
            "--headless", "--host", server.host, "--users", "2", "--spawn-rate", "20", "--stop-timeout", "3",
            "--only-summary", "--loglevel", "WARNING", "--master", "--expect-workers", "1",
            "--expect-workers-max-wait", "60", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        ]  # fmt: skip
        master = subprocess.Popen(argv, cwd=tmp_path, env=env, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        worker = _worker(relay.port, tmp_path / "worker.log", TOKEN)
        with _processes(master, worker):
            deadline = time.monotonic() + 60
            while not server.scoring_requests() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)
            assert master.stdin is not None
            master.stdin.write(protocol.encode_headers_line({"Authorization": f"Bearer {refreshed}"}))
            master.stdin.flush()
            _, stderr = master.communicate(timeout=60)
            worker.wait(30)
        relay.close()
        seen = [r.authorization for r in server.scoring_requests()]
    assert master.returncode == 0, stderr.decode()[-2000:]
    assert f"Bearer {KEY}" in seen and seen[-1] == f"Bearer {refreshed}"
    assert LoadResult.from_file(tmp_path / "result.json").generator["rejected_reports"] == 0
    assert b"aksload_headers" in relay.to_worker
    wire = bytes(relay.to_master) + bytes(relay.to_worker)
    for secret in (KEY.encode(), refreshed.encode(), TOKEN.encode()):
        assert secret not in wire, secret
