"""The worker token's handshake and envelopes (`worker_auth`): who may join, and what opens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_aksload import worker_auth
from pytest_aksload.config.settings import resolve
from pytest_aksload.verdicts.health import rejected_reports_problem
from pytest_aksload.worker_auth import AuthError, Channel, MasterAuth, WorkerHandshake

TOKEN = "t" * 20 + "-worker-token-0123456789"
OTHER = "o" * 20 + "-worker-token-0123456789"


def _join(master: MasterAuth, token: str = TOKEN, worker_id: str = "w1") -> tuple[Channel, Channel]:
    """(the master's channel, the worker's) after a complete handshake."""
    worker = WorkerHandshake(token, worker_id)
    proof, worker_channel = worker.answer(master.challenge(worker_id, worker.hello()))
    return master.verify(worker_id, proof), worker_channel


def test_a_worker_with_the_token_joins_and_both_directions_open() -> None:
    master_side, worker_side = _join(MasterAuth(TOKEN))
    assert worker_side.open("config", master_side.seal("config", b"the run")) == b"the run"
    assert master_side.open("report", worker_side.seal("report", b"delta 1")) == b"delta 1"
    assert master_side.open("final", worker_side.seal("final", b"delta 2")) == b"delta 2"


def test_the_token_never_travels_and_the_proof_differs_per_handshake() -> None:
    master = MasterAuth(TOKEN)
    messages: list[Any] = []
    proofs = []
    for worker_id in ("w1", "w1"):
        worker = WorkerHandshake(TOKEN, worker_id)
        hello = worker.hello()
        challenge = master.challenge(worker_id, hello)
        proof, _channel = worker.answer(challenge)
        master.verify(worker_id, proof)
        messages += [hello, challenge, proof]
        proofs.append(proof["proof"])
    wire = repr(messages).encode()
    assert TOKEN.encode() not in wire and TOKEN[:16].encode() not in wire
    assert proofs[0] != proofs[1]  # fresh nonces: a recorded proof is no good later


def test_a_wrong_token_is_refused_and_gets_no_channel() -> None:
    master = MasterAuth(TOKEN)
    with pytest.raises(AuthError, match="does not hold this master's worker token"):
        _join(master, token=OTHER)
    assert master.channels == {}


def test_a_proof_is_good_once_and_only_for_its_worker() -> None:
    master = MasterAuth(TOKEN)
    worker = WorkerHandshake(TOKEN, "w1")
    proof, _ = worker.answer(master.challenge("w1", worker.hello()))
    with pytest.raises(AuthError, match="without a challenge"):
        master.verify("w2", proof)  # another connection replaying w1's proof
    master.verify("w1", proof)
    with pytest.raises(AuthError, match="without a challenge"):
        master.verify("w1", proof)


def test_a_replayed_envelope_fails() -> None:
    master_side, worker_side = _join(MasterAuth(TOKEN))
    first = worker_side.seal("report", b"delta")
    master_side.open("report", first)
    with pytest.raises(AuthError, match="replays"):
        master_side.open("report", first)


@pytest.mark.parametrize("position", [0, 5, 13, 20, -1])
def test_any_altered_byte_fails(position: int) -> None:
    master_side, worker_side = _join(MasterAuth(TOKEN))
    sealed = bytearray(worker_side.seal("report", b"x" * 40))
    sealed[position] ^= 0x01
    with pytest.raises(AuthError):
        master_side.open("report", bytes(sealed))


def test_an_envelope_opens_only_in_its_run_for_its_worker_and_kind() -> None:
    run = MasterAuth(TOKEN)
    master_w1, worker_w1 = _join(run, worker_id="w1")
    master_w2, _ = _join(run, worker_id="w2")
    other_run_master, _ = _join(MasterAuth(TOKEN), worker_id="w1")
    report = worker_w1.seal("report", b"delta")
    for wrong in (master_w2, other_run_master):
        with pytest.raises(AuthError, match="failed authentication"):
            wrong.open("report", report)
    with pytest.raises(AuthError, match="failed authentication"):
        master_w1.open("final", report)  # a report passed off as a final delta
    with pytest.raises(AuthError, match="failed authentication"):
        worker_w1.open("report", report)  # reflected back to its sender
    with pytest.raises(AuthError, match="not a sealed envelope"):
        master_w1.open("report", {"all_requests": 10**6})  # a plain, unsealed delta


def test_malformed_handshake_messages_are_one_line_errors() -> None:
    master = MasterAuth(TOKEN)
    with pytest.raises(AuthError, match="protocol 2"):
        master.challenge("w1", {"v": 2, "nonce": b"n" * 32})
    with pytest.raises(AuthError, match="nonce must be 32 bytes"):
        master.challenge("w1", {"v": 1, "nonce": "short"})
    with pytest.raises(AuthError, match="salt must be 32 bytes"):
        WorkerHandshake(TOKEN, "w1").answer({"v": 1, "salt": None, "nonce": b"n" * 32})


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (None, "environment variable AKSLOAD_WORKER_TOKEN is not set"),
        ("", "environment variable AKSLOAD_WORKER_TOKEN is not set"),
        ("short-token", "AKSLOAD_WORKER_TOKEN has 11 characters; it needs at least 32"),
        ("a-good-token-of-forty-characters-0123456", None),
    ],
)
def test_token_problems(token: str | None, problem: str | None) -> None:
    assert worker_auth.token_problem(token) == problem


def test_importing_it_loads_no_cryptography() -> None:
    """A session without workers never loads `cryptography` (the pytest process never does)."""
    code = "import sys, pytest_aksload.worker_auth, pytest_aksload.plugin; print('cryptography' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_dropped_reports_make_one_line_for_the_error() -> None:
    class Result:
        generator: dict[str, Any] = {"rejected_reports": 3}

    assert rejected_reports_problem(Result()) == (  # type: ignore[arg-type]
        "3 reports from an unauthenticated worker were dropped (a worker without the master's "
        "AKSLOAD_WORKER_TOKEN, or reports altered on the way): no verdict on a load the gate could not fully see"
    )
    Result.generator = {"rejected_reports": 0}
    assert rejected_reports_problem(Result()) is None  # type: ignore[arg-type]


class _Config:
    """What `settings.resolve` reads of a pytest config: the command line only."""

    def __init__(self, cli: dict[str, str]) -> None:
        self._cli = cli
        self.rootpath = Path.cwd()

    def getoption(self, name: str, default: Any = None) -> Any:
        return self._cli.get(name, default)

    def getini(self, name: str) -> str:
        return ""

    def issue_config_time_warning(self, warning: Warning, stacklevel: int) -> None:
        raise AssertionError(warning)


REMOTE = {"aks_scoring_uri": "http://10.0.0.9:5001/score", "aks_expect_workers": "2"}


@pytest.mark.parametrize("bind", ["0.0.0.0:5557", "10.0.0.4:5557", "127.0.0.1:5557"])
@pytest.mark.parametrize("token", [None, "short"])
def test_a_master_for_remote_workers_without_a_good_token_is_a_usage_error(bind: str, token: str | None) -> None:
    """Checked as the session's settings resolve: before any master exists, let alone binds."""
    environ = {} if token is None else {"AKSLOAD_WORKER_TOKEN": token}
    with pytest.raises(pytest.UsageError) as raised:
        resolve(_Config({**REMOTE, "aks_master_bind": bind}), environ=environ)  # type: ignore[arg-type]
    message = str(raised.value)
    assert "\n" not in message and message.startswith("--aks-expect-workers: ")
    assert "AKSLOAD_WORKER_TOKEN" in message and "secrets.token_urlsafe(32)" in message


def test_a_master_for_remote_workers_with_a_token_resolves() -> None:
    settings = resolve(
        _Config({**REMOTE, "aks_master_bind": "0.0.0.0:5557"}),  # type: ignore[arg-type]
        environ={"AKSLOAD_WORKER_TOKEN": TOKEN},
    )
    assert settings.aks_master_bind == ("0.0.0.0", 5557)
