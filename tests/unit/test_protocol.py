"""The wire between the pytest process and the Locust child (`pytest_aksload.protocol`), both ends in
this process: what the runner writes is read back by the child's own code, without a child."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_aksload import defaults, protocol, result_schema
from pytest_aksload.child import ChildContext
from pytest_aksload.config.objectives import parse_slo
from pytest_aksload.config.options import OPTIONS
from pytest_aksload.config.profile import profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.protocol import Control, Progress, ProtocolError, RunSettings, SampleRows, setting_env
from pytest_aksload.run import runner
from pytest_aksload.run.plan import RunPlan
from pytest_aksload.stats.histograms import Latencies
from pytest_aksload.stats.result import LoadResult, ResultFileError
from pytest_aksload.targets.target import Credential, Target

SECRET = "k3y-" + "f" * 24
TARGET = Target("https://example.test:8443/score?v=2", "example", "uri", Credential.key(SECRET))

EVERY_FIELD = RunSettings(
    scoring_uri="https://example.test/score",
    rows_file="/tmp/rows.json",
    result_file="/tmp/result.json",
    warmup_s=2.5,
    window_s=0.5,
    request_timeout_s=3.0,
    wait_s=(0.1, 0.2),
    progress_s=1.0,
    ca_bundle="/tmp/ca.pem",
    rate=12.5,
    arrivals="poisson",
    run_time_s=30.0,
    abort_on=("failure_rate > 50% over 10s windows", "p95 > 2s"),
    stream_windows=True,
    window_detail=True,
    contract="/abs/contracts.py:Mine",
    batch=8,
    tolerance=0.001,
    deployment="blue",
    against_uri="https://other.test/score",
    against_deployment="green",
    objectives=("p95 <= 1.10x",),
    run_id="abc123def456",
)


def child_side(env: dict[str, str]) -> ChildContext:
    return ChildContext.from_env(env)


def plan_settings(kwargs: dict[str, Any], tmp_path: Path, settings: Settings | None = None) -> RunSettings:
    profile = profile_from_marker((), kwargs, settings or Settings(), tmp_path)
    plan = RunPlan(TARGET, profile, SampleRows([{"a": 1}]))
    return plan.run_settings(tmp_path / "rows.json", tmp_path / "result.json")


def runner_env(kwargs: dict[str, Any], tmp_path: Path, settings: Settings | None = None) -> dict[str, str]:
    return runner.child_environment(plan_settings(kwargs, tmp_path, settings), TARGET.headers(), tmp_path, base={})


# --- one definition of each default -------------------------------------------------------------------


def test_parent_and_child_share_their_defaults(tmp_path: Path) -> None:
    """A marker with no timeout= or wait= gives the child exactly what the child would assume itself."""
    profile = profile_from_marker((), {}, Settings(), tmp_path)
    assert profile.request_timeout_s == defaults.DEFAULT_REQUEST_TIMEOUT_S == Settings().aks_request_timeout
    assert profile.wait_s == defaults.DEFAULT_WAIT_S
    told = child_side(runner_env({}, tmp_path))
    assumed = child_side({setting_env("scoring_uri"): TARGET.scoring_uri})  # nothing said: the child's defaults
    assert told.request_timeout_s == assumed.request_timeout_s == defaults.DEFAULT_REQUEST_TIMEOUT_S
    assert told.wait_range == assumed.wait_range == defaults.DEFAULT_WAIT_S
    assert told.settings.window_s == assumed.settings.window_s == defaults.DEFAULT_WINDOW_S
    assert told.settings.contract == assumed.settings.contract == defaults.DEFAULT_CONTRACT
    assert told.settings.tolerance == assumed.settings.tolerance == defaults.DEFAULT_TOLERANCE


def test_marker_values_reach_the_child(tmp_path: Path) -> None:
    env = runner_env(
        {"timeout": "3s", "wait": (0.1, 0.2), "warmup": 1, "duration": 5, "abort_on": "p95 > 2s over 2s windows"},
        tmp_path,
    )
    run = child_side(env)
    assert run.request_timeout_s == 3.0 and run.wait_range == (0.1, 0.2)
    assert run.settings.warmup_s == 1.0 and run.settings.result_file == str(tmp_path / "result.json")
    assert [parse_slo(rule) for rule in run.settings.abort_on] == [parse_slo("p95 > 2s over 2s windows")]
    assert run.scoring_path == "/score?v=2"
    assert run.auth_headers() == {"Authorization": f"Bearer {SECRET}"}


# --- RunSettings ------------------------------------------------------------------------------------


def test_run_settings_round_trip_through_the_environment() -> None:
    env = EVERY_FIELD.to_env()
    assert all(isinstance(value, str) for value in env.values())
    assert RunSettings.from_env(env) == EVERY_FIELD
    assert RunSettings.from_env(RunSettings("http://h/score").to_env()) == RunSettings("http://h/score")


def test_every_field_has_its_own_child_variable() -> None:
    """One variable per field, all under the wire's prefix; every field of EVERY_FIELD is set, so a
    field the codec forgets (or two fields sharing a variable) fails the round trip above."""
    env = EVERY_FIELD.to_env()
    assert set(env) == {setting_env(field.name) for field in dataclasses.fields(RunSettings)}
    assert all(name.startswith("AKSLOAD_CHILD_") for name in env)
    assert env["AKSLOAD_CHILD_WAIT_S"] == "[0.1, 0.2]" and env["AKSLOAD_CHILD_BATCH"] == "8"


def test_no_option_variable_can_be_read_as_a_child_setting() -> None:
    """The options' variables (`AKSLOAD_CONTRACT`, ...) and the wire's (`AKSLOAD_CHILD_CONTRACT`) never
    share a name, so a user's option never reads as a setting of the child, nor the other way round."""
    wire = {
        *EVERY_FIELD.to_env(),
        protocol.ENV_AUTH_HEADERS,
        protocol.ENV_AGAINST_AUTH_HEADERS,
        protocol.ENV_WORKER_HOME,
    }
    for option in OPTIONS:
        assert not option.env.startswith(protocol.CHILD_ENV_PREFIX), option.env
        assert option.env not in wire and option.legacy_env not in wire
    user = {option.env: "mlflow" for option in OPTIONS} | {"AKSLOAD_KEY": SECRET}
    child = RunSettings.from_env({**user, setting_env("scoring_uri"): "http://h/score"})
    assert child == RunSettings("http://h/score")


