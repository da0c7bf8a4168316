"""The wire between the pytest process and the Locust child: the one place that defines it.

Both processes import this module (stdlib only, so the pytest process stays free of locust and
gevent): the runner (`pytest_aksload.run.runner`) writes the environment and reads the output
lines and the result file; the child (`pytest_aksload._locust`, `pytest_aksload.child`) reads
the environment and writes them. Every name, line format and default below is used by both
ends, so they cannot disagree.

Command, run in a fresh temporary working directory (`cwd`), in a new process group::

    [sys.executable, "-m", "locust",
     "-f", f"{RECORDER_PATH},{locustfile}",  # recorder first; locustfile = the user's,
                                             # DEFAULT_LOCUSTFILE_PATH or OPEN_MODEL_LOCUSTFILE_PATH
     "--headless",                      # no web UI, start at once
     "--host", target.host,             # scheme://host:port of the scoring URI
     "--users", str(users), "--spawn-rate", str(spawn_rate),
     "--run-time", f"{math.ceil(run_s)}s",   # the whole run; the warm-up is its first part
     "--stop-timeout", str(math.ceil(request_timeout_s) + 1),
     "--exit-code-on-error", "0",
     "--only-summary",
     "--loglevel", "WARNING"]
    (+ "--html", path  when a report directory is configured)

* `-f recorder,locustfile`: Locust merges the files; the recorder defines no User.
* `--run-time` takes whole seconds only (Locust's timespan parser); round up.
* `--stop-timeout`: at the end, users finish the request they have in flight instead of being
  killed. Killing them would drop exactly the slowest requests (a request is in flight at the
  stop in proportion to its latency) and bias p99 low. One request timeout bounds a request;
  the extra second lets one that times out right at the limit be reported before the kill.
  (A user that is waiting between requests is stopped at once, so this rarely costs time.)
* `--exit-code-on-error 0`: failed requests are data, so any non-zero exit means the child
  crashed (1: bad locustfile/arguments/our init, 2: an exception inside a listener or user).
* `--only-summary`: no periodic stats tables on stdout; our progress lines replace them.
* `--loglevel WARNING`: stderr keeps Locust's warnings and tracebacks (shown on a crash),
  not its INFO chatter. Do NOT pass `--skip-log-setup`: the root logger would then hold only
  the recorder's warning capture, and Locust's warnings and tracebacks would reach no stream.
* Never `--json`: it moves Locust's summary to stdout as one large JSON document.

Environment: the parent's, minus every `LOCUST_*` variable (Locust reads its options from them)
and with `HOME` (and `USERPROFILE` on Windows) pointing at the temporary working directory,
because Locust also reads `~/.locust.conf` and `./locust.conf`/`./pyproject.toml`. Plus
`RunSettings.to_env()` (none of it secret; `RunSettings.from_env` reads it back) and the one
secret variable:

=============================  ================================================================
`AKSLOAD_SCORING_URI`          full scoring URI (`child.scoring_path()` is its path + query)
`AKSLOAD_AUTH_HEADERS`         JSON object of request headers. SECRET: only ever in this env
                               var (`encode_auth_headers`), never in `RunSettings`; never
                               printed, logged or written by the child; masked (`***`) in
                               failure messages and captured warnings
`AKSLOAD_ROWS_FILE`            JSON file (`encode_rows_file`): `{"rows": [...], "expected": [...] |
                               null, "labels": [...] | null}`: the raw sample rows (objects; the
                               child encodes them once with the contract) and, aligned with them,
                               the expected prediction and the label of each (null: unknown)
`AKSLOAD_CONTRACT`             contract spec (default `DEFAULT_CONTRACT`): a built-in name,
                               `module:Name` or an ABSOLUTE `/path/file.py:Name`
`AKSLOAD_BATCH`                int, default 1: rows per request
`AKSLOAD_TOLERANCE`            float, default `DEFAULT_TOLERANCE`: absolute tolerance of a prediction
`AKSLOAD_DEPLOYMENT`           optional --aml-deployment name: an answer whose
                               `azureml-model-deployment` header names another one is a `routing` failure
`AKSLOAD_AGAINST_URI`          optional: side by side (--aks-against, --aks-against-uri, against=), the
                               other side's full scoring URI; the packaged users then send every batch
                               to both sides, one after the other in random order (`child.RequestPlan`)
`AKSLOAD_AGAINST_DEPLOYMENT`   optional: the other side's deployment (its `azureml-model-deployment`
                               request header, and the routing check of its answers)
`AKSLOAD_AGAINST_AUTH_HEADERS` optional, SECRET like `AKSLOAD_AUTH_HEADERS`: the other side's own
                               headers (--aks-against-uri with ini aks_against_key_env); unset, it
                               uses the target's (refreshed ones too), minus its deployment header
`AKSLOAD_OBJECTIVES`           optional JSON list of the test's objectives (canonical texts), side by
                               side only: the recorder judges them at each look
                               (`stats.sequential.LookSchedule`) and ends the run once decided
`AKSLOAD_RESULT_FILE`          where the recorder writes the result JSON at quit (atomically:
                               temp file in the same directory + `os.replace`)
`AKSLOAD_WARMUP_S`             float, default 0: requests that START before
                               `started_at + warmup` are left out of totals, endpoints and
                               errors, but are in the windows
`AKSLOAD_WINDOW_S`             float, default `DEFAULT_WINDOW_S`: timeline window length
`AKSLOAD_REQUEST_TIMEOUT_S`    float, default `DEFAULT_REQUEST_TIMEOUT_S`: FastHttpUser
                               connection and network timeout
`AKSLOAD_WAIT_MIN_S/_MAX_S`    floats, default `DEFAULT_WAIT_S`: `wait_time = between(min, max)`
`AKSLOAD_PROGRESS_S`           float, default `DEFAULT_PROGRESS_S`: interval of progress lines
`AKSLOAD_CA_BUNDLE`            optional PEM file of CAs to trust for https (--aks-ca-bundle);
                               `child.ssl_context_factory` reads it
`AKSLOAD_RATE`                 open model (marker rate=; locustfile `open_model.py`): requests
                               per second of this process (with --processes N: rate / N)
`AKSLOAD_ARRIVALS`             open model: "constant" (default) or "poisson"
`AKSLOAD_RUN_TIME_S`           distributed runs only, instead of `--run-time`: the master ends
                               the run itself (see `_locust/distributed.py`)
`AKSLOAD_ABORT_ON`             optional JSON list of abort_on rules ("failure_rate > 50% over
                               10s windows", `encode_abort_rules`);
                               `pytest_aksload.verdicts.abort.AbortWatch` checks them as each
                               window closes and the recorder ends the run when one holds
`AKSLOAD_STREAM_WINDOWS`       "1": print each closed window on stdout (below), for a parent
                               that judges the run as it goes (--aks-inconclusive=extend)
`AKSLOAD_WINDOW_DETAIL`        "1" (warmup="auto"): each window also holds "endpoints" ({name:
                               {"requests", "failures", "histogram"}}) and "errors" (failure
                               groups), so a warm-up found after the run cuts those too
`AKSLOAD_PARENT_PID`           the pytest process's pid (`lifeline.parent_environment()`): the child
                               holds on to it (`lifeline.hold()`) and dies with it, even by SIGKILL
=============================  ================================================================

A window is closed when its time is up, whether or not a request completed in it. A distributed
master closes a window once every worker that sends windows has sent it (worker reports come
every 3 s, so it judges a few seconds behind).

stdin (must be a pipe, or /dev/null; never a TTY, which Locust polls for its own keys): control
lines (`decode_control_line`): `{"headers": {...}}` (`encode_headers_line`), each replacing the
auth headers for all later requests (token refresh in a long run), and `{"stop": true}`
(`STOP_LINE`): end the run now, exactly as when its run time is up (users finish their in-flight
requests; the result is complete). Read non-blocking on gevent's event loop. EOF ends reading;
malformed lines are ignored with a warning that does not quote them.

stdout: lines `AKSLOAD-PROGRESS {json}` (`PROGRESS_PREFIX`, `Progress`) every
`AKSLOAD_PROGRESS_S` seconds after the test starts, with `elapsed_s` (since test start), `users`
(running now), `requests` and `failures` (completed so far, warm-up included), `rps`
(completions per second over the last ~5 s), `p95_ms` (measured part so far; null during
warm-up) and `warmup` (bool). With `AKSLOAD_STREAM_WINDOWS`, also lines `AKSLOAD-WINDOW {json}`
(`WINDOW_PREFIX`), one per closed window, in the result file's `Window` form. Everything else on
stdout/stderr is Locust's own output (e.g. the final summary table), to be shown to the user
when the child crashes. The parent must drain both pipes continuously.

Distributed runs replace `--run-time` with `--processes N` (local workers), or with `--master
--expect-workers N --expect-workers-max-wait 120 --master-bind-host H --master-bind-port P`
(remote `aksload-worker`s, which get the settings, the sample (rows, expected, labels) and headers
from the master in a Locust message, `run_config_message`, never in their environment). Only the
master reads stdin, prints progress and writes the result.

Exit: after the run time and stop timeout, Locust fires `quitting` and the recorder writes the
result file (`ResultFile`, checked by `check_result`, parsed by `pytest_aksload.stats.result`).
A child stopped with SIGTERM still writes it, with `"complete": false`; one stopped by an
abort_on rule writes it with `"aborted": {"rule", "reason", "at_s"}`. No result file (and a
non-zero exit) means it crashed before the test started.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict

# --- defaults both processes use (the settings, the marker profile and the child) ------------------
DEFAULT_REQUEST_TIMEOUT_S = 10.0
# Think time between a user's requests, as the seed notebook's 1-2 s but shorter so a quick run
# still collects a few hundred requests.
DEFAULT_WAIT_S = (0.5, 1.5)
DEFAULT_WINDOW_S = 1.0
DEFAULT_PROGRESS_S = 2.0
DEFAULT_CONTRACT = "azureml"  # contracts.loader re-exports it
DEFAULT_BATCH = 1
# Absolute tolerance of a prediction against its expected value: absorbs a float32 model or a float32
# JSON round trip and decimal printing with 7+ significant digits (stats/correctness.py says why).
DEFAULT_TOLERANCE = 1e-6
ARRIVALS = ("constant", "poisson")

# --- environment names -----------------------------------------------------------------------------
ENV_SCORING_URI = "AKSLOAD_SCORING_URI"
ENV_AUTH_HEADERS = "AKSLOAD_AUTH_HEADERS"  # the secret: not part of RunSettings
ENV_ROWS_FILE = "AKSLOAD_ROWS_FILE"
ENV_RESULT_FILE = "AKSLOAD_RESULT_FILE"
ENV_WARMUP_S = "AKSLOAD_WARMUP_S"
ENV_WINDOW_S = "AKSLOAD_WINDOW_S"
ENV_REQUEST_TIMEOUT_S = "AKSLOAD_REQUEST_TIMEOUT_S"
ENV_WAIT_MIN_S = "AKSLOAD_WAIT_MIN_S"
ENV_WAIT_MAX_S = "AKSLOAD_WAIT_MAX_S"
ENV_PROGRESS_S = "AKSLOAD_PROGRESS_S"
ENV_CA_BUNDLE = "AKSLOAD_CA_BUNDLE"
ENV_RATE = "AKSLOAD_RATE"
ENV_ARRIVALS = "AKSLOAD_ARRIVALS"
ENV_RUN_TIME_S = "AKSLOAD_RUN_TIME_S"
ENV_ABORT_ON = "AKSLOAD_ABORT_ON"
ENV_STREAM_WINDOWS = "AKSLOAD_STREAM_WINDOWS"
ENV_WINDOW_DETAIL = "AKSLOAD_WINDOW_DETAIL"
ENV_CONTRACT = "AKSLOAD_CONTRACT"
ENV_BATCH = "AKSLOAD_BATCH"
ENV_TOLERANCE = "AKSLOAD_TOLERANCE"
ENV_DEPLOYMENT = "AKSLOAD_DEPLOYMENT"
ENV_AGAINST_URI = "AKSLOAD_AGAINST_URI"
ENV_AGAINST_DEPLOYMENT = "AKSLOAD_AGAINST_DEPLOYMENT"
ENV_AGAINST_AUTH_HEADERS = "AKSLOAD_AGAINST_AUTH_HEADERS"  # secret, optional: not part of RunSettings
ENV_OBJECTIVES = "AKSLOAD_OBJECTIVES"
ENV_WORKER_HOME = "AKSLOAD_WORKER_HOME"  # aksload-worker's own temp directory: removed when it quits

# --- the locustfiles of the command line (child-only code; only their paths are named here) ---------
_LOCUST_DIR = Path(__file__).resolve().parent / "_locust"
RECORDER_PATH = _LOCUST_DIR / "recorder_locustfile.py"
"""Locustfile that attaches the recorder; goes first in `-f recorder_locustfile.py,<locustfile>`."""
DEFAULT_LOCUSTFILE_PATH = _LOCUST_DIR / "locustfile.py"
"""The packaged user that posts the sample rows to the scoring endpoint."""
OPEN_MODEL_LOCUSTFILE_PATH = _LOCUST_DIR / "open_model.py"
"""The packaged user on an arrival-rate schedule (marker `rate=`)."""


class ProtocolError(ValueError):
    """A value on the wire is malformed; the message is one line and never quotes a secret."""


# --- the run's settings ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSettings:
    """Everything the child needs to know about its run except the secret headers (printable)."""

    scoring_uri: str
    rows_file: str | None = None
    result_file: str | None = None
    warmup_s: float = 0.0
    window_s: float = DEFAULT_WINDOW_S
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    wait_s: tuple[float, float] = DEFAULT_WAIT_S
    progress_s: float = DEFAULT_PROGRESS_S
    ca_bundle: str | None = None
    rate: float | None = None  # open model: requests per second of this process
    arrivals: str = "constant"
    run_time_s: float | None = None  # distributed master: it ends the run itself
    abort_on: tuple[str, ...] = ()  # canonical rule texts ("failure_rate > 50% over 10s windows")
    stream_windows: bool = False
    window_detail: bool = False
    contract: str = DEFAULT_CONTRACT
    batch: int = DEFAULT_BATCH
    tolerance: float = DEFAULT_TOLERANCE
    deployment: str | None = None  # --aml-deployment: answers from another one are `routing` failures
    against_uri: str | None = None  # side by side: the other side's scoring URI
    against_deployment: str | None = None  # side by side: the other side's deployment (header, routing)
    objectives: tuple[str, ...] = ()  # side by side: judged at each look to stop once decided

    @property
    def side_by_side(self) -> bool:
        return self.against_uri is not None

    @property
    def configured(self) -> bool:
        """Whether this names a run (a remote worker knows none until its master sends one)."""
        return bool(self.scoring_uri)

    def to_env(self) -> dict[str, str]:
        """The environment variables that carry these settings (unset ones are left out)."""
        env = {
            ENV_SCORING_URI: self.scoring_uri,
            ENV_ROWS_FILE: self.rows_file,
            ENV_RESULT_FILE: self.result_file,
            ENV_WARMUP_S: repr(float(self.warmup_s)),
            ENV_WINDOW_S: repr(float(self.window_s)),
            ENV_REQUEST_TIMEOUT_S: repr(float(self.request_timeout_s)),
            ENV_WAIT_MIN_S: repr(float(self.wait_s[0])),
            ENV_WAIT_MAX_S: repr(float(self.wait_s[1])),
            ENV_PROGRESS_S: repr(float(self.progress_s)),
            ENV_CA_BUNDLE: self.ca_bundle,
            ENV_RATE: None if self.rate is None else repr(float(self.rate)),
            ENV_ARRIVALS: self.arrivals,
            ENV_RUN_TIME_S: None if self.run_time_s is None else repr(float(self.run_time_s)),
            ENV_ABORT_ON: encode_abort_rules(self.abort_on) if self.abort_on else None,
            ENV_STREAM_WINDOWS: "1" if self.stream_windows else None,
            ENV_WINDOW_DETAIL: "1" if self.window_detail else None,
            ENV_CONTRACT: self.contract,
            ENV_BATCH: str(int(self.batch)),
            ENV_TOLERANCE: repr(float(self.tolerance)),
            ENV_DEPLOYMENT: self.deployment,
            ENV_AGAINST_URI: self.against_uri,
            ENV_AGAINST_DEPLOYMENT: self.against_deployment,
            ENV_OBJECTIVES: json.dumps(list(self.objectives)) if self.objectives else None,
        }
        return {name: value for name, value in env.items() if value is not None}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunSettings:
        """Read the settings back (defaults for what is unset); ProtocolError names a bad variable."""
        settings = cls(
            scoring_uri=environ.get(ENV_SCORING_URI, ""),
            rows_file=environ.get(ENV_ROWS_FILE) or None,
            result_file=environ.get(ENV_RESULT_FILE) or None,
            warmup_s=_number(environ, ENV_WARMUP_S, 0.0),
            window_s=_number(environ, ENV_WINDOW_S, DEFAULT_WINDOW_S, positive=True),
            request_timeout_s=_number(environ, ENV_REQUEST_TIMEOUT_S, DEFAULT_REQUEST_TIMEOUT_S),
            wait_s=(
                _number(environ, ENV_WAIT_MIN_S, DEFAULT_WAIT_S[0]),
                _number(environ, ENV_WAIT_MAX_S, DEFAULT_WAIT_S[1]),
            ),
            progress_s=_number(environ, ENV_PROGRESS_S, DEFAULT_PROGRESS_S, positive=True),
            ca_bundle=environ.get(ENV_CA_BUNDLE) or None,
            rate=_number(environ, ENV_RATE, None, positive=True),
            arrivals=environ.get(ENV_ARRIVALS) or "constant",
            run_time_s=_number(environ, ENV_RUN_TIME_S, None),
            abort_on=decode_abort_rules(environ.get(ENV_ABORT_ON, "")),
            stream_windows=environ.get(ENV_STREAM_WINDOWS) == "1",
            window_detail=environ.get(ENV_WINDOW_DETAIL) == "1",
            contract=environ.get(ENV_CONTRACT) or DEFAULT_CONTRACT,
            batch=_whole(environ, ENV_BATCH, DEFAULT_BATCH),
            tolerance=_number(environ, ENV_TOLERANCE, DEFAULT_TOLERANCE),
            deployment=environ.get(ENV_DEPLOYMENT) or None,
            against_uri=environ.get(ENV_AGAINST_URI) or None,
            against_deployment=environ.get(ENV_AGAINST_DEPLOYMENT) or None,
            objectives=_text_list(environ, ENV_OBJECTIVES),
        )
        if settings.arrivals not in ARRIVALS:
            raise ProtocolError(f"{ENV_ARRIVALS} must be one of {', '.join(ARRIVALS)}, not {settings.arrivals!r}")
        if settings.wait_s[0] > settings.wait_s[1]:
            raise ProtocolError(f"{ENV_WAIT_MIN_S} must not exceed {ENV_WAIT_MAX_S}, not {settings.wait_s}")
        return settings

    def for_remote_workers(self, workers: int) -> RunSettings:
        """What a remote worker gets from its master: no paths of the master's machine, nothing only
        the master does (result, progress, abort rules, run time), and its share of the open-model rate."""
        return RunSettings(
            scoring_uri=self.scoring_uri,
            warmup_s=self.warmup_s,
            window_s=self.window_s,
            request_timeout_s=self.request_timeout_s,
            wait_s=self.wait_s,
            rate=None if self.rate is None else self.rate / max(1, workers),
            arrivals=self.arrivals,
            window_detail=self.window_detail,
            contract=self.contract,
            batch=self.batch,
            tolerance=self.tolerance,
            deployment=self.deployment,
        )


def _text_list(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = environ.get(name)
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProtocolError(f"{name} must be a JSON list of strings")
    return tuple(value)


def _whole(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ProtocolError(f"{name} must be a whole number >= 1, not {raw!r}")
    return value


def _number(environ: Mapping[str, str], name: str, default: Any, positive: bool = False) -> Any:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ProtocolError(f"{name} must be a number, not {raw!r}") from None
    if value < 0 or (positive and value == 0) or value != value:
        raise ProtocolError(f"{name} must be a {'positive' if positive else 'non-negative'} number, not {raw!r}")
    return value


# --- the sample rows ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleRows:
    """What the load sends and what it checks: raw sample rows, and aligned with them each row's
    expected prediction and label (None: unknown; the lists themselves None: none known)."""

    rows: list[dict[str, Any]]
    expected: list[float | None] | None = None
    labels: list[float | None] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.rows, list) or not self.rows or not all(isinstance(r, dict) for r in self.rows):
            raise ProtocolError("sample rows must be a non-empty list of JSON objects")
        for name in ("expected", "labels"):
            values = getattr(self, name)
            if values is None:
                continue
            if not isinstance(values, list) or len(values) != len(self.rows):
                raise ProtocolError(f"sample {name} must be a list of one number or null per row")
            if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
                raise ProtocolError(f"sample {name} must hold numbers or null")

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "expected": self.expected, "labels": self.labels}

    @classmethod
    def from_json(cls, data: Any) -> SampleRows:
        """The `to_json` form; a bare list is rows without expectations (files written before them)."""
        if isinstance(data, list):
            return cls(data)
        if not isinstance(data, Mapping):
            raise ProtocolError('rows must be a JSON object {"rows": [...], "expected": ..., "labels": ...}')
        return cls(data.get("rows"), data.get("expected"), data.get("labels"))  # type: ignore[arg-type]


def encode_rows_file(sample: SampleRows) -> str:
    """The content of `ENV_ROWS_FILE`."""
    return json.dumps(sample.to_json(), allow_nan=False)


def decode_rows_file(text: str) -> SampleRows:
    """Inverse of `encode_rows_file`; ProtocolError (one line) when malformed."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"rows file is not JSON ({exc})") from None
    return SampleRows.from_json(data)


