"""Inner gates for tests that drive the plugin as a user does (`pytester`): one test file holding one
`load_test` gate with the given marker arguments and body."""

from __future__ import annotations

import re

import pytest


def write_gate(pytester: pytest.Pytester, marker: str, body: str = "pass") -> None:
    """`test_gate.py` with `@pytest.mark.load_test(<marker>)` on a test whose body is `body` (it may
    use `load_result`; indent continuation lines by four spaces)."""
    pytester.makepyfile(
        test_gate=f"""
import re

import pytest

@pytest.mark.load_test({marker})
def test_gate(load_result):
    {body}
"""
    )


# An inner run given these reports every phase's duration (even under 5 ms), which `phase_s` reads:
# a phase of the run measured alone, without the inner pytest's start-up and the child's teardown.
DURATIONS = ("--durations=0", "--durations-min=0")


def phase_s(run: pytest.RunResult, phase: str, test: str = "test_gate") -> float:
    """Seconds `phase` (setup, call or teardown) of the test function `test` took in an inner run
    given DURATIONS."""
    pattern = re.compile(rf"(\d+\.\d+)s {phase} +\S+::{re.escape(test)}")
    for line in run.outlines:
        found = pattern.fullmatch(line.strip())
        if found:
            return float(found.group(1))
    raise AssertionError(f"no {phase} duration of {test} in the inner run's output:\n" + "\n".join(run.outlines))
