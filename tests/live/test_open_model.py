"""Open-model load (`rate=`): requests on a schedule, latency from the intended send time.
Inner pytest runs, a real Locust child, a loopback scoring server that stalls on purpose."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from loopback_servers import ScoringServer

from pytest_aksload.stats.result import LoadResult

DUMP_RESULT = """
import os, pytest

@pytest.mark.load_test({marker})
def test_load(load_result):
    with open(os.environ["RESULT_DUMP"], "w") as out:
        out.write(load_result.to_json())
"""


def _run(pytester: pytest.Pytester, tmp_path: Path, server: ScoringServer, marker: str) -> tuple[LoadResult, str]:
    pytester.makepyfile(test_dump=DUMP_RESULT.format(marker=marker))
    run = pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider")
    run.assert_outcomes(passed=1)
    return LoadResult.from_dict(json.loads((tmp_path / "result.json").read_text())), run.stdout.str()


def test_corrected_latency_shows_a_stall_that_the_uncorrected_one_hides(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESULT_DUMP", str(tmp_path / "result.json"))
    # One slot: request 60 (about 1.2 s into the load at 50/s) holds the whole service for 2 s,
    # a stop-the-world pause. Two users are the pool, as in a closed-model test: both are stuck
    # during the pause, so the ~100 requests due meanwhile go out late, after it.
    delays = [0.001] * 400
    delays[60] = 2.0
    with ScoringServer(delays_s=delays, slots=1) as server:
        result, out = _run(pytester, tmp_path, server, 'rate=50, users=2, duration="5s", timeout="5s"')
    assert result.uncorrected is not None and result.schedule is not None
    # About 250 requests were scheduled and ~100 of them waited behind the pause: the corrected
    # p99 (from the intended send time) shows it...
    assert 200 <= result.schedule["intended"] <= 260, result.schedule  # 50/s over the 5 s run
    assert result.p99_ms > 1000
    # ...the uncorrected one (from the actual send) sees only the two requests caught in it.
    assert result.uncorrected.p99_ms < 500
    assert result.uncorrected.max_ms > 1000
    # The run says it could not keep the schedule, and why.
    assert result.schedule["backlogged"] > 50
    assert "arrival schedule was not kept" in out and "waited for a free user (pool 2)" in out


def test_rate_is_kept_with_a_pool_sized_automatically(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How punctually a busy host sends each request (late by > 20 ms, waiting for a user while
    the pool spawns) is measured by bench/open_model_schedule.py, and what the plugin says about
    a schedule it was given is checked in tests/unit/test_arrivals.py; here, what holds on any host."""
    monkeypatch.setenv("RESULT_DUMP", str(tmp_path / "result.json"))
    # A service whose latency (40 ms) exceeds the 25 ms between arrivals: a closed model with
    # one user would send at most 25/s; the open model must still send 40/s.
    with ScoringServer(delays_s=(0.04,)) as server:
        # 5 s: spawning the 400-user pool at once takes up to a second on a busy 2-core box, and the
        # measured interval includes it.
        result, _ = _run(pytester, tmp_path, server, 'rate=40, arrivals="poisson", duration="5s", slo="p95 < 1s"')
    schedule = result.schedule
    assert schedule is not None and schedule["pool"] == 400  # rate x the 10 s timeout
    # The schedule, not the service, set the pace: 40 arrivals a second over the run (Poisson: 30 %
    # is over 4 standard deviations of a 5 s count), each sent but for those the stop cut.
    assert schedule["intended"] == pytest.approx(40 * (result.ended_at - result.started_at), rel=0.3), schedule
    assert schedule["intended"] - schedule["missed"] - 4 <= schedule["sent"] <= schedule["intended"], schedule
    # A closed model with one user would send at most 25/s against this service.
    assert result.rps > 25, (result.rps, schedule, result.duration_s)
    # The pool is far larger than 40/s x 40 ms needs: no request is left waiting for a user at the end.
    assert schedule["missed"] <= 2
    # Corrected latency = uncorrected + how late the request went out (0..max_lag_ms), so each
    # percentile moves by at most the largest lag (HDR histograms keep 3 significant digits).
    assert result.uncorrected is not None
    for q in (50, 95):
        corrected, uncorrected = result.percentile(q), result.uncorrected.percentile(q)
        assert uncorrected * 0.999 <= corrected <= (uncorrected + schedule["max_lag_ms"]) * 1.001 + 0.01, q


def test_scale_out_arguments_are_checked_at_collection(pytester: pytest.Pytester) -> None:
    markers = {
        "zero_rate": "rate=0",
        "arrivals": 'rate=10, arrivals="bursty"',
        "capacity_without_slo": "capacity=True",
        "capacity_typo": 'capacity={"start": 10, "stepp": "2s"}, slo="p95 < 1s"',
        "workers": "workers=-1",
    }
    pytester.makepyfile(  # a file each: collection stops at a module's first error
        **{
            f"test_{name}": f"import pytest\n\n@pytest.mark.load_test({marker})\ndef test_it():\n    pass\n"
            for name, marker in markers.items()
        }
    )
    run = pytester.runpytest_subprocess("--aks-scoring-uri", "http://127.0.0.1:9/score", "-p", "no:cacheprovider")
    run.stdout.fnmatch_lines_random(
        [
            "*rate=0: expected requests per second, a number > 0, e.g. rate=200*",
            "*arrivals='bursty': expected one of 'constant', 'poisson'*",
            "*capacity=True needs slo=*",
            "*capacity: unknown key 'stepp'*",
            "*workers=-1: expected local worker processes, a whole number >= 0*",
        ]
    )
    assert "Traceback" not in run.stdout.str()