# --- the secret headers ----------------------------------------------------------------------------
def encode_auth_headers(headers: Mapping[str, str]) -> str:
    """The value of `ENV_AUTH_HEADERS` (secret: only ever in the child's environment)."""
    return json.dumps(dict(headers))


def decode_auth_headers(text: str, name: str = ENV_AUTH_HEADERS) -> dict[str, str]:
    """Inverse of `encode_auth_headers` (empty: no headers); the error never quotes the value."""
    try:
        headers = json.loads(text or "{}")
    except ValueError:
        headers = None
    return checked_headers(headers, f"{name} is not a JSON object of strings")


def checked_headers(headers: Any, problem: str) -> dict[str, str]:
    """`headers` as a dict of strings, or ProtocolError(`problem`) (which must not quote them)."""
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ProtocolError(problem)
    return dict(headers)


# --- the abort-rule codec --------------------------------------------------------------------------
def encode_abort_rules(rules: Sequence[str]) -> str:
    """The env form of abort_on rules, given as their canonical text (`str(slo)`)."""
    return json.dumps([str(rule) for rule in rules])


def decode_abort_rules(text: str) -> tuple[str, ...]:
    if not text.strip():
        return ()
    try:
        rules = json.loads(text)
    except ValueError:
        rules = None
    if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
        raise ProtocolError(f"{ENV_ABORT_ON} must be a JSON list of rule strings, not {text!r:.80}")
    return tuple(rules)


