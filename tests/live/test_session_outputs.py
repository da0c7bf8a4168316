"""Session-level outputs that must not depend on pytest's terminal, and the gate's answer to
--aks-compare baselines that lack tests and to a run that measured nothing. Inner pytest runs
(real Locust children) against loopback scoring servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from loopback_servers import ScoringServer
from synthetic_results import steady_result

from pytest_aksload.verdicts import baseline

GATES = """
import pytest

@pytest.mark.load_test(users=2, spawn_rate=50, duration="1s", wait=(0.02, 0.05), rows=2)
def test_a(load_result):
    pass

@pytest.mark.load_test(users=2, spawn_rate=50, duration="1s", wait=(0.02, 0.05), rows=2)
def test_b(load_result):
    pass
"""


def _run(pytester: pytest.Pytester, *options: str, delays_s: list[float] | None = None) -> pytest.RunResult:
    with ScoringServer(delays_s=delays_s or [0.005]) as server:
        return pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider", *options)


def test_baseline_and_report_are_written_without_the_terminal_reporter(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gates=GATES)
    run = _run(pytester, "-p", "no:terminal", "--aks-save-baseline", "base.json", "--aks-report", "report")
    assert run.ret == 0, run.stderr.str()
    stored = json.loads((pytester.path / "base.json").read_text())
    assert sorted(stored["tests"]) == ["test_gates.py::test_a", "test_gates.py::test_b"]
    summary = json.loads((pytester.path / "report" / "summary.json").read_text())
    assert [(test["nodeid"], test["verdict"]) for test in summary["tests"]] == [
        ("test_gates.py::test_a", "PASS"),
        ("test_gates.py::test_b", "PASS"),
    ]
    assert all(test["metrics"]["requests"] > 0 for test in summary["tests"])


def test_compare_warns_per_missing_entry_and_fails_when_it_compared_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gates=GATES)
    # A baseline saved when only test_a existed (what is in it does not matter here: there are no
    # tolerances; saving a real one is checked above, without the terminal).
    base = str(pytester.path / "base.json")
    baseline.save(base, [{"nodeid": "test_gates.py::test_a", "profile": "-", "result": steady_result(5_000).to_dict()}])

    partly = _run(pytester, "--aks-compare", base)
    partly.assert_outcomes(passed=2, warnings=1)
    assert partly.ret == 0
    partly.stdout.fnmatch_lines(
        [
            f"*baseline {base} has no entry for test_gates.py::test_b: nothing compared*",
            f"aksload: compared 1 of 2 load test(s) with baseline {base}",
        ]
    )

    # Only tests the baseline does not know: a regression gate that compared nothing must not pass.
    nothing = _run(pytester, "-k", "test_b", "--aks-compare", base)
    nothing.assert_outcomes(passed=1, deselected=1, warnings=1)
    assert nothing.ret == pytest.ExitCode.TESTS_FAILED
    nothing.stdout.fnmatch_lines(
        [
            "aksload: compared 0 of 1 load test(s) with baseline *",
            "aksload: --aks-compare *: none of this session's 1 load test(s) has an entry in the baseline, "
            "*its entries: test_gates.py::test_a.*",
        ]
    )
    quiet = _run(pytester, "-k", "test_b", "--aks-compare", base, "-p", "no:terminal")
    assert quiet.ret == pytest.ExitCode.TESTS_FAILED
    quiet.stderr.fnmatch_lines(["aksload: --aks-compare *its entries: test_gates.py::test_a.*"])


def test_a_load_that_measured_no_request_fails_clearly_with_a_valid_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_empty="""
        import pytest

        @pytest.mark.load_test(users=2, spawn_rate=50, duration="3s", warmup="2.5s", timeout="6s", rows=2)
        def test_empty(load_result):
            pass
        """
    )
    # Pre-flight (the first request) is answered at once; every later one takes 4 s, so the users'
    # first requests start in the warm-up and the run is over before any second one starts.
    run = _run(pytester, "--aks-report", "report", delays_s=[0.0] + [4.0] * 50)
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(
        ["*the load measured 0 requests: no request that started after the 2.5s warm-up completed*"]
    )
    summary = json.loads((Path(pytester.path) / "report" / "summary.json").read_text())
    (test,) = summary["tests"]
    assert test["verdict"] == "FAIL" and test["metrics"]["requests"] == 0 and test["metrics"]["p95_ms"] is None
