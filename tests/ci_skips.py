"""In CI (the environment variable CI is set), a skipped test fails the session unless its reason is
one tests/ci_allowed_skips.txt allows: a skip for something CI is supposed to provide (Chromium,
the local service, the docs extra, pyarrow) would otherwise pass a landing silently.

With CI_NO_SKIPS also set (the third-party model server environments, which exist to run the
tests that skip elsewhere), no skip at all is allowed. Module-level skips (importorskip at import)
are collection reports, so the check reads every skip the terminal reporter counted."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

import pytest

ALLOWED = Path(__file__).with_name("ci_allowed_skips.txt")


def allowed_patterns() -> list[str]:
    """The reasons (fnmatch patterns) a test may skip for in CI: the file's lines bar comments."""
    if os.environ.get("CI_NO_SKIPS"):
        return []
    lines = (line.strip() for line in ALLOWED.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def unexpected_skips(reports: list[pytest.CollectReport | pytest.TestReport], patterns: list[str]) -> list[str]:
    """`nodeid: reason` of every skip no pattern allows (xfails are not skips)."""
    unexpected = []
    for report in reports:
        if getattr(report, "wasxfail", None) is not None:
            continue
        reason = skip_reason(report)
        if not any(fnmatch.fnmatchcase(reason, pattern) for pattern in patterns):
            unexpected.append(f"{report.nodeid}: {reason}")
    return unexpected


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or hasattr(session.config, "workerinput"):  # an xdist worker: the controller checks
        return
    unexpected = unexpected_skips(reporter.stats.get("skipped", []), allowed_patterns())
    if unexpected:
        reporter.ensure_newline()
        reporter.section("skips CI must not have (tests/ci_allowed_skips.txt lists the allowed ones)", red=True)
        for line in unexpected:
            reporter.line(line, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