# --- stdout: progress and closed-window lines ------------------------------------------------------
PROGRESS_PREFIX = "AKSLOAD-PROGRESS "
"""Start of a progress line on the child's stdout; a JSON object follows."""

WINDOW_PREFIX = "AKSLOAD-WINDOW "
"""Start of a closed-window line on the child's stdout (with AKSLOAD_STREAM_WINDOWS); a window
object of the result file follows, so the parent can judge the run while it goes on."""


@dataclass(frozen=True)
class Progress:
    """One progress line: the run so far (requests and failures include the warm-up)."""

    elapsed_s: float
    users: int
    requests: int
    failures: int
    rps: float
    p95_ms: float | None
    warmup: bool = False


def encode_progress(progress: Progress) -> str:
    return PROGRESS_PREFIX + json.dumps(dataclasses.asdict(progress))


def decode_progress(line: str) -> Progress | None:
    """The progress a line carries, or None when it is not a (well-formed) progress line."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        data = json.loads(line[len(PROGRESS_PREFIX) :])
        return Progress(
            elapsed_s=float(data["elapsed_s"]),
            users=int(data["users"]),
            requests=int(data["requests"]),
            failures=int(data["failures"]),
            rps=float(data["rps"]),
            p95_ms=None if data.get("p95_ms") is None else float(data["p95_ms"]),
            warmup=bool(data.get("warmup", False)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def encode_window(window: Window) -> str:
    return WINDOW_PREFIX + json.dumps(window)


def decode_window(line: str) -> Window | None:
    """The window a line carries, or None when it is not a (well-formed) window line."""
    if not line.startswith(WINDOW_PREFIX):
        return None
    try:
        window = json.loads(line[len(WINDOW_PREFIX) :])
        check(window, Window, "window")
    except ValueError:
        return None
    return window


# --- stdin: control lines --------------------------------------------------------------------------
STOP_LINE = b'{"stop": true}\n'
"""What the parent writes on the child's stdin to end the run now, as if its run time were up."""


