"""The embedded local scoring service: the real Azure ML inference server on 127.0.0.1.

`LocalService` runs ``azmlinfsrv`` (package azureml-inference-server-http, the server inside
Azure ML deployment containers) as a child process with this package's ``score.py`` and the
LightGBM Criteo model in ``model/``. It needs no pytest and no Azure account::

    with LocalService() as service:
        requests.post(service.scoring_uri, json=row, headers={"Authorization": f"Bearer {service.key}"})

Guarantees, each with a reason:

- loopback only: the server would bind 0.0.0.0; ``gunicorn_conf.py`` re-binds it to 127.0.0.1
  (see there for how), so a load test never exposes a model to the network;
- with `deployments` (``--aks-local-deployments``), one server hosts several deployments behind
  one endpoint and ``score.py`` routes each request by its ``azureml-model-deployment`` header,
  as an Azure ML managed online endpoint does (see there);
- `settings` (`LocalServiceSettings`: ``--aks-local-instances``, ``--aks-local-max-concurrent``,
  ``--aks-local-request-timeout``) are a managed online deployment's: one worker process per
  instance (per deployment), and with a ceiling or a timeout a front (``front.py``) answers 429
  above ``2 × max_concurrent × instances`` requests in flight and 408 at the timeout;
- the key travels in the server's environment only (never argv, disk or logs) and ``repr``
  hides it;
- the server runs in its own process group with its cwd and log file in a private temp dir, so
  it neither pollutes the user's tree nor gets the terminal's Ctrl-C; ``stop()`` ends the whole
  group, and a watchdog in the server ends the group within ~0.3 s of the death of the process
  that started it, even by SIGKILL (``gunicorn_conf.py``; its workers also die with the server's
  master, ``pytest_aksload.lifeline``).

This module imports only the standard library (and ``lifeline``, which does too); the server's
dependencies load in the child.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from types import TracebackType

from pytest_aksload import lifeline
from pytest_aksload.config.local_deployments import LocalDeployment, check_names
from pytest_aksload.config.local_endpoint import LocalServiceSettings
from pytest_aksload.redact import REDACTED

HOST = "127.0.0.1"
PACKAGE_DIR = Path(__file__).resolve().parent
SCORE_SCRIPT = PACKAGE_DIR / "score.py"
MODEL_DIR = PACKAGE_DIR / "model"
GUNICORN_CONF = PACKAGE_DIR / "gunicorn_conf.py"
MODEL_NAME = "criteo-lightgbm"
MODEL_VERSION = "1"
KEY_ENV = "AKSLOAD_SERVER_KEY"  # read by score.py
DEPLOYMENTS_ENV = "AKSLOAD_SERVER_DEPLOYMENTS"  # read by score.py: JSON list of LocalDeployment fields
WORKDIR_ENV = "AKSLOAD_SERVER_WORKDIR"  # read by gunicorn_conf.py
FRONT_ENV = "AKSLOAD_SERVER_FRONT"  # read by gunicorn_conf.py and front.py: JSON, front.FrontConfig's fields
FRONT_STATE_PATH = "/aksload/front"  # the front's own answer: its counts
LOG_NAME = "server.log"
# Lines gunicorn_conf.py logs once the sockets exist / once a worker has loaded score.py.
BOUND_LOG_MARK = "aksload: bound"
WORKER_READY_LOG_MARK = "aksload: worker "

# Variables azmlinfsrv, its config and gunicorn read: a user's shell (or an Azure ML
# container) may set them, and they would change what, where or how this server serves.
_SERVER_ENV_PREFIXES = ("AZUREML_", "AML_", "GUNICORN_")
_SERVER_ENV_NAMES = frozenset(
    {
        "SERVER_PORT",
        "HEALTH_PORT",
        "SEPERATE_HEALTH_ENDPOINT",
        "WORKER_COUNT",
        "WORKER_TIMEOUT",
        "WORKER_PRELOAD",
        "SCORING_TIMEOUT_MS",
        "SERVICE_NAME",
        "SERVICE_PATH_PREFIX",
        "SERVICE_VERSION",
        "WORKSPACE_NAME",
        "TRANSPORT_PROTOCOL",
        "HTTP_X_MS_SERVER_VERSION",
        "SERVER_VERSION_LOG_RESPONSE_ENABLED",
        "PORT",
        "AKS_KEY",  # the user's real endpoint key has no business in this server (its earlier name)
        "AKSLOAD_KEY",
        DEPLOYMENTS_ENV,  # set only from `deployments`, never inherited
        FRONT_ENV,  # set only from `settings`
    }
)
_REQUIRED_MODULES = ("azureml_inference_server_http", "lightgbm")


class LocalServiceError(RuntimeError):
    """The local service could not start or stopped unexpectedly; the message ends with its log tail."""


class LocalService:
    """The Criteo LightGBM model served by azmlinfsrv on 127.0.0.1, with AKS-style key auth.

    `port` None picks a free loopback port; `key` None generates a random one (read it from
    `key`). `deployments` (none: one deployment of the shipped model, as before) are hosted
    behind the one scoring URI and chosen by the ``azureml-model-deployment`` header; the first
    takes requests without it. `settings` are the deployments' instances, ceiling and timeout;
    `workers` None runs one worker process per instance of each deployment (requests are not
    pinned to workers: any worker scores for any deployment). Use as a context manager, or call
    `start()` and `stop()`.
    """

    def __init__(
        self,
        port: int | None = None,
        key: str | None = None,
        workers: int | None = None,
        deployments: Sequence[LocalDeployment] = (),
        settings: LocalServiceSettings | None = None,
    ) -> None:
        settings = LocalServiceSettings() if settings is None else settings
        if workers is None:
            workers = settings.instances * max(1, len(deployments))
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
            raise ValueError(f"port must be an integer from 1 to 65535 or None, got {port!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        # An HTTP header value: printable ASCII without spaces.
        if key is not None and not (
            isinstance(key, str) and key and key.isascii() and key.isprintable() and " " not in key
        ):
            # Never echo the key itself, even a malformed one.
            raise ValueError("key must be a non-empty string of printable ASCII characters without spaces")
        check_names(deployments)  # LocalDeploymentError (a ValueError) naming the bad one
        for deployment in deployments:
            if deployment.model is not None and not Path(deployment.model).is_file():
                raise ValueError(f"model of deployment {deployment.name!r}: no file {deployment.model!r}")
        self._requested_port = port
        self._deployments = tuple(deployments)
        self._key = key if key is not None else secrets.token_urlsafe(32)
        self._workers = workers
        self._settings = settings
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._finalizer: weakref.finalize | None = None

    # -- properties ---------------------------------------------------------------------------

    @property
    def key(self) -> str:
        return self._key

    @property
    def port(self) -> int:
        if self._port is None:
            raise LocalServiceError("the local service is not started")
        return self._port

    @property
    def pid(self) -> int:
        """Pid of the server's master process (also its process group id)."""
        if self._process is None:
            raise LocalServiceError("the local service is not started")
        return self._process.pid

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def deployments(self) -> tuple[LocalDeployment, ...]:
        return self._deployments

    @property
    def settings(self) -> LocalServiceSettings:
        return self._settings

    @property
    def scoring_uri(self) -> str:
        return f"http://{HOST}:{self.port}/score"

    @property
    def swagger_uri(self) -> str:
        return f"http://{HOST}:{self.port}/swagger.json"

    @property
    def log_path(self) -> Path:
        """The server's log (stdout and stderr); deleted by `stop()`."""
        if self._workdir is None:
            raise LocalServiceError("the local service is not started")
        return self._workdir / LOG_NAME

    @property
    def running(self) -> bool:
        return self._process is not None and not _exited(self._process)

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the server log ('' when there is none)."""
        if self._workdir is None:
            return ""
        return _tail(self._workdir / LOG_NAME, lines)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Launch the server and return once it has scored a real, authenticated request.

        Raises `LocalServiceError` (with the end of the server log) if the server exits or is
        not ready within `timeout` seconds; nothing is left running then.
        """
        if self._process is not None:
            raise LocalServiceError("the local service is already started")
        if os.name != "posix":
            raise LocalServiceError("the local service runs on Linux and macOS only (it uses process groups)")
        missing = [name for name in _REQUIRED_MODULES if importlib.util.find_spec(name) is None]
        if missing:
            raise LocalServiceError(
                f"the local service needs {', '.join(missing)}: pip install 'pytest-aksload[local]'"
            )
        deadline = time.monotonic() + timeout
        # A port picked free can be taken by someone else before the server binds it: pick again.
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(attempts):
            self._launch(self._requested_port or _free_port())
            try:
                self._wait_ready(deadline)
                return
            except LocalServiceError as exc:
                port = self.port
                port_taken = "Connection in use" in self.log_tail(200)  # gunicorn's words
                self.stop()
                if port_taken and self._requested_port is not None:
                    raise LocalServiceError(
                        f"port {port} on {HOST} is already in use: choose another port, or none for a free one"
                    ) from exc
                if not (port_taken and attempt + 1 < attempts):
                    raise

    def stop(self, timeout: float = 10) -> None:
        """Stop the server's whole process group (SIGTERM, then SIGKILL after `timeout` s).

        Safe to call twice, or when the server already died.
        """
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._process is not None:
            _shutdown(self._process, self._workdir, timeout)
        self._process = None
        self._workdir = None
        self._port = None

    def __enter__(self) -> LocalService:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"scoring_uri={self.scoring_uri!r}, pid={self.pid}" if self.running else "stopped"
        names = f", deployments={[d.name for d in self._deployments]!r}" if self._deployments else ""
        front = ""
        if self._settings.front:
            front = f", ceiling={self._settings.ceiling}, request_timeout_s={self._settings.request_timeout_s:g}"
        return f"LocalService({where}, workers={self._workers}{names}{front}, key={REDACTED!r})"

    __str__ = __repr__

    # -- internals ----------------------------------------------------------------------------

    def _launch(self, port: int) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="aksload-local-"))
        # The layout of an Azure ML container (azureml-models/<name>/<version>), which the
        # server parses for model ids; any other layout makes it log a traceback at boot.
        model_dir = workdir / "azureml-models" / MODEL_NAME / MODEL_VERSION
        model_dir.parent.mkdir(parents=True)
        model_dir.symlink_to(MODEL_DIR, target_is_directory=True)
        command = [
            sys.executable,
            "-m",
            "azureml_inference_server_http",
            "--entry_script",
            str(SCORE_SCRIPT),
            "--model_dir",
            str(model_dir),
            "--port",
            str(port),
            "--worker_count",
            str(self._workers),
        ]
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in _SERVER_ENV_NAMES and not name.startswith(_SERVER_ENV_PREFIXES)
        }
        env.update(
            {
                KEY_ENV: self._key,
                **lifeline.parent_environment(),  # read by gunicorn_conf.py
                WORKDIR_ENV: str(workdir),
                # Gunicorn's documented hook for settings from outside; see gunicorn_conf.py.
                "GUNICORN_CMD_ARGS": f"--config {shlex.quote(str(GUNICORN_CONF))}",
                # Where azmlinfsrv looks for config.json / logging.json: an empty dir, so no stray
                # file in the user's cwd is picked up.
                "AML_APP_ROOT": str(workdir),
                "PYTHONUNBUFFERED": "1",  # log lines reach the file as they happen
            }
        )
        if self._deployments:
            env[DEPLOYMENTS_ENV] = json.dumps([asdict(deployment) for deployment in self._deployments])
        if self._settings.front:
            env[FRONT_ENV] = json.dumps(
                {
                    "timeout_s": self._settings.request_timeout_s,
                    "ceiling": self._settings.ceiling,
                    "ceiling_reason": self._settings.ceiling_reason,
                    "deployments": [deployment.name for deployment in self._deployments],
                }
            )
        with open(workdir / LOG_NAME, "wb") as log:
            self._process = subprocess.Popen(
                command,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: killpg reaches the workers, Ctrl-C does not
                close_fds=True,
            )
        self._workdir = workdir
        self._port = port
        self._finalizer = weakref.finalize(self, _shutdown, self._process, workdir, 5.0)

    def _wait_ready(self, deadline: float) -> None:
        assert self._process is not None
        body = json.dumps(_null_row()).encode()
        headers = {"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"}
        last = "no answer"
        while True:
            if _exited(self._process):
                raise LocalServiceError(
                    f"azmlinfsrv exited with code {_exit_code(self._process)} during start-up; "
                    f"server log ends with:\n{self.log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LocalServiceError(
                    f"azmlinfsrv did not score a request within the start timeout ({last}); "
                    f"server log ends with:\n{self.log_tail()}"
                )
            # Probe only once *our* server holds the port (until then, e.g. with a busy --port,
            # whatever else listens there could answer) and every worker has loaded the model
            # (a load test should not start against half the workers).
            log = self.log_path.read_text(encoding="utf-8", errors="replace")
            workers_port = self._workers_port(log)
            if workers_port is None or log.count(WORKER_READY_LOG_MARK) < self._workers:
                last = "server still booting"
                time.sleep(0.1)
                continue
            try:
                ready, last = self._probe(workers_port, body, headers, timeout=min(remaining, 5.0))
            except OSError as exc:  # not listening yet, or the worker is still booting
                ready, last = False, f"last attempt: {exc.__class__.__name__}"
            if ready:
                return
            time.sleep(0.1)

    def _workers_port(self, log: str) -> int | None:
        """Where the workers listen once the server holds its port: the scoring port, or the port
        behind the front that ``gunicorn_conf.py`` logs; None before."""
        bound_mark = f"{BOUND_LOG_MARK} {HOST}:{self.port}"
        if not self._settings.front:
            return self.port if f"{bound_mark}\n" in log or log.endswith(bound_mark) else None
        found = re.search(rf"{re.escape(bound_mark)} \(front pid \d+; workers on {re.escape(HOST)}:(\d+)\)", log)
        return int(found.group(1)) if found else None

    def _probe(self, workers_port: int, body: bytes, headers: dict[str, str], timeout: float) -> tuple[bool, str]:
        """Whether the workers score a request and the front, if any, answers; else what happened.

        The scoring probe goes to the workers directly: through the front, a deployment slower
        than the request timeout would answer 408 however ready it is.
        """
        status, answer = _request("POST", workers_port, "/score", body, headers, timeout)
        if not (status == 200 and "result" in answer):
            return False, f"last answer: HTTP {status}"
        if workers_port == self.port:
            return True, ""
        status, answer = _request("GET", self.port, FRONT_STATE_PATH, b"", {}, timeout)
        return status == 200 and "in_flight" in answer, f"last answer of the front: HTTP {status}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _null_row() -> dict[str, None]:
    # The smallest valid request: every feature present, all missing.
    spec = json.loads((MODEL_DIR / "features.json").read_text(encoding="utf-8"))
    return dict.fromkeys(spec["int_columns"] + spec["cat_columns"])


