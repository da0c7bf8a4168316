"""Bad input: every option, ini key, marker argument and SLO string is rejected with one line that
names the bad part and the accepted form, before any load runs, without a traceback.

tests/unit/test_slo.py and tests/unit/test_units.py fuzz the parsers themselves, and
tests/unit/test_bad_input_fuzz.py what the plugin calls (`profile_from_marker`, `settings.resolve`).
"""

from __future__ import annotations

import pytest

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
    monkeypatch.setenv("AKSLOAD_REQUEST_TIMEOUT", "-3s")
    pytester.makepyfile(test_bad_marker_gate=GATE.format(marker=""))
    run = pytester.runpytest()
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    _assert_one_line_no_traceback(run, "(from environment variable AKSLOAD_REQUEST_TIMEOUT); expected seconds")


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


def test_each_bad_marker_argument_is_a_collection_error(pytester: pytest.Pytester) -> None:
    """One gate file per case, collected in one run: each file's error names its own test and argument."""
    for index, (marker, _expected) in enumerate(MARKER_CASES):
        pytester.makepyfile(**{f"test_bad_marker_gate_{index}": GATE.format(marker=marker)})
    # A target that would accept load: the point is that none is sent (collection stops first).
    run = pytester.runpytest("--aks-scoring-uri", "http://127.0.0.1:9/score")
    assert run.ret == pytest.ExitCode.INTERRUPTED  # errors during collection: nothing ran
    run.assert_outcomes(errors=len(MARKER_CASES))
    for index, (_marker, expected) in enumerate(MARKER_CASES):
        where = f"test_bad_marker_gate_{index}.py::test_gate"
        _assert_one_line_no_traceback(run, f"{where}: @pytest.mark.load_test: {expected}")
    assert "def test_gate" not in run.stdout.str()  # no source excerpt either