def encode_headers_line(headers: Mapping[str, str]) -> bytes:
    """The stdin line that replaces the child's auth headers (a token refresh). Carries the secret."""
    return (json.dumps({"headers": dict(headers)}) + "\n").encode()


@dataclass(frozen=True)
class Control:
    """A control line from the parent: stop the run, or use these headers from now on."""

    stop: bool = False
    headers: dict[str, str] | None = dataclasses.field(default=None, repr=False)


def decode_control_line(line: bytes) -> Control:
    """ProtocolError (never quoting the line: it may carry a credential) if it is neither form."""
    if line.strip() == STOP_LINE.strip():
        return Control(stop=True)
    problem = f'malformed control line ({len(line)} bytes); expected {{"headers": {{...}}}} or {{"stop": true}}'
    try:
        message = json.loads(line)
    except ValueError:
        raise ProtocolError(problem) from None
    if not isinstance(message, dict) or "headers" not in message:
        raise ProtocolError(problem)
    return Control(headers=checked_headers(message["headers"], problem))


# --- Locust messages between a distributed master and its remote workers -----------------------------
MSG_HELLO = "aksload_hello"  # worker -> master: send me the run
MSG_CONFIG = "aksload_config"  # master -> worker: `run_config_message`
MSG_HEADERS = "aksload_headers"  # master -> workers: {"headers": {...}} after a token refresh
MSG_FINAL = "aksload_final"  # worker -> master: its last recorder delta
REPORT_KEY = "aksload"  # our part of Locust's worker stats report


