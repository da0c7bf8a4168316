"""Capacity search (`capacity=`): against a loopback service whose capacity is known by
construction, the plugin finds it. An inner pytest run, real Locust children, a real server.

How close the found rate comes to the truth depends on the host (2 s steps on a busy machine):
bench/capacity_search.py measures that over repeated runs. Here the bounds hold by construction."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean

import pytest
from loopback_servers import ScoringServer

from pytest_aksload.run.capacity import MIN_THROUGHPUT
from pytest_aksload.verdicts.gated import GatedResult

SLOTS = 4
SERVICE_S = 0.04  # 4 slots x 40 ms: about 100 requests per second, no more


def test_capacity_search_finds_the_known_capacity(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESULT_DUMP", str(tmp_path / "result.json"))
    pytester.makepyfile(
        """
        import os, pytest

        @pytest.mark.load_test(
            capacity={"start": 40, "step": "2s", "hold": "4s", "precision": 0.2, "max_duration": "100s"},
            slo="p95 < 100ms",
            timeout="2s",
        )
        def test_capacity(load_result):
            with open(os.environ["RESULT_DUMP"], "w") as out:
                out.write(load_result.to_json())
            assert load_result.capacity_rps >= 50
        """
    )
    with ScoringServer(delays_s=(SERVICE_S,), slots=SLOTS) as server:
        run = pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider")
        # The truth: slots / the service time the server actually spent (sleep overshoot included).
        true_capacity = SLOTS / mean(r.delay_s for r in server.scoring_requests())
    run.assert_outcomes(passed=1)
    result = GatedResult.from_dict(json.loads((tmp_path / "result.json").read_text()))
    assert result.capacity is not None and result.capacity_rps is not None
    # A step passes only if the service completed >= 90 % of the offered rate, and it cannot complete
    # more than its capacity: the rate found is at most capacity / 0.9 (+ the requests in flight at
    # a 2 s step's edges); at least 50 rps, the inner test's own assertion.
    assert 50 <= result.capacity_rps <= (true_capacity + SLOTS / 2) / MIN_THROUGHPUT
    steps = result.capacity["steps"]
    # It ramped past the capacity, bisected (to 20 %: the bounds above hold at any precision, and
    # each bisection step is a Locust child of its own), and confirmed the rate it reports, within its budget.
    assert [s["phase"] for s in steps][:2] == ["ramp", "ramp"] and not steps[-1]["violated"]
    assert "bisect" in [s["phase"] for s in steps]
    assert steps[-1]["phase"] == "confirm" and steps[-1]["rate"] == result.capacity_rps
    assert any(not s["passed"] for s in steps) and not result.capacity["bounded"]
    # The result handed to the test is the confirmation run, which passed: it completed >= 90 % of
    # the rate it was offered and met the SLO. (How far that rate is from the truth is host-bound:
    # bench/capacity_search.py.)
    confirmed = steps[-1]
    assert confirmed["passed"] and (result.rps, result.p95_ms) == pytest.approx((confirmed["rps"], confirmed["p95_ms"]))
    assert result.rps >= MIN_THROUGHPUT * result.capacity_rps and result.p95_ms < 100
