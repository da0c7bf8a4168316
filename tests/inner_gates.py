"""Inner gates for tests that drive the plugin as a user does (`pytester`): one test file holding one
`load_test` gate with the given marker arguments and body."""

from __future__ import annotations

import pytest


def write_gate(pytester: pytest.Pytester, marker: str, body: str = "pass") -> None:
    """`test_gate.py` with `@pytest.mark.load_test(<marker>)` on a test whose body is `body` (it may
    use `load_result`; indent continuation lines by four spaces)."""
    pytester.makepyfile(
        test_gate=f"""
import pytest

@pytest.mark.load_test({marker})
def test_gate(load_result):
    {body}
"""
    )