def run_config_message(
    settings: RunSettings, headers: Mapping[str, str], sample: SampleRows, workers: int
) -> dict[str, Any]:
    """What a master sends a remote worker: settings, the sample (rows, expected, labels) and the
    (secret) headers. It travels only over Locust's master-worker connection, never into the
    worker's environment or command line."""
    return {
        "settings": settings.for_remote_workers(workers).to_env(),
        "headers": dict(headers),
        "sample": sample.to_json(),
    }


def read_run_config(message: Mapping[str, Any]) -> tuple[RunSettings, dict[str, str], SampleRows]:
    """Inverse of `run_config_message`, in a remote worker; ProtocolError if it is malformed."""
    try:
        sample = SampleRows.from_json(message.get("sample"))
    except ProtocolError as error:
        raise ProtocolError(f"the master sent no usable sample: {error}") from None
    settings = message.get("settings")
    if not isinstance(settings, Mapping):
        raise ProtocolError("the master sent no run settings")
    headers = checked_headers(message.get("headers"), "the master's headers are not an object of strings")
    return RunSettings.from_env({str(k): str(v) for k, v in settings.items()}), headers, sample


# --- the result file -------------------------------------------------------------------------------
RESULT_FORMAT = "pytest-aksload-result/1"
"""Value of the `format` key of the result file the recorder writes."""


