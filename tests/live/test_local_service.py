"""The embedded local service against the real azmlinfsrv: scoring, auth, errors, isolation, lifecycle.

One server serves the whole module (start-up is the slow part); tests that need their own
process (stop, parent death, CLI) start a separate one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pytest_aksload.config.local_endpoint import LocalServiceSettings
from pytest_aksload.data import criteo
from pytest_aksload.local import LocalService, LocalServiceError
from pytest_aksload.local.service import MODEL_DIR

psutil = pytest.importorskip("psutil")
requests = pytest.importorskip("requests")
pytest.importorskip("azureml_inference_server_http")
lgb = pytest.importorskip("lightgbm")

KEY = "test-key-9f3a1c7e5b2d4a60b8c1e2f3a4b5c6d7"
START_SECONDS: dict[str, float] = {}


@pytest.fixture(scope="module")
def service() -> Iterator[LocalService]:
    svc = LocalService(key=KEY)
    started = time.monotonic()
    svc.start(timeout=60)
    START_SECONDS["module"] = time.monotonic() - started
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return criteo.payloads(criteo.load_sample(nrows=50))


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def tree_pids(pid: int) -> list[int]:
    process = psutil.Process(pid)
    return [pid] + [child.pid for child in process.children(recursive=True)]


def alive(pids: list[int]) -> list[int]:
    """The pids still running (a zombie has exited; only its parent's reaping is pending)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


# -- scoring ----------------------------------------------------------------------------------


def test_starts_quickly(service: LocalService) -> None:
    print(f"local service started in {START_SECONDS['module']:.2f} s")
    assert START_SECONDS["module"] < 30  # ~1 s here; generous for slow CI machines


def test_scores_one_row(service: LocalService, rows: list[dict[str, object]]) -> None:
    response = requests.post(service.scoring_uri, json=rows[0], headers=auth(), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    result = response.json()["result"]
    assert isinstance(result, float) and 0.0 <= result <= 1.0


@pytest.mark.parametrize("wrap", [lambda rs: rs, lambda rs: {"data": rs}], ids=["list", "data"])
def test_scores_a_batch(service: LocalService, rows: list[dict[str, object]], wrap) -> None:
    response = requests.post(service.scoring_uri, json=wrap(rows[:10]), headers=auth(), timeout=10)
    assert response.status_code == 200, response.text
    batch = response.json()["result"]
    assert len(batch) == 10 and all(0.0 <= p <= 1.0 for p in batch)
    one = requests.post(service.scoring_uri, json=rows[3], headers=auth(), timeout=10).json()["result"]
    assert batch[3] == pytest.approx(one, abs=1e-12)


def test_scores_equal_the_model_on_pandas_categoricals(service: LocalService, rows: list[dict[str, object]]) -> None:
    # score.py codes categories itself for speed; it must agree with LightGBM's pandas path.
    from pytest_aksload.local import train

    booster = lgb.Booster(model_file=str(MODEL_DIR / "model.txt"))
    vocab = dict(zip(criteo.CAT_COLUMNS, booster.pandas_categorical, strict=True))
    frame = criteo.load_sample(nrows=len(rows))
    frame.loc[0, "cat00"] = "never-seen"  # unseen category = missing, on both paths
    body = criteo.payloads(frame)
    expected = booster.predict(train.features(frame, vocab))
    served = requests.post(service.scoring_uri, json=body, headers=auth(), timeout=10).json()["result"]
    assert served == pytest.approx(list(expected), abs=1e-12)
    assert len(set(served)) > 10  # the model discriminates, it does not return a constant


def test_without_deployments_the_deployment_header_changes_nothing(
    service: LocalService, rows: list[dict[str, object]]
) -> None:
    # One unnamed deployment, as before --aks-local-deployments existed: any name is served, none is named.
    plain = requests.post(service.scoring_uri, json=rows[0], headers=auth(), timeout=10)
    named = requests.post(
        service.scoring_uri, json=rows[0], headers={**auth(), "azureml-model-deployment": "green"}, timeout=10
    )
    assert plain.status_code == named.status_code == 200
    assert plain.json() == named.json()
    assert "azureml-model-deployment" not in plain.headers and "azureml-model-deployment" not in named.headers


def test_without_a_ceiling_nothing_stands_before_the_workers(
    service: LocalService, rows: list[dict[str, object]]
) -> None:
    # Today's behaviour: no front process, no 429 however many requests are in flight, no front's path.
    assert service.settings.front is False
    assert len(tree_pids(service.pid)) == 2  # the master and its one worker
    with ThreadPoolExecutor(16) as pool:
        statuses = list(
            pool.map(
                lambda row: requests.post(service.scoring_uri, json=row, headers=auth(), timeout=30).status_code,
                rows[:32],
            )
        )
    assert statuses == [200] * 32
    assert requests.get(f"http://127.0.0.1:{service.port}/aksload/front", timeout=10).status_code == 404


# -- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        auth("wrong-key"),
        auth(KEY[:-1]),
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "wrong", "prefix", "no-scheme", "basic", "empty-bearer"],
)
def test_rejects_missing_or_wrong_key(service: LocalService, rows: list[dict[str, object]], headers) -> None:
    response = requests.post(service.scoring_uri, json=rows[0], headers=headers, timeout=10)
    assert response.status_code == 401
    assert "Bearer" in response.json()["message"]
    assert response.headers.get("WWW-Authenticate") == "Bearer"
    assert KEY not in response.text