def test_stale_child_variables_in_the_parent_do_not_reach_the_child(tmp_path: Path) -> None:
    """A pytest run started from inside another run's child (or a user's shell) may hold
    `AKSLOAD_CHILD_*` variables: the child gets only this run's."""
    base = {setting_env("contract"): "stale:Contract", setting_env("objectives"): '["p95 < 1ms"]', "PATH": "/bin"}
    env = runner.child_environment(plan_settings({}, tmp_path), {}, tmp_path, base=base)
    run = child_side(env).settings
    assert run.contract == defaults.DEFAULT_CONTRACT and run.objectives == () and env["PATH"] == "/bin"


def test_the_secret_is_only_in_its_own_variable(tmp_path: Path) -> None:
    env = runner_env({}, tmp_path)
    holding = [name for name, value in env.items() if SECRET in value]
    assert holding == [protocol.ENV_AUTH_HEADERS]
    assert SECRET not in repr(child_side(env).settings)


def test_locust_config_does_not_leak_into_the_child(tmp_path: Path) -> None:
    env = runner.child_environment(
        plan_settings({}, tmp_path), {}, tmp_path, base={"LOCUST_USERS": "999", "PATH": "/bin"}
    )
    assert "LOCUST_USERS" not in env and env["PATH"] == "/bin" and env["HOME"] == str(tmp_path)


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        ("request_timeout_s", "ten", "AKSLOAD_CHILD_REQUEST_TIMEOUT_S must be a number, not 'ten'"),
        ("warmup_s", "-1", "AKSLOAD_CHILD_WARMUP_S must be a non-negative number, not '-1'"),
        ("window_s", "0", "AKSLOAD_CHILD_WINDOW_S must be a positive number, not '0'"),
        ("arrivals", "bursty", "AKSLOAD_CHILD_ARRIVALS must be one of constant, poisson, not 'bursty'"),
        ("abort_on", '{"p95": 1}', "AKSLOAD_CHILD_ABORT_ON must be a JSON list of strings"),
        ("wait_s", "[2, 1]", "AKSLOAD_CHILD_WAIT_S must be a JSON list [min, max] of non-negative numbers, min <= max"),
        ("wait_s", "1.5", "AKSLOAD_CHILD_WAIT_S must be a JSON list [min, max]"),
        ("wait_s", "[-1, 1]", "AKSLOAD_CHILD_WAIT_S must be a JSON list [min, max]"),
    ],
)
def test_bad_settings_name_the_variable(field: str, raw: str, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        RunSettings.from_env({setting_env("scoring_uri"): "http://h/score", setting_env(field): raw})
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_abort_rules_travel_as_their_canonical_text() -> None:
    rules = [parse_slo("failure_rate > 50% over 10s windows"), parse_slo("p99.9 >= 1.5s")]
    settings = RunSettings("http://h/score", abort_on=tuple(str(rule) for rule in rules))
    assert [parse_slo(rule) for rule in RunSettings.from_env(settings.to_env()).abort_on] == rules


# --- remote workers ---------------------------------------------------------------------------------


def test_remote_worker_gets_its_share_and_nothing_of_the_masters_machine() -> None:
    headers = {"Authorization": f"Bearer {SECRET}"}
    sample = SampleRows([{"a": 1}, {"a": 2}], expected=[0.5, None], labels=None)
    message = protocol.run_config_message(EVERY_FIELD, headers, sample, workers=5)
    assert SECRET not in json.dumps(message["settings"])  # the secret travels in "headers" only
    settings, got_headers, got_sample = protocol.read_run_config(json.loads(json.dumps(message)))
    assert got_headers == headers and got_sample == sample
    assert (settings.contract, settings.batch, settings.tolerance, settings.deployment) == (
        "/abs/contracts.py:Mine",
        8,
        0.001,
        "blue",
    )
    assert settings.rate == EVERY_FIELD.rate / 5
    assert (settings.scoring_uri, settings.warmup_s, settings.window_s) == ("https://example.test/score", 2.5, 0.5)
    assert (settings.request_timeout_s, settings.wait_s, settings.arrivals) == (3.0, (0.1, 0.2), "poisson")
    assert settings.window_detail
    # Paths and what only the master does stay with the master.
    assert settings.rows_file is settings.result_file is settings.ca_bundle is settings.run_time_s is None
    assert settings.abort_on == () and not settings.stream_windows
    assert settings.against_uri is settings.against_deployment is None and settings.objectives == ()
    assert settings.progress_s == defaults.DEFAULT_PROGRESS_S


def test_a_run_config_without_rows_is_refused() -> None:
    message = protocol.run_config_message(EVERY_FIELD, {}, SampleRows([{"a": 1}]), workers=1)
    with pytest.raises(ProtocolError, match="no usable sample"):
        protocol.read_run_config({**message, "sample": {"rows": []}})


def test_the_rows_file_carries_rows_expectations_and_labels() -> None:
    sample = SampleRows([{"a": 1}, {"a": None}], expected=[0.25, None], labels=[1.0, 0.0])
    assert protocol.decode_rows_file(protocol.encode_rows_file(sample)) == sample
    assert protocol.decode_rows_file('[{"a": 1}]') == SampleRows([{"a": 1}])  # a plain list: rows only
    for text, problem in [
        ('{"rows": []}', "non-empty list"),
        ('{"rows": [{"a": 1}], "expected": [1, 2]}', "one number or null per row"),
        ('{"rows": [{"a": 1}], "labels": ["x"]}', "numbers or null"),
        ("not json", "not JSON"),
    ]:
        with pytest.raises(ProtocolError, match=problem):
            protocol.decode_rows_file(text)


@pytest.mark.parametrize("raw", ["0", "-2", "1.5", "x"])
def test_a_bad_batch_in_the_environment_is_named(raw: str) -> None:
    with pytest.raises(ProtocolError, match="AKSLOAD_CHILD_BATCH must be a whole number >= 1"):
        RunSettings.from_env({**RunSettings("http://h/score").to_env(), setting_env("batch"): raw})


# --- lines on stdout and stdin ------------------------------------------------------------------------


def test_progress_line_round_trip() -> None:
    progress = Progress(elapsed_s=4.0, users=3, requests=120, failures=2, rps=30.5, p95_ms=None, warmup=True)
    line = protocol.encode_progress(progress)
    assert line.startswith(protocol.PROGRESS_PREFIX) and "\n" not in line
    assert protocol.decode_progress(line) == progress
    assert protocol.decode_progress(protocol.PROGRESS_PREFIX + '{"users": 1}') is None
    assert protocol.decode_progress("Locust's own output") is None


def test_window_line_round_trip() -> None:
    window: result_schema.Window = {
        "index": 2,
        "start_offset_s": 2.0,
        "duration_s": 1.0,
        "requests": 0,
        "failures": 0,
        "histogram": None,
    }
    assert protocol.decode_window(protocol.encode_window(window)) == window
    assert protocol.decode_window(protocol.WINDOW_PREFIX + '{"index": "two"}') is None


def test_control_lines() -> None:
    assert protocol.decode_control_line(protocol.STOP_LINE) == Control(stop=True)
    headers = {"Authorization": f"Bearer {SECRET}"}
    control = protocol.decode_control_line(protocol.encode_headers_line(headers))
    assert control == Control(headers=headers) and SECRET not in repr(control)
    for line in (b"not json " + SECRET.encode(), json.dumps({"headers": [SECRET]}).encode()):
        with pytest.raises(ProtocolError) as info:
            protocol.decode_control_line(line)
        assert SECRET not in str(info.value)


# --- the result file --------------------------------------------------------------------------------


def minimal_result(**changes: Any) -> dict[str, Any]:
    stats = {**Latencies().to_dict(), "failures": 0}
    data = {
        "format": result_schema.RESULT_FORMAT,
        "complete": True,
        "started_at": 1.0,
        "measure_start": 1.0,
        "ended_at": 2.0,
        "warmup_s": 0,
        "window_s": 1,
        "users_peak": 1,
        "generator": {"cpu_percent": None, "locust": None, "loop_lag_ms": {"p50": None}},
        "total": stats,
        "endpoints": {},
        "windows": [],
        "errors": [],
    }
    return {**data, **changes}


def test_the_result_file_definition_accepts_what_the_recorder_writes() -> None:
    result_schema.check_result(minimal_result())
    result_schema.check_result(minimal_result(aborted={"rule": "p95 > 1s", "reason": "held", "at_s": 3}))
    result_schema.check_result(minimal_result(aborted=None, schedule={"intended": 3, "max_lag_ms": 1.5}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"users_peak": 1.5}, "result.users_peak has the wrong type (float)"),
        ({"complete": 1}, "result.complete has the wrong type (int)"),
        ({"generator": {"cpu_warning": "no"}}, "result.generator.cpu_warning has the wrong type (str)"),
        ({"aborted": {"rule": "p95 > 1s"}}, "result.aborted has the wrong type (dict)"),
        ({"windows": [{"index": 0}]}, "result.windows[0] lacks 'start_offset_s'"),
        ({"endpoints": {"POST /score": []}}, "result.endpoints['POST /score'] must be an object, not list"),
        ({"errors": [{"kind": "http", "status": 500, "message": "m", "count": 1, "x": 0}]}, "unknown fields ['x']"),
    ],
)
def test_the_result_file_definition_rejects(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(message)):
        result_schema.check_result(minimal_result(**changes))
    with pytest.raises(ResultFileError):  # the parser uses the same definition
        LoadResult.from_dict(minimal_result(**changes))