class Stats(TypedDict):
    """Latencies (integer microseconds, encoded HdrHistogram) and failures: an endpoint, or the total."""

    requests: int
    failures: int
    sum_us: int
    min_us: int | None
    max_us: int | None
    clamped: int
    histogram: str


class ErrorGroupRecord(TypedDict):
    """Failed requests grouped by (kind, status, message)."""

    kind: str
    status: int | None
    message: str
    count: int


class WindowEndpoint(TypedDict):
    """A detailed window's share of one endpoint."""

    requests: int
    failures: int
    histogram: str


class _WindowRequired(TypedDict):
    index: int
    start_offset_s: float
    duration_s: float
    requests: int
    failures: int
    histogram: str | None  # null when empty


class Window(_WindowRequired, total=False):
    """One time window (every request, warm-up included, by completion time)."""

    rows: int  # sample rows sent in the window's successful requests
    correctness: dict[str, Any] | None  # stats.correctness.CorrectnessTally.to_dict(); null: nothing to compare
    endpoints: dict[str, WindowEndpoint]  # detailed windows only (AKSLOAD_WINDOW_DETAIL)
    errors: list[ErrorGroupRecord]  # detailed windows only


class LocustView(TypedDict):
    """Locust's own rounded view of the whole run, warm-up included."""

    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class Generator(TypedDict, total=False):
    """How the load generator fared (verdicts/health.py judges it)."""

    cpu_percent: float | None  # process CPU time / wall time over the run, 100 = one core
    cpu_percent_peak: float | None  # Locust's 5 s samples
    cpu_warning: bool
    loop_lag_ms: dict[str, float | None]  # p50, p95, max: how late gevent woke a 0.1 s sleep
    warnings: list[str]  # Locust's warning log lines, at most 20, redacted
    locust_version: str
    locust: LocustView | None
    workers: int  # distributed master: how many workers sent their final report


