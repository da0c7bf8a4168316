"""The payload fixtures decide what the load sends: `aks_payloads` is `criteo_payload` followed by
`rows - 1` more sample rows, a conftest that overrides `criteo_payload` changes the body of the
pre-flight and of the load, and `rows=` sets how many bodies the users cycle through. Inner pytest
runs against a loopback server that keeps every body it received."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from loopback_servers import ScoringServer

from pytest_aksload.data import criteo

OVERRIDE = {"int00": 7, "cat00": "0badc0de", "note": "from the user's conftest"}

GATE = """
import json, os, pytest

@pytest.mark.load_test(users=2, spawn_rate=20, duration="2s", wait=(0.01, 0.02), timeout="2s", rows={rows})
def test_gate(load_result, aks_payloads, criteo_payload):
    with open(os.environ["FIXTURE_DUMP"], "w") as out:
        json.dump({{"aks_payloads": aks_payloads, "criteo_payload": criteo_payload}}, out)
"""

CONFTEST = f"""
import pytest

@pytest.fixture
def criteo_payload():
    return {OVERRIDE!r}
"""


@pytest.mark.parametrize(("override", "rows"), [(True, 1), (False, 4), (True, 3)], ids=["override", "rows", "both"])
def test_the_load_sends_exactly_the_payload_fixtures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, override: bool, rows: int
) -> None:
    dump = tmp_path / "fixtures.json"
    monkeypatch.setenv("FIXTURE_DUMP", str(dump))
    if override:
        pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_gate=GATE.format(rows=rows))
    with ScoringServer() as server:
        run = pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider")
        received = server.scoring_requests()
    run.assert_outcomes(passed=1)

    sample = criteo.payloads(criteo.load_sample(), rows)
    first = OVERRIDE if override else sample[0]
    expected = [first, *sample[1:]]
    fixtures = json.loads(dump.read_text())
    assert fixtures == {"aks_payloads": expected, "criteo_payload": first}

    bodies = [json.loads(request.body) for request in received]
    preflight, load = bodies[0], bodies[1:]
    assert preflight == first
    # Each of the 2 users cycles through all the bodies, so 2 x rows requests send every one of them.
    assert len(load) >= 2 * rows
    assert set(map(_canonical, load)) == set(map(_canonical, expected))


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)