def test_get_is_not_scoring(service: LocalService) -> None:
    assert requests.get(service.scoring_uri, timeout=10).status_code == 401
    response = requests.get(service.scoring_uri, headers=auth(), timeout=10)
    assert response.status_code == 405
    assert "POST" in response.json()["message"]


def test_swagger_answers(service: LocalService) -> None:
    response = requests.get(service.swagger_uri, timeout=10)
    assert response.status_code == 200 and "swagger" in response.json()


# -- bad requests -----------------------------------------------------------------------------


def _row_with(rows: list[dict[str, object]], **changes: object) -> dict[str, object]:
    return {**rows[0], **changes}


def _row_without(rows: list[dict[str, object]], *names: str) -> dict[str, object]:
    return {k: v for k, v in rows[0].items() if k not in names}


BAD = {
    "malformed-json": (lambda rs: b'{"int00": 1,', "not valid JSON"),
    "empty-body": (lambda rs: b"", "empty"),
    "not-utf8": (lambda rs: b'{"cat00": "\xff"}', "not valid JSON"),
    "scalar": (lambda rs: b"42", "got number"),
    "empty-list": (lambda rs: b"[]", "no rows"),
    "data-not-list": (lambda rs: b'{"data": 3}', "'data' must be a list"),
    "row-not-object": (lambda rs: json.dumps([rs[0], "x"]).encode(), "row 1: expected an object"),
    "missing-one": (lambda rs: json.dumps(_row_without(rs, "int03")).encode(), "missing feature columns: int03"),
    "missing-many": (
        lambda rs: json.dumps(_row_without(rs, *criteo.CAT_COLUMNS)).encode(),
        "missing feature columns: cat00, cat01, cat02, cat03, cat04 and 21 more",
    ),
    "string-in-int": (
        lambda rs: json.dumps(_row_with(rs, int02="7")).encode(),
        'int02 must be a number or null, got string "7"',
    ),
    "bool-in-int": (lambda rs: json.dumps(_row_with(rs, int05=True)).encode(), "int05 must be a number"),
    "number-in-cat": (
        lambda rs: json.dumps(_row_with(rs, cat05=5)).encode(),
        "cat05 must be a string or null, got number",
    ),
    "list-in-cat": (
        lambda rs: json.dumps(_row_with(rs, cat07=["a"])).encode(),
        "cat07 must be a string or null, got array",
    ),
    "too-deep": (lambda rs: b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "infinite": (lambda rs: json.dumps(_row_with(rs, int04=float("inf"))).encode(), "int04 must be finite"),
    "bad-row-in-batch": (
        lambda rs: json.dumps({"data": [rs[0], rs[1], _row_with(rs, cat11=1.5)]}).encode(),
        "row 2: cat11 must be a string or null",
    ),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_request_is_400_naming_the_problem(service: LocalService, rows: list[dict[str, object]], name: str) -> None:
    make_body, fragment = BAD[name]
    response = requests.post(
        service.scoring_uri,
        data=make_body(rows),
        headers={**auth(), "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]


def test_missing_values_and_extra_keys_are_fine(service: LocalService, rows: list[dict[str, object]]) -> None:
    body = {**dict.fromkeys(criteo.FEATURE_COLUMNS), "label": 1, "int01": 3.0}
    response = requests.post(service.scoring_uri, json=body, headers=auth(), timeout=10)
    assert response.status_code == 200, response.text


# -- isolation --------------------------------------------------------------------------------


def test_listens_on_loopback_only(service: LocalService) -> None:
    listening = [
        (pid, conn.laddr)
        for pid in tree_pids(service.pid)
        for conn in psutil.Process(pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    ]
    assert listening, "the server listens nowhere?"
    assert {addr.ip for _pid, addr in listening} == {"127.0.0.1"}, listening
    assert {addr.port for _pid, addr in listening} == {service.port}, listening


def test_not_reachable_on_other_addresses(service: LocalService) -> None:
    addresses = [
        addr.address
        for addrs in psutil.net_if_addrs().values()
        for addr in addrs
        if addr.family == socket.AF_INET and not addr.address.startswith("127.")
    ]
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address")
    for address in addresses:
        with pytest.raises(OSError):
            socket.create_connection((address, service.port), timeout=2).close()


def test_key_stays_out_of_logs_and_argv(service: LocalService, rows: list[dict[str, object]]) -> None:
    requests.post(service.scoring_uri, json=rows[0], headers=auth(), timeout=10)
    requests.post(service.scoring_uri, json=rows[0], headers=auth(KEY + "x"), timeout=10)
    requests.post(service.scoring_uri, data=b"{", headers=auth(), timeout=10)
    log = service.log_path.read_text(encoding="utf-8", errors="replace")
    assert "POST /score" in log  # the log is really there and written
    assert KEY not in log
    for pid in tree_pids(service.pid):
        assert KEY not in " ".join(psutil.Process(pid).cmdline())
    assert KEY not in repr(service) and KEY not in str(service)
    # The server runs out of a private temp dir, not the user's cwd.
    assert psutil.Process(service.pid).cwd() == str(service.log_path.parent)
    assert Path(os.getcwd()) != service.log_path.parent


# -- lifecycle --------------------------------------------------------------------------------


FRONTED = LocalServiceSettings(max_concurrent=1)


@pytest.mark.parametrize("settings", [None, FRONTED], ids=["plain", "front"])
def test_stop_ends_the_whole_process_tree(settings: LocalServiceSettings | None) -> None:
    svc = LocalService(workers=2, settings=settings)
    svc.start()
    pids = tree_pids(svc.pid)
    workdir = svc.log_path.parent
    assert len(pids) == (4 if settings else 3)  # master + 2 workers (+ the front)
    started = time.monotonic()
    svc.stop()
    assert time.monotonic() - started < 10
    assert alive(pids) == []
    assert not workdir.exists()
    svc.stop()  # idempotent


def test_start_failure_raises_and_leaves_nothing() -> None:
    svc = LocalService()
    with pytest.raises(LocalServiceError, match="did not score a request within"):
        svc.start(timeout=0.05)
    assert not svc.running
    with pytest.raises(LocalServiceError, match="not started"):
        svc.pid  # noqa: B018


@pytest.mark.parametrize("max_concurrent", [None, 1], ids=["plain", "front"])
def test_server_dies_with_its_parent(tmp_path: Path, max_concurrent: int | None) -> None:
    starter = textwrap.dedent(
        f"""
        import json, sys, time
        from pytest_aksload.local import LocalService
        from pytest_aksload.config.local_endpoint import LocalServiceSettings
        svc = LocalService(settings=LocalServiceSettings(max_concurrent={max_concurrent}))
        svc.start()
        print(json.dumps({{"pid": svc.pid, "port": svc.port, "workdir": str(svc.log_path.parent)}}), flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        info = json.loads(parent.stdout.readline())
        pids = tree_pids(info["pid"])
        assert len(pids) == (3 if max_concurrent else 2)  # master, worker (, front)
    finally:
        parent.kill()  # SIGKILL: the starter gets no chance to clean up
        parent.wait()
    assert wait_gone(pids, timeout=10) == [], "the server outlived its parent"
    deadline = time.monotonic() + 5
    while Path(info["workdir"]).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(info["workdir"]).exists()
    assert list(tmp_path.iterdir()) == []  # nothing written to the starter's cwd


# -- CLI ----------------------------------------------------------------------------------------


def _serve(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_aksload.local", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if "Stop with Ctrl-C" in line:
            return process, lines
    process.wait(10)
    pytest.fail("aksload-local serve did not start:\n" + "".join(lines))


def _stop_cli(process: subprocess.Popen[str], server_pid: int) -> str:
    pids = tree_pids(server_pid)
    process.send_signal(signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, out
    assert wait_gone(pids, timeout=5) == []
    return out


def test_cli_serve_with_key_from_env(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    process, lines = _serve(tmp_path, {**os.environ, "AKSLOAD_KEY": KEY})
    try:
        text = "".join(lines)
        assert KEY not in text  # a key the user chose is never printed
        uri = next(word for word in text.split() if word.startswith("http://127.0.0.1:"))
        server_pid = int(text.split("server pid ")[1].split(",")[0])
        assert requests.post(uri, json=rows[0], headers=auth(), timeout=10).status_code == 200
        assert requests.post(uri, json=rows[0], timeout=10).status_code == 401
    except BaseException:
        process.kill()
        raise
    out = _stop_cli(process, server_pid)
    assert "stopping" in out
    assert list(tmp_path.iterdir()) == []


def test_cli_serve_generates_a_throwaway_key(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    env = {name: value for name, value in os.environ.items() if name not in ("AKSLOAD_KEY", "AKS_KEY")}
    process, lines = _serve(tmp_path, env)
    try:
        text = "".join(lines)
        key = text.split("export AKSLOAD_KEY=")[1].split()[0]
        uri = next(word for word in text.split() if word.startswith("http://127.0.0.1:"))
        server_pid = int(text.split("server pid ")[1].split(",")[0])
        assert requests.post(uri, json=rows[0], headers=auth(key), timeout=10).status_code == 200
    except BaseException:
        process.kill()
        raise
    _stop_cli(process, server_pid)


def test_cli_serve_hosts_deployments(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    env = {**os.environ, "AKS_KEY": KEY}  # its earlier name, still read this release
    process, lines = _serve(tmp_path, env, "--deployments", "blue=shipped,green=shipped+40ms")
    try:
        text = "".join(lines)
        assert "2 workers" in text
        assert "Deployment blue: the shipped model (takes requests without the header)" in text
        assert "Deployment green: the shipped model, +40 ms per request" in text
        uri = next(word for word in text.split() if word.startswith("http://127.0.0.1:"))
        server_pid = int(text.split("server pid ")[1].split(",")[0])
        for sent, answered_by in (("green", "green"), (None, "blue")):
            headers = {**auth(), "azureml-model-deployment": sent} if sent else auth()
            response = requests.post(uri, json=rows[0], headers=headers, timeout=10)
            assert (response.status_code, response.headers["azureml-model-deployment"]) == (200, answered_by)
    except BaseException:
        process.kill()
        raise
    _stop_cli(process, server_pid)


def test_cli_serve_as_a_managed_online_deployment(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    env = {**os.environ, "AKSLOAD_KEY": KEY}
    process, lines = _serve(tmp_path, env, "--instances", "2", "--max-concurrent", "1", "--request-timeout", "2s")
    try:
        text = "".join(lines)
        assert "2 workers" in text
        assert "429 above 4 requests in flight (2 × max_concurrent 1 × 2 instances); 408 after 2 s." in text
        uri = next(word for word in text.split() if word.startswith("http://127.0.0.1:"))
        server_pid = int(text.split("server pid ")[1].split(",")[0])
        assert requests.post(uri, json=rows[0], headers=auth(), timeout=10).status_code == 200
        state = requests.get(uri.replace("/score", "/aksload/front"), timeout=10).json()
        assert (state["ceiling"], state["request_timeout_s"]) == (4, 2.0)
    except BaseException:
        process.kill()
        raise
    _stop_cli(process, server_pid)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required: COMMAND"),
        (["serve", "--instances", "0"], "argument --instances: instances must be a whole number >= 1, got 0"),
        (["serve", "--max-concurrent", "x"], "argument --max-concurrent: not a number of concurrent requests: 'x'"),
        (["serve", "--request-timeout", "4m"], "argument --request-timeout: cannot use '4m'; expected a duration > 0"),
        (["serve", "--deployments", "blue=shipped b=shipped"], "argument --deployments: 'b' is not a deployment name"),
        (["serve", "--deployments", "blue=nope.txt"], "model of deployment 'blue': no file 'nope.txt'"),
        (["serve", "--port", "0"], "port must be from 1 to 65535"),
        (["serve", "--workers", "many"], "not a number of workers"),
        (["bogus"], "invalid choice"),
    ],
)
def test_cli_bad_arguments_are_one_line(argv: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest_aksload.local", *argv], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
