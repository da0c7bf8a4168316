"""Load tests never overlap in time under pytest-xdist, a result says which other tests ran during
its load, and the session summary has every worker's load tests (real workers, real Locust
children, a loopback scoring server)."""

from __future__ import annotations

import itertools
import json
import os

import pytest
from loopback_servers import ScoringServer

GATES = """
import json, os, time, pytest

def _dump(request, result):
    name = request.node.name + ".json"
    with open(os.path.join(os.environ["RESULT_DUMPS"], name), "w") as out:
        json.dump({"started_at": result.started_at, "ended_at": result.ended_at,
                   "overlapping_tests": result.overlapping_tests}, out)

def test_busy(criteo_payload):
    assert set(criteo_payload) >= {"int00", "cat25"}  # a plain test gets the plugin's fixtures too
    # A plain test running beside the loads (first: xdist hands it out at once) until two have
    # dumped their results: the second queued for the lock until the first one's load ended, so it
    # ran entirely while this test did, whatever the host's speed. Bounded, like every wait.
    deadline = time.monotonic() + 120
    while len(os.listdir(os.environ["RESULT_DUMPS"])) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)

@pytest.mark.load_test(users=3, spawn_rate=50, duration="2s", wait=(0.02, 0.05), rows=5)
@pytest.mark.parametrize("n", range(3))
def test_load(request, load_result, n):
    _dump(request, load_result)
"""


def test_load_tests_never_overlap_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gates=GATES)
    dumps = pytester.path / "dumps"
    dumps.mkdir()
    os.environ["RESULT_DUMPS"] = str(dumps)
    try:
        with ScoringServer(delays_s=[0.005]) as server:
            run = pytester.runpytest_subprocess("-n", "4", "--aks-scoring-uri", server.url, "-p", "no:cacheprovider")
    finally:
        del os.environ["RESULT_DUMPS"]
    run.assert_outcomes(passed=4)
    # The controller's session summary has the verdict of each load test run by a worker.
    run.stdout.fnmatch_lines(["*aksload load tests*"])
    for n in range(3):
        run.stdout.fnmatch_lines([f"*test_load[[]{n}[]]*PASS*"])
    runs = [json.loads(path.read_text()) for path in sorted(dumps.iterdir())]
    assert len(runs) == 3
    for first, second in itertools.combinations(sorted(runs, key=lambda r: r["started_at"]), 2):
        assert first["ended_at"] <= second["started_at"], (first, second)
    # The plain test ran beside some load, and the result says so. (A queued load test's own setup,
    # e.g. loading the Criteo sample, may be listed too: that is CPU work beside the load as well.)
    seen = {nodeid for r in runs for nodeid in r["overlapping_tests"]}
    assert "test_gates.py::test_busy" in seen, runs
