"""Verdicts through the whole path: real Locust children against loopback servers (windowed SLOs,
generator health, early abort, warm-up, too few requests, extension). The same logic on synthetic
results, where the truth is known exactly, is in tests/unit/test_verdicts.py."""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_servers import ScoringServer

KEY = "k3y-VERDICTS-0123456789"


@pytest.fixture
def key_env() -> Iterator[None]:
    os.environ["AKSLOAD_KEY"] = KEY
    yield
    del os.environ["AKSLOAD_KEY"]


def run_inner(pytester: pytest.Pytester, server: ScoringServer, test_code: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=textwrap.dedent(test_code))
    return pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider", *args)


def test_live_windowed_slo_fails_the_last_window_the_whole_run_hides(pytester: pytest.Pytester, key_env: None) -> None:
    """Healthy for 10 s, then every request fails for the last 2 s (timed from the first load
    request; the pre-flight request is n = 0): a sixth of the run, far under the whole run's 25 %,
    and all of its last 1 s windows, far over a window's 5 % (1 s windows: the load's start may lag
    the server's clock by a fraction of a second, and a whole window still fails)."""
    first_load_request: list[float] = []

    def outcome(n: int) -> str:
        if n == 1:
            first_load_request.append(time.monotonic())
        return "http500" if first_load_request and time.monotonic() - first_load_request[0] >= 10 else "ok"

    with ScoringServer(delays_s=(0.005,), outcomes=outcome) as server:
        run = run_inner(
            pytester,
            server,
            """
            import pytest

            @pytest.mark.load_test(users=8, spawn_rate=50, duration="12s", wait=(0.05, 0.15),
                                   slo=["failure_rate < 25%", "failure_rate < 5% over 1s windows"])
            def test_gate(load_result):
                assert load_result.requests > 400
            """,
        )
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(
        [
            "*1 of 2 SLOs violated*",
            "failure_rate < 25% *PASS",
            "failure_rate < 5% over 1s windows *FAIL (worst window 1*-1*s)",
        ]
    )


def test_live_cpu_starved_generator_is_reported_and_judges_nothing(pytester: pytest.Pytester, key_env: None) -> None:
    """A locustfile that burns CPU before every request: the generator, not the service, is the bottleneck."""
    pytester.makepyfile(
        busy_user="""
        import time
        from locust import FastHttpUser, constant, task
        from pytest_aksload import child

        class BusyUser(FastHttpUser):
            wait_time = constant(0)

            @task
            def score(self):
                deadline = time.process_time() + 0.05
                while time.process_time() < deadline:
                    pass
                with self.client.post(child.scoring_path(), json=child.sample_rows()[0],
                                      headers=child.auth_headers(), catch_response=True) as response:
                    child.check_response(response)
        """
    )
    with ScoringServer() as server:
        run = run_inner(
            pytester,
            server,
            """
            import pytest

            @pytest.mark.load_test(users=4, spawn_rate=50, duration="6s", locustfile="busy_user.py",
                                   slo=["p95 < 10s", "failure_rate < 50%"])
            def test_gate(load_result):
                print("ISSUES", load_result.generator_issues)
            """,
            "-s",
        )
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(["ISSUES ['load generator*", "*2 of 2 SLOs INCONCLUSIVE*", "*untrustworthy*"])


def test_live_abort_on_stops_a_doomed_run_early(pytester: pytest.Pytester, key_env: None) -> None:
    with ScoringServer(outcomes=lambda n: "ok" if n == 0 else "http500") as server:
        started = time.monotonic()
        run = run_inner(
            pytester,
            server,
            """
            import pytest

            @pytest.mark.load_test(users=4, spawn_rate=50, duration="60s", wait=(0.05, 0.1),
                                   abort_on=["failure_rate > 50% over 2s windows"])
            def test_gate(load_result):
                pass
            """,
        )
        elapsed = time.monotonic() - started
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(["*load aborted early after *s: failure_rate > 50% over 2s windows held in window*"])
    assert elapsed < 30  # a 60 s run, stopped after a few seconds