class Aborted(TypedDict):
    """Which abort_on rule ended the run, why, and when (seconds from the start)."""

    rule: str
    reason: str
    at_s: float


class UncorrectedStats(Stats):
    """Open model: latencies from the actual send (the corrected ones count from the intended time)."""


class Schedule(TypedDict, total=False):
    """Open model: how well the arrival schedule was kept (see _locust/open_model.py)."""

    intended: int
    sent: int
    late: int
    max_lag_ms: float
    backlogged: int
    missed: int
    pool: int


class TotalStats(Stats, total=False):
    """The measured run's totals: `Stats` plus what its answers held."""

    rows: int  # sample rows sent in the measured successful requests (batch x requests)
    correctness: dict[str, Any] | None  # CorrectnessTally.to_dict(); null: no expectations and no labels


class _ResultFileRequired(TypedDict):
    format: str  # RESULT_FORMAT
    complete: bool  # false: stopped by a signal before the run ended
    started_at: float  # epoch seconds
    measure_start: float  # started_at + warmup_s
    ended_at: float
    warmup_s: float
    window_s: float
    users_peak: int
    generator: Generator
    total: TotalStats  # merged from the endpoints
    endpoints: dict[str, Stats]  # "{request_type} {name}", at most 50
    windows: list[Window]
    errors: list[ErrorGroupRecord]  # measured part, at most 50 groups


class Agreement(TypedDict):
    """Side by side: the rows predicted on both sides, and how many agree within the tolerance."""

    compared: int
    agreeing: int
    max_abs_difference: float | None  # largest |candidate - other| over the compared rows; null: none


class Sequential(TypedDict):
    """Side by side, judged while running: looks taken, and when the outcome was decided (s from the start)."""

    looks: int
    decided_at_s: float | None  # null: not decided before the run ended


