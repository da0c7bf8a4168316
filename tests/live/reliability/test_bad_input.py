"""Bad input: every option, ini key, marker argument and SLO string is rejected with one line that
names the bad part and the accepted form, before any load runs, without a traceback.

tests/test_slo.py and tests/test_units.py fuzz the parsers themselves; here the fuzzing goes
through what the plugin calls: `profile_from_marker` (marker arguments, SLOs and durations
included) and `settings.resolve` (every option, from the command line, environment and ini).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_aksload.config.profile import ACCEPTED_ARGUMENTS, LoadProfile, ProfileError, profile_from_marker
from pytest_aksload.config.settings import OPTIONS, Settings, resolve

# -- end to end: what a user sees ------------------------------------------------------------

GATE = """
import pytest

@pytest.mark.load_test({marker})
def test_gate(load_result):
    pass
"""

OPTION_CASES = [
    (["--aks-users", "-1"], "--aks-users: cannot use '-1' (from --aks-users); expected a whole number >= 1"),
    (
        ["--aks-spawn-rate", "fast"],
        "--aks-spawn-rate: cannot use 'fast' (from --aks-spawn-rate); expected a number > 0",
    ),
    (["--aks-duration", "5 parsecs"], "--aks-duration: cannot use '5 parsecs' (from --aks-duration); expected seconds"),
    (["--aks-scoring-uri", "ftp://x/score"], "--aks-scoring-uri: cannot use 'ftp://x/score' (from --aks-scoring-uri)"),
    (
        ["--aks-ca-bundle", "/no/such.pem"],
        "--aks-ca-bundle: cannot use '/no/such.pem' (from --aks-ca-bundle); expected",
    ),
    (["--aks-users", "3", "--aks-local", "--aks-scoring-uri", "http://127.0.0.1:1/score"], "choose one target"),
]


def _assert_one_line_no_traceback(run: pytest.RunResult, expected: str) -> None:
    text = "\n".join(run.outlines + run.errlines)
    lines = [line for line in text.splitlines() if expected in line]
    assert lines, text
    assert "Traceback" not in text and "raise " not in text, text


@pytest.mark.parametrize(("args", "expected"), OPTION_CASES, ids=[c[0][0] for c in OPTION_CASES])
def test_bad_option_is_a_usage_error(pytester: pytest.Pytester, args: list[str], expected: str) -> None:
    pytester.makepyfile(test_bad_marker_gate=GATE.format(marker=""))
    run = pytester.runpytest(*args)
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    _assert_one_line_no_traceback(run, expected)


def test_bad_environment_variable_names_its_source(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKS_REQUEST_TIMEOUT", "-3s")
    pytester.makepyfile(test_bad_marker_gate=GATE.format(marker=""))
    run = pytester.runpytest()
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    _assert_one_line_no_traceback(run, "(from environment variable AKS_REQUEST_TIMEOUT); expected seconds")


def test_bad_ini_key_names_its_source(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naks_key_env = 1-not-a-name\n")
    pytester.makepyfile(test_bad_marker_gate=GATE.format(marker=""))
    run = pytester.runpytest()
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    _assert_one_line_no_traceback(run, "ini key aks_key_env: cannot use '1-not-a-name' (from ini key aks_key_env)")


MARKER_CASES = [
    ("users=0", "users=0: expected a whole number >= 1"),
    ('duration="forever"', "duration='forever': duration: cannot read 'forever'"),
    ("wait=(2, 1)", "wait=(2, 1): expected (min_s, max_s) with 0 <= min_s <= max_s"),
    ('locustfile="missing.py"', "locustfile='missing.py': no such .py file"),
    ("workers_count=3", "unknown argument 'workers_count'; accepted: users, spawn_rate"),
    ('slo="p95 < 300 parsecs"', "slo: "),
    ('slo="latency < 300ms"', "slo: "),
    ('slo={"p95": 3}', "slo: "),
]


@pytest.mark.parametrize(("marker", "expected"), MARKER_CASES, ids=[c[0] for c in MARKER_CASES])
def test_bad_marker_argument_is_a_collection_error(pytester: pytest.Pytester, marker: str, expected: str) -> None:
    pytester.makepyfile(test_bad_marker_gate=GATE.format(marker=marker))
    # A target that would accept load: the point is that none is sent (collection stops first).
    run = pytester.runpytest("--aks-scoring-uri", "http://127.0.0.1:9/score")
    assert run.ret == pytest.ExitCode.INTERRUPTED  # "1 error during collection": nothing ran
    _assert_one_line_no_traceback(run, f"test_bad_marker_gate.py::test_gate: @pytest.mark.load_test: {expected}")
    assert "def test_gate" not in run.stdout.str()  # no source excerpt either


# -- fuzzed: the functions the plugin calls ---------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["90s", "1m", "1h30m", "0", "-1s", "1e999", "p95 < 300ms", "failure_rate < 1%", "rps >= 10"]),
)
_values = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=3),
    st.tuples(_scalars, _scalars),
    st.dictionaries(st.text(max_size=12), _scalars, max_size=3),
)
_names = st.one_of(st.sampled_from(ACCEPTED_ARGUMENTS), st.text(min_size=1, max_size=12))


def _one_line(message: str) -> None:
    assert message and "\n" not in message, repr(message)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kwargs=st.dictionaries(_names, _values, max_size=4))
def test_fuzzed_marker_arguments_give_a_profile_or_one_line(kwargs: dict[str, Any]) -> None:
    try:
        profile = profile_from_marker((), kwargs, Settings(), Path.cwd())
    except ProfileError as error:
        message = str(error)
        _one_line(message)
        named = [name for name in kwargs if message.startswith((f"{name}=", f"{name}:", f"unknown argument {name!r}"))]
        assert named or message.startswith("slo:"), message
    else:
        assert isinstance(profile, LoadProfile)
        assert profile.users >= 1 and profile.duration_s > 0 and 0 <= profile.warmup_s < profile.duration_s


class _Config:
    """What `settings.resolve` reads of a pytest config: option values and ini values."""

    def __init__(self, cli: dict[str, str], ini: dict[str, str]) -> None:
        self._cli, self._ini = cli, ini

    def getoption(self, name: str, default: Any = None) -> Any:
        return self._cli.get(name, default)

    def getini(self, name: str) -> str:
        return self._ini.get(name, "")


@settings(max_examples=300, deadline=None)
@given(
    option=st.sampled_from(OPTIONS),
    source=st.sampled_from(["cli", "env", "ini"]),
    raw=st.one_of(st.text(max_size=40), st.sampled_from(["-1", "0", "1e999", "nan", "90s", "http://h/s", "yes"])),
)
def test_fuzzed_option_values_give_settings_or_one_usage_line(option: Any, source: str, raw: str) -> None:
    if source == "cli" and not option.cli:
        source = "ini"
    if "\x00" in raw:  # cannot reach an option: not in argv, env or an ini file
        return
    cli = {option.name: raw} if source == "cli" else {}
    env = {option.env: raw} if source == "env" else {}
    ini = {option.name: raw} if source == "ini" else {}
    try:
        resolved = resolve(_Config(cli, ini), environ=env)  # type: ignore[arg-type]
    except pytest.UsageError as error:
        message = str(error)
        _one_line(message.replace(repr(raw), "RAW"))  # the quoted value itself may hold a newline escape
        assert option.flag in message or f"ini key {option.name}" in message, message
    else:
        assert isinstance(resolved, Settings)