def _request(
    method: str, port: int, path: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, dict]:
    # http.client, not urllib/requests: those honour HTTP(S)_PROXY, and a proxy must not sit
    # between us and 127.0.0.1.
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    return response.status, answer if isinstance(answer, dict) else {}


def _exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the server's master has exited, without reaping it.

    An unreaped master keeps its pid, hence its process-group id, reserved; that is what makes
    `killpg` in `_shutdown` safe against hitting an unrelated, newer group.
    """
    if process.returncode is not None:
        return True
    if not hasattr(os, "waitid"):  # some platforms lack it: fall back to reaping
        return process.poll() is not None
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _exit_code(process: subprocess.Popen[bytes]) -> int | None:
    if hasattr(os, "waitid"):
        with contextlib.suppress(ChildProcessError):
            info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None:
                return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
    return process.returncode


def _shutdown(process: subprocess.Popen[bytes], workdir: Path | None, timeout: float) -> None:
    """Terminate the server's process group, escalate to SIGKILL, reap it, delete its temp dir."""
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not _exited(process) and time.monotonic() < deadline:
            time.sleep(0.05)
    # Normally the master is still unreaped here, so the group id is still ours: kill whatever
    # is left (a worker orphaned by a crashed master, or a hung master).
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            return "".join(deque(log, maxlen=lines)).rstrip()
    except OSError:
        return ""
