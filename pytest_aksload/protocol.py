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
and every `AKSLOAD_CHILD_*` one (the child reads its run from those, so only the runner may set
them), with `HOME` (and `USERPROFILE` on Windows) pointing at the temporary working directory,
because Locust also reads `~/.locust.conf` and `./locust.conf`/`./pyproject.toml`. Plus:

* `RunSettings.to_env()`: one variable per field, `AKSLOAD_CHILD_<FIELD>` (`setting_env`), none
  of it secret; `RunSettings.from_env` reads them back. Each field is declared once, below, with
  its codec, its default and what it means. The `AKSLOAD_CHILD_` prefix keeps the wire apart
  from the options' own `AKSLOAD_<OPTION>` variables (`config/settings.py`): a user's
  `AKSLOAD_CONTRACT=mlflow` is an option the pytest process reads, never the child's setting.
* `AKSLOAD_CHILD_AUTH_HEADERS` (`ENV_AUTH_HEADERS`): JSON object of request headers. SECRET: only
  ever in this variable (`encode_auth_headers`), never in `RunSettings`; never printed, logged or
  written by the child; masked (`***`) in failure messages and captured warnings.
  `AKSLOAD_CHILD_AGAINST_AUTH_HEADERS` (`ENV_AGAINST_AUTH_HEADERS`), optional and as secret: the
  other side's own headers (--aks-against-uri with ini aks_against_key_env); unset, the other side
  gets the target's (refreshed ones too), minus its deployment header.
* `AKSLOAD_PARENT_PID` (`lifeline.parent_environment()`): the child holds on to the pytest
  process (`lifeline.hold()`) and dies with it, even by SIGKILL.

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
`RunSettings.progress_s` seconds after the test starts, with `elapsed_s` (since test start), `users`
(running now), `requests` and `failures` (completed so far, warm-up included), `rps`
(completions per second over the last ~5 s), `p95_ms` (measured part so far; null during
warm-up) and `warmup` (bool). With `RunSettings.stream_windows`, also lines `AKSLOAD-WINDOW {json}`
(`WINDOW_PREFIX`), one per closed window, in the result file's `Window` form. Everything else on
stdout/stderr is Locust's own output (e.g. the final summary table), to be shown to the user
when the child crashes. The parent must drain both pipes continuously.

Distributed runs replace `--run-time` with `--processes N` (local workers), or with `--master
--expect-workers N --expect-workers-max-wait 120 --master-bind-host H --master-bind-port P`
(remote `aksload-worker`s, which get the settings, the sample (rows, expected, labels) and headers
from the master in a Locust message, `run_config_message`, never in their environment). Either
way the master gets `ENV_WORKER_TOKEN`, and each worker proves it holds that token before it gets
anything of the run (see the messages at the end). Only the master reads stdin, prints progress
and writes the result.

Exit: after the run time and stop timeout, Locust fires `quitting` and the recorder writes the
result file (`result_schema.ResultFile`, checked by `check_result`, parsed by `pytest_aksload.stats.result`).
A child stopped with SIGTERM still writes it, with `"complete": false`; one stopped by an
abort_on rule writes it with `"aborted": {"rule", "reason", "at_s"}`. No result file (and a
non-zero exit) means it crashed before the test started.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_aksload.defaults import (
    ARRIVALS,
    DEFAULT_BATCH,
    DEFAULT_CONTRACT,
    DEFAULT_PROGRESS_S,
    DEFAULT_REQUEST_TIMEOUT_S,
    DEFAULT_TOLERANCE,
    DEFAULT_WAIT_S,
    DEFAULT_WINDOW_S,
)

# A window line carries a window in the result file's form (result_schema.py); ProtocolError is
# the one error of both wires.
from pytest_aksload.result_schema import ProtocolError, Window, check

# --- environment names -----------------------------------------------------------------------------
CHILD_ENV_PREFIX = "AKSLOAD_CHILD_"
"""Every variable of the wire starts with it; no option's variable does (`config/settings.py`)."""


def setting_env(name: str) -> str:
    """The variable that carries `RunSettings.<name>` (or one of the secrets below)."""
    return CHILD_ENV_PREFIX + name.upper()