def test_live_auto_warm_up_cuts_the_cold_start_from_totals_endpoints_and_errors(
    pytester: pytest.Pytester, key_env: None
) -> None:
    """A cold start through a real child: for its first 5 s the service answers in 1 s (failing
    every third request in the first 2.5 s), then it alternates every 5 s between 5 ms and 200 ms.
    On a flat steady state, which 5 s batch the host's noise makes look steadiest is a draw, and
    a draw in the second half of the run means "no steady state, nothing cut" (simulated, MSER on
    6 batches of pure noise does that about a quarter of the time). The alternation, far above
    that noise, leaves MSER-5 one place to cut: after the cold first batch (5 s; 10 s if noise
    blurs the second). The endpoint figures and failure groups are then cut exactly like the
    totals, and the cold start's failures are gone from all three. Where MSER cuts finer data is
    checked on synthetic windows in tests/unit/test_verdicts.py."""
    first_load_request: list[float] = []

    def since_first_load_request(n: int) -> float:
        if n >= 1 and not first_load_request:  # n = 0 is the pre-flight request
            first_load_request.append(time.monotonic())
        return time.monotonic() - first_load_request[0] if first_load_request else 0.0

    def delay(n: int) -> float:
        t = since_first_load_request(n)
        if n == 0:
            return 0.005
        if t < 5:
            return 1.0
        return 0.005 if int(t // 5) % 2 == 1 else 0.2

    def outcome(n: int) -> str:
        return "http500" if n % 3 == 0 and n > 0 and since_first_load_request(n) < 2.5 else "ok"

    with ScoringServer(delay_of=delay, outcomes=outcome) as server:
        run = run_inner(
            pytester,
            server,
            """
            import json, pytest

            @pytest.mark.load_test(users=4, spawn_rate=50, duration="32s", wait=(0.05, 0.1), warmup="auto")
            def test_gate(load_result):
                endpoints = {name: (e.requests, e.failures) for name, e in load_result.endpoints.items()}
                print("CUT", json.dumps([load_result.warmup_method, load_result.warmup_s, load_result.requests,
                                         load_result.failures, load_result.p95_ms, endpoints,
                                         [e.count for e in load_result.errors]]))
            """,
            "-s",
        )
        cold_failures = sum(r.outcome == "http500" for r in server.scoring_requests())
    run.assert_outcomes(passed=1)
    line = next(line for line in run.outlines if line.startswith("CUT"))
    method, warmup_s, requests, failures, p95_ms, endpoints, errors = json.loads(line[4:])
    assert cold_failures >= 2  # there was a cold start to cut
    # Where exactly MSER cuts past the cold start depends on the host's noise (5 s, or 10 s if noise
    # blurs the second batch; unit tests pin the cut on synthetic windows): here it must cut, whole
    # at least the cold start (it ends 5 s after the first load request) and at most half the run.
    assert method == "MSER-5" and 5 <= warmup_s <= 16, (method, warmup_s)
    # The one endpoint and the failure groups hold exactly the totals' requests and failures: none,
    # and none of the 1 s cold-start latencies either.
    assert list(endpoints.values()) == [[requests, 0]] and failures == 0 and errors == []
    assert requests > 500 and p95_ms < 500


def test_live_too_few_requests_are_inconclusive_and_the_policy_decides(
    pytester: pytest.Pytester, key_env: None, tmp_path: Path
) -> None:
    code = """
        import pytest

        @pytest.mark.load_test(users=2, spawn_rate=50, duration="2s", wait=(0.2, 0.3), slo="p99.9 < 5s")
        def test_gate(load_result):
            pass
        """
    with ScoringServer() as server:
        failing = run_inner(pytester, server, code)
        lenient = run_inner(pytester, server, code, "--aks-inconclusive=pass")
    failing.assert_outcomes(failed=1)
    failing.stdout.fnmatch_lines(["*1 of 1 SLOs INCONCLUSIVE*", "*too few requests*", "*test_gate*INCONCLUSIVE*"])
    lenient.assert_outcomes(passed=1, warnings=1)
    lenient.stdout.fnmatch_lines(["*passed by --aks-inconclusive=pass*"])


def test_live_extend_keeps_loading_until_the_verdict_is_decided(pytester: pytest.Pytester, key_env: None) -> None:
    """0 failures in ~130 requests cannot show a rate under 2 % (Wilson upper bound ~2.9 %); a
    few more seconds of the same run can. One continuous run: the 4 users keep their 4
    connections (a second run would ramp up new ones), and it stops long before max_duration=."""
    code = """
        import pytest

        @pytest.mark.load_test(users=4, spawn_rate=50, duration="3s", wait=(0.05, 0.1), max_duration="30s",
                               slo="failure_rate < 2%")
        def test_gate(load_result):
            print("EXTENDED", load_result.requests, load_result.duration_s)
        """
    with ScoringServer(delays_s=(0.002,)) as server:
        extended = run_inner(pytester, server, code, "--aks-inconclusive=extend", "-s")
        requests = server.scoring_requests()
    load = [r for r in requests if not r.headers.get("User-Agent", "").startswith("python-requests")]  # not pre-flight
    extended.assert_outcomes(passed=1)
    line = next(line for line in extended.outlines if line.startswith("EXTENDED"))
    measured, duration_s = int(line.split()[1]), float(line.split()[2])
    assert measured >= 190 and 4 <= duration_s <= 20
    assert len({r.client_port for r in load}) == 4
