"""tests/ci_skips.py: in CI a skip fails the session unless tests/ci_allowed_skips.txt allows its reason."""

from __future__ import annotations

import pytest

SKIPS = """
import sys, pytest

def test_chromium():
    pytest.skip("needs Debian's chromium (apt-get install chromium) to render the page")

@pytest.mark.skipif(True, reason="PR_SET_PDEATHSIG is Linux only")
def test_platform():
    pass

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
"""


@pytest.fixture
def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["ci_skips"]')
    pytester.makepyfile(test_skips=SKIPS)
    monkeypatch.delenv("CI_NO_SKIPS", raising=False)
    return pytester


def test_in_ci_a_skip_for_something_ci_provides_fails_the_session(
    session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    run = session.runpytest_inprocess("-p", "no:cacheprovider")
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    run.stdout.fnmatch_lines(["*skips CI must not have*", "test_skips.py::test_chromium: needs Debian's chromium*"])
    assert "test_platform:" not in run.stdout.str() and "test_known_bug:" not in run.stdout.str()


def test_with_ci_no_skips_even_an_allowed_skip_fails(session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("CI_NO_SKIPS", "1")
    run = session.runpytest_inprocess("-p", "no:cacheprovider")
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    run.stdout.fnmatch_lines(["test_skips.py::test_platform: PR_SET_PDEATHSIG is Linux only"])


def test_outside_ci_skips_are_only_skips(session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    run = session.runpytest_inprocess("-p", "no:cacheprovider")
    assert run.ret == pytest.ExitCode.OK
    run.assert_outcomes(skipped=2, xfailed=1)