ENV_AUTH_HEADERS = setting_env("auth_headers")  # the secret: not part of RunSettings
ENV_AGAINST_AUTH_HEADERS = setting_env("against_auth_headers")  # secret, optional: not part of RunSettings
ENV_WORKER_HOME = setting_env("worker_home")  # aksload-worker's own temp directory: removed when it quits
# Named in the child's messages (pytest_aksload._locust).
ENV_RESULT_FILE = setting_env("result_file")
ENV_WINDOW_S = setting_env("window_s")
ENV_RATE = setting_env("rate")

# --- the locustfiles of the command line (child-only code; only their paths are named here) ---------
_LOCUST_DIR = Path(__file__).resolve().parent / "_locust"
RECORDER_PATH = _LOCUST_DIR / "recorder_locustfile.py"
"""Locustfile that attaches the recorder; goes first in `-f recorder_locustfile.py,<locustfile>`."""
DEFAULT_LOCUSTFILE_PATH = _LOCUST_DIR / "locustfile.py"
"""The packaged user that posts the sample rows to the scoring endpoint."""
OPEN_MODEL_LOCUSTFILE_PATH = _LOCUST_DIR / "open_model.py"
"""The packaged user on an arrival-rate schedule (marker `rate=`)."""


# --- how a setting reads in the environment --------------------------------------------------------
@dataclass(frozen=True)
class Codec:
    """How one kind of setting is written to, and read from, its environment variable."""

    encode: Callable[[Any], str | None]  # None: leave the variable unset (the value is the default)
    decode: Callable[[str, str], Any]  # (text, variable name) -> value; ProtocolError names the variable