class ResultFile(_ResultFileRequired, total=False):
    """The JSON document the recorder writes at quit (one writer: `Recorder.result`)."""

    aborted: Aborted | None  # an abort_on rule ended the run
    uncorrected: UncorrectedStats | None  # open model only
    schedule: Schedule | None  # open model only
    sample_rows: int  # distinct sample rows the load cycled through (bounds the correctness intervals)
    against: ResultFile | None  # side by side: the other deployment's own figures, same shape
    agreement: Agreement | None  # side by side, with predictions on both sides
    sequential: Sequential | None  # side by side, judged at looks while running


def check_result(data: Any) -> None:
    """Check `data` against `ResultFile` (types, required keys) and the counts' consistency;
    ProtocolError (one line naming the field) if it is not a result file. Unknown keys are
    allowed (readers add their own), except in error groups."""
    if not isinstance(data, Mapping):
        raise ProtocolError(f"result must be a JSON object, not {type(data).__name__}")
    if data.get("format") != RESULT_FORMAT:
        raise ProtocolError(f"format is {data.get('format')!r}, expected {RESULT_FORMAT!r}")
    # The side-by-side keys first, so a malformed one is named precisely (an optional key's
    # union would only say "wrong type").
    if data.get("against") is not None:
        try:
            check_result(data["against"])
        except ProtocolError as exc:
            raise ProtocolError(f"against: {exc}") from None
    for key, shape in (("agreement", Agreement), ("sequential", Sequential)):
        if data.get(key) is not None:
            check(data[key], shape, f"result.{key}")
    check(data, ResultFile, "result")
    stats = [("total", data["total"]), *[(f"endpoints[{name!r}]", s) for name, s in data["endpoints"].items()]]
    if data.get("uncorrected") is not None:
        stats.append(("uncorrected", data["uncorrected"]))
    for where, counts in stats:
        if not 0 <= counts["failures"] <= counts["requests"]:
            raise ProtocolError(f"{where}: {counts['failures']} failures of {counts['requests']} requests")
    for position, group in enumerate(data["errors"]):
        extra = set(group) - set(_hints(ErrorGroupRecord))
        if extra:
            raise ProtocolError(f"errors[{position}] has unknown fields {sorted(extra)}")
    if data["window_s"] <= 0:
        raise ProtocolError(f"window_s must be positive, not {data['window_s']}")
    agreement = data.get("agreement")
    if agreement is not None and not 0 <= agreement["agreeing"] <= agreement["compared"]:
        raise ProtocolError(f"agreement: {agreement['agreeing']} agreeing of {agreement['compared']} compared rows")
    sequential = data.get("sequential")
    if sequential is not None and sequential["looks"] < 0:
        raise ProtocolError(f"sequential.looks must be >= 0, not {sequential['looks']}")


def check(value: Any, hint: Any, where: str) -> None:
    """ProtocolError unless `value` (parsed JSON) matches the type `hint` (a TypedDict above, or a
    list/dict/union of JSON types). JSON has no int/float distinction: a float field takes
    an int; a bool is never a number."""
    if hint is Any:
        return
    if is_typeddict(hint):
        if not isinstance(value, Mapping):
            raise ProtocolError(f"{where} must be an object, not {type(value).__name__}")
        hints = _hints(hint)
        for name in hints:  # in definition order, so the message names the first missing key
            if name in hint.__required_keys__ and name not in value:
                raise ProtocolError(f"{where} lacks {name!r}")
        for name, field_hint in hints.items():
            if name in value:
                check(value[name], field_hint, f"{where}.{name}")
        return
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in get_args(hint):
            try:
                check(value, option, where)
                return
            except ProtocolError:
                continue
        raise ProtocolError(f"{where} has the wrong type ({type(value).__name__})")
    if origin is list:
        if not isinstance(value, list):
            raise ProtocolError(f"{where} must be a list, not {type(value).__name__}")
        (item,) = get_args(hint)
        for position, element in enumerate(value):
            check(element, item, f"{where}[{position}]")
        return
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ProtocolError(f"{where} must be an object, not {type(value).__name__}")
        _key, item = get_args(hint)
        for name, element in value.items():
            check(element, item, f"{where}[{name!r}]")
        return
    if not _is_json_type(value, hint):
        raise ProtocolError(f"{where} has the wrong type ({type(value).__name__})")


def _is_json_type(value: Any, hint: Any) -> bool:
    if hint is type(None) or hint is None:
        return value is None
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, (int, float))
    return isinstance(value, hint)


@functools.cache
def _hints(typed_dict: Any) -> dict[str, Any]:
    return get_type_hints(typed_dict)
