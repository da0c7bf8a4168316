"""Bad input, fuzzed through what the plugin calls: `profile_from_marker` (marker arguments, SLOs
and durations included) and `settings.resolve` (every option, from the command line, environment
and ini) give a valid result or one line naming the bad part. What a user sees end to end is in
tests/live/reliability/test_bad_input.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_aksload.config.options import OPTIONS
from pytest_aksload.config.profile import ACCEPTED_ARGUMENTS, LoadProfile, ProfileError, profile_from_marker
from pytest_aksload.config.settings import Settings, resolve

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
    # Printable: no newline, carriage return, line separator or other control character (user
    # text in a message is quoted with repr(), which escapes them).
    assert message and message.isprintable(), repr(message)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kwargs=st.dictionaries(_names, _values, max_size=4))
@example(kwargs={"locustfile": "0\n"})  # found by a local run: the path was printed with its newline
@example(kwargs={"contract": "x\u2028.py:C"})  # the contract file's path, likewise
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
        self.rootpath = Path.cwd()  # where relative model files of --aks-local-deployments are looked for

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