def _number(positive: bool = False) -> Callable[[str, str], float]:
    def decode(raw: str, name: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ProtocolError(f"{name} must be a number, not {raw!r}") from None
        if value < 0 or (positive and value == 0) or value != value:
            kind = "positive" if positive else "non-negative"
            raise ProtocolError(f"{name} must be a {kind} number, not {raw!r}")
        return value

    return decode


def _whole(raw: str, name: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ProtocolError(f"{name} must be a whole number >= 1, not {raw!r}")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def decode(raw: str, name: str) -> str:
        if raw not in choices:
            raise ProtocolError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
        return raw

    return decode


def _texts(raw: str, name: str) -> tuple[str, ...]:
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProtocolError(f"{name} must be a JSON list of strings, not {raw!r:.80}")
    return tuple(value)


def _range(raw: str, name: str) -> tuple[float, float]:
    problem = f"{name} must be a JSON list [min, max] of non-negative numbers, min <= max, not {raw!r:.80}"
    try:
        low, high = (float(bound) for bound in json.loads(raw))
    except (ValueError, TypeError):
        raise ProtocolError(problem) from None
    if not 0 <= low <= high:
        raise ProtocolError(problem)
    return low, high


def _run_id(raw: str, name: str) -> str:
    if not (raw.isascii() and raw.isalnum() and len(raw) <= RUN_ID_CHARS):
        raise ProtocolError(f"{name} must be at most {RUN_ID_CHARS} letters and digits, not {raw!r:.40}")
    return raw


def _float_text(value: float | None) -> str | None:
    return None if value is None else repr(float(value))


TEXT = Codec(lambda value: value or None, lambda raw, _name: raw)
NUMBER = Codec(_float_text, _number())
POSITIVE = Codec(_float_text, _number(positive=True))
WHOLE = Codec(lambda value: str(int(value)), _whole)
FLAG = Codec(lambda value: "1" if value else None, lambda raw, _name: raw == "1")
TEXTS = Codec(lambda value: json.dumps(list(value)) if value else None, _texts)
RANGE = Codec(lambda value: json.dumps([float(value[0]), float(value[1])]), _range)
ARRIVAL = Codec(lambda value: value, _choice(ARRIVALS))
RUN_ID = Codec(lambda value: value or None, _run_id)


def setting(codec: Codec, default: Any = None, *, remote: bool = True) -> Any:
    """Declare a field of `RunSettings`: how its variable reads (`codec`), its value when the
    variable is unset or empty (`default`), and whether a remote worker gets it from its master
    (`remote`: False for what only the master does, or paths of the master's machine)."""
    return dataclasses.field(default=default, metadata={"codec": codec, "remote": remote})


# --- the run's settings ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSettings:
    """Everything the child needs to know about its run except the secret headers (printable).
    Each field is declared once: its variable is `setting_env(field)`, `to_env`/`from_env` follow
    its codec, and an unset variable reads as its default."""

    # The full scoring URI (`child.scoring_path()` is its path + query); empty: no run configured
    # (a remote worker, until its master sends the run).
    scoring_uri: str = setting(TEXT, "")
    # JSON file (`encode_rows_file`) of the sample: the raw rows (the child encodes them once with the
    # contract) and, aligned with them, each row's expected prediction and label.
    rows_file: str | None = setting(TEXT, remote=False)
    # Where the recorder writes the result JSON at quit (atomically: temp file + `os.replace`).
    result_file: str | None = setting(TEXT, remote=False)
    # Requests that START before `started_at + warmup` are left out of totals, endpoints and errors,
    # but are in the windows.
    warmup_s: float = setting(NUMBER, 0.0)
    window_s: float = setting(POSITIVE, DEFAULT_WINDOW_S)  # timeline window length
    request_timeout_s: float = setting(NUMBER, DEFAULT_REQUEST_TIMEOUT_S)  # FastHttpUser connect and network timeout
    wait_s: tuple[float, float] = setting(RANGE, DEFAULT_WAIT_S)  # `wait_time = between(min, max)`
    progress_s: float = setting(POSITIVE, DEFAULT_PROGRESS_S, remote=False)  # interval of progress lines
    # PEM file of CAs to trust for https (--aks-ca-bundle); `child.ssl_context_factory` reads it.
    ca_bundle: str | None = setting(TEXT, remote=False)
    # Open model (marker rate=; `open_model.py`): requests per second of this process (`--processes N`:
    # rate / N; a remote master divides it among its workers, `for_remote_workers`).
    rate: float | None = setting(POSITIVE)
    arrivals: str = setting(ARRIVAL, ARRIVALS[0])  # open model: "constant" or "poisson"
    # Distributed runs only, instead of `--run-time`: the master ends the run itself (_locust/distributed.py).
    run_time_s: float | None = setting(NUMBER, remote=False)
    # abort_on rules as their canonical texts ("failure_rate > 50% over 10s windows"): checked as each
    # window closes (`verdicts.abort.AbortWatch`); the recorder ends the run when one holds.
    abort_on: tuple[str, ...] = setting(TEXTS, (), remote=False)
    # Print each closed window on stdout, for a parent that judges the run as it goes (--aks-inconclusive=extend).
    stream_windows: bool = setting(FLAG, False, remote=False)
    # warmup="auto": each window also holds "endpoints" ({name: {"requests", "failures", "histogram"}})
    # and "errors" (failure groups), so a warm-up found after the run cuts those too.
    window_detail: bool = setting(FLAG, False)
    # A built-in contract name, `module:Name` or an ABSOLUTE `/path/file.py:Name`.
    contract: str = setting(TEXT, DEFAULT_CONTRACT)
    batch: int = setting(WHOLE, DEFAULT_BATCH)  # rows per request
    tolerance: float = setting(NUMBER, DEFAULT_TOLERANCE)  # absolute tolerance of a prediction
    # --aml-deployment: an answer whose `azureml-model-deployment` header names another one is a
    # `routing` failure.
    deployment: str | None = setting(TEXT)
    # Side by side (--aks-against, --aks-against-uri, against=): the other side's full scoring URI; the
    # packaged users then send every batch to both sides, in random order (`child.RequestPlan`).
    against_uri: str | None = setting(TEXT, remote=False)
    # Side by side: the other side's deployment (its request header, and the routing check of its answers).
    against_deployment: str | None = setting(TEXT, remote=False)
    # Side by side: the test's objectives (canonical texts), judged at each look
    # (`stats.sequential.LookSchedule`) to end the run once decided.
    objectives: tuple[str, ...] = setting(TEXTS, (), remote=False)
    # The run's id (`new_run_id`): every request carries `request_id(run_id, worker, n)` in
    # REQUEST_ID_HEADER, and the result file names it. Empty: requests carry no id.
    run_id: str = setting(RUN_ID, "")

    @property
    def side_by_side(self) -> bool:
        return self.against_uri is not None

    @property
    def configured(self) -> bool:
        """Whether this names a run (a remote worker knows none until its master sends one)."""
        return bool(self.scoring_uri)

    def to_env(self) -> dict[str, str]:
        """The environment variables that carry these settings (unset ones are left out)."""
        env = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            text = None if value is None else field.metadata["codec"].encode(value)
            if text is not None:
                env[setting_env(field.name)] = text
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunSettings:
        """Read the settings back (defaults for what is unset); ProtocolError names a bad variable."""
        values = {}
        for field in dataclasses.fields(cls):
            name = setting_env(field.name)
            raw = environ.get(name)
            if raw is not None and raw.strip():
                values[field.name] = field.metadata["codec"].decode(raw, name)
        return cls(**values)

    def for_remote_workers(self, workers: int) -> RunSettings:
        """What a remote worker gets from its master: the fields declared `remote` (no paths of the
        master's machine, nothing only the master does), and its share of the open-model rate."""
        local_only = {field.name: field.default for field in dataclasses.fields(self) if not field.metadata["remote"]}
        rate = None if self.rate is None else self.rate / max(1, workers)
        return dataclasses.replace(self, **local_only, rate=rate)


# --- request ids ------------------------------------------------------------------------------------
REQUEST_ID_HEADER = "x-ms-client-request-id"
"""Azure ML logs it per request (`AmlOnlineEndpointTrafficLog.XMSClientRequestId`); it accepts at
most 40 alphanumeric characters."""
SERVER_REQUEST_ID_HEADER = "x-request-id"
"""The id Azure ML gives a request (`XRequestId`), in its answer."""
RUN_ID_CHARS = 12
_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_run_id() -> str:
    """A random run id: `RUN_ID_CHARS` lowercase letters and digits (36**12: never repeats in practice)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(RUN_ID_CHARS))


def request_id_prefix(run_id: str, source: str) -> str:
    """What every request id of one sender starts with: the run id, then `source`, then "n" before
    the sequence number. `source` is `w<worker index>` for a load process (0 for a single process;
    a distributed worker's index is Locust's, unique per master) or `p<side>` for pre-flight. The run
    id has a fixed length and the sequence follows the only "n", so ids stay distinct and alphanumeric,
    at most 40 characters (12 + "w" + 5 digits + "n" + 21 digits)."""
    return f"{run_id}{source}n"


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


# --- stdout: progress and closed-window lines ------------------------------------------------------
PROGRESS_PREFIX = "AKSLOAD-PROGRESS "
"""Start of a progress line on the child's stdout; a JSON object follows."""

WINDOW_PREFIX = "AKSLOAD-WINDOW "
"""Start of a closed-window line on the child's stdout (with `RunSettings.stream_windows`); a window
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


# --- Locust messages between a distributed master and its workers -----------------------------------
# Every worker, local (`--processes`) or remote, proves it holds the worker token before the master
# sends it anything of the run, and everything of the run travels sealed (`worker_auth`): the
# handshake is HELLO -> CHALLENGE -> PROOF, then CONFIG; an unproven worker gets no more than Locust's
# connection `ack` and the challenge (random bytes).
MSG_HELLO = "aksload_hello"  # worker -> master: {"v", "nonce"}: send me the run
MSG_CHALLENGE = "aksload_challenge"  # master -> worker: {"v", "salt", "nonce"}
MSG_PROOF = "aksload_proof"  # worker -> master: {"v", "proof"} (an HMAC; never the token)
MSG_CONFIG = "aksload_config"  # master -> worker: `run_config_message`, JSON, sealed
MSG_HEADERS = "aksload_headers"  # master -> worker: {"headers": {...}} after a token refresh, JSON, sealed
MSG_FINAL = "aksload_final"  # worker -> master: its last recorder delta, sealed
REPORT_KEY = "aksload"  # our part of Locust's worker stats report: the recorder's delta, sealed
ENV_WORKER_TOKEN = setting_env("worker_token")
"""SECRET, like `ENV_AUTH_HEADERS`: the worker token of a distributed run (`worker_auth`). The runner
sets it for the master (the user's `AKSLOAD_WORKER_TOKEN` for remote workers, a fresh random one for
local worker processes, which inherit it); `aksload-worker` sets it for its Locust process."""


def run_config_message(
    settings: RunSettings, headers: Mapping[str, str], sample: SampleRows, workers: int
) -> dict[str, Any]:
    """What a master sends a remote worker: settings, the sample (rows, expected, labels) and the
    (secret) headers. It travels only over Locust's master-worker connection, sealed for the one
    worker that proved it holds the token (`worker_auth.Channel`), never into the worker's
    environment or command line."""
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
