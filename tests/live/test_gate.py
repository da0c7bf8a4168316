"""The load_test marker end to end, driven as a user drives it: inner pytest runs, a real Locust
child, real HTTP servers on 127.0.0.1 (the embedded azmlinfsrv service or a scoring server whose
truth the test knows)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from inner_gates import DURATIONS, phase_s
from loopback_servers import ScoringServer, closed_port

from pytest_aksload.local import LocalService
from pytest_aksload.stats.result import LoadResult

KEY = "k3y-GATE-0123456789-abcdef"

DUMP_RESULT = """
import json, os, pytest

@pytest.mark.load_test(users={users}, spawn_rate=50, duration="{duration}", wait=({wait_min}, {wait_max}), rows=20)
def test_load(load_result):
    with open(os.environ["RESULT_DUMP"], "w") as out:
        out.write(load_result.to_json())
"""


@pytest.fixture(scope="module")
def local_service() -> Iterator[LocalService]:
    with LocalService(key=KEY) as service:
        yield service


def _run_and_load(pytester: pytest.Pytester, server: ScoringServer, tmp_path: Path, **profile: object) -> LoadResult:
    dump = tmp_path / "result.json"
    pytester.makepyfile(test_dump=DUMP_RESULT.format(**profile))
    os.environ["RESULT_DUMP"] = str(dump)
    try:
        run = pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider")
    finally:
        del os.environ["RESULT_DUMP"]
    run.assert_outcomes(passed=1)
    return LoadResult.from_dict(json.loads(dump.read_text()))


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def test_slos_pass_and_fail_against_the_local_service(pytester: pytest.Pytester) -> None:
    """Decided verdicts, under the default --aks-inconclusive=fail: a light load (4 users, 20-50 ms
    waits; ~170 requests in 3 s on a busy 2-core host) bounds both objectives far from their
    thresholds (0 failures of 170 allow at most 2.2 %; the local service's p95 is tens of ms
    against 2 s), and p95 < 0.01 ms fails whatever the interval."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.load_test(users=4, spawn_rate=50, duration="3s", wait=(0.02, 0.05),
                               slo=["failure_rate < 5%", "p95 < 2s"])
        def test_healthy(load_result):
            assert load_result.requests > 0

        @pytest.mark.load_test(users=4, spawn_rate=50, duration="3s", wait=(0.02, 0.05),
                               slo=["failure_rate < 5%", "p95 < 0.01ms"])
        def test_impossible():
            pass
        """
    )
    run = pytester.runpytest_subprocess("--aks-local", "-p", "no:cacheprovider")
    run.assert_outcomes(passed=1, failed=1)
    out = run.stdout.str()
    assert "INCONCLUSIVE" not in out, out[-3000:]
    # The failure names the violated objective with its measured value and margin...
    run.stdout.fnmatch_lines(["*1 of 2 SLOs violated*", "*p95 < 0.01ms*ms*-*FAIL*"])
    assert "failure_rate < 5%" in out and "PASS" in out
    # ...and the session summary has one row per load test with its verdict.
    run.stdout.fnmatch_lines(["*aksload load tests*", "*test_healthy*PASS*", "*test_impossible*FAIL*"])


def test_percentiles_and_counts_match_the_server_truth(pytester: pytest.Pytester, tmp_path: Path) -> None:
    # Plateaus with each checked percentile at least 10 points of rank inside one: p25 213 ms, p50
    # 246 ms, p95 363 ms. A busy host delays a few percent of the answers (client p95 364 ms against
    # the server's 248 ms when p95 sat 2 points under the top plateau); that must not move them.
    delays = [0.213] * 40 + [0.246] * 40 + [0.363] * 20
    with ScoringServer(delays, fail_every=20) as server:
        result = _run_and_load(pytester, server, tmp_path, users=20, duration="4s", wait_min=0, wait_max=0)
        received = server.scoring_requests()[1:]  # the first one is the pre-flight request
    # Every request the server answered was counted, except those still in flight at the end.
    assert len(received) - 20 <= result.requests <= len(received)
    truth = [r.delay_s * 1000 for r in received]
    for q in (25, 50, 95):
        expected = _nearest_rank(truth, q)
        # Client-side latency = server delay + loopback HTTP overhead: never less than the delay (HDR
        # keeps 3 significant digits, where Locust's 10 ms buckets read 213 ms as 210), and more by
        # ~1 ms on a quiet host but by several on a busy shared one (with a bound of 2 % + 1.5 ms this
        # test failed in a run at load average 5.5 on 2 cores); bench/accuracy.py measures how close.
        assert expected * 0.999 <= result.percentile(q) <= expected * 1.10 + 2, (q, result.percentile(q))
    # Every 20th request fails, alternately HTTP 500 and a 200 carrying an error string.
    assert result.failure_rate == pytest.approx(0.05, abs=0.005)
    kinds = {error.kind for error in result.errors}
    assert {"http", "validation"} <= kinds, result.errors
    assert sum(error.count for error in result.errors) == result.failures


def test_pytest_process_never_imports_locust(pytester: pytest.Pytester) -> None:
    """The inner pytest process records, at the very end of its session (after the gate ran and its
    child was reaped), which Locust/gevent modules it holds and where socket and ssl come from."""
    pytester.makeconftest(
        """
        import json, socket, ssl, sys

        def pytest_sessionfinish(session):
            loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("locust", "gevent", "greenlet"))
            seen = {"loaded": loaded, "socket": socket.socket.__module__, "ssl": ssl.SSLContext.__module__}
            with open("modules.json", "w") as out:
                json.dump(seen, out)
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.load_test(users=2, duration="1s")
        def test_load(load_result):
            assert load_result.requests > 0
        """
    )
    with ScoringServer() as server:
        run = pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider")
    run.assert_outcomes(passed=1)
    seen = json.loads((pytester.path / "modules.json").read_text())
    # gevent imported in the pytest process could have monkey-patched its sockets.
    assert seen == {"loaded": [], "socket": "socket", "ssl": "ssl"}


class _ArgvSampler:
    """Collects the command lines of every process started below this one while it runs."""

    def __init__(self) -> None:
        self.cmdlines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.1):
            for proc in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # it may have exited meanwhile
                    self.cmdlines.append(" ".join(proc.cmdline()))

    def __enter__(self) -> _ArgvSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_the_key_appears_nowhere(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.load_test(users=3, duration="2s", slo=["p95 < 0.01ms"])
        def test_failing_gate(load_result, aks_auth_headers, aks_target):
            headers = aks_auth_headers
            assert load_result.requests < 0, (aks_target, aks_auth_headers)
        """
    )
    monkeypatch.setenv("AKSLOAD_KEY", KEY)
    monkeypatch.setenv("TMPDIR", str(pytester.path / "tmp"))
    (pytester.path / "tmp").mkdir()
    with ScoringServer() as server, _ArgvSampler() as sampler:
        run = pytester.runpytest_subprocess(
            "--aks-scoring-uri", server.url, "-vv", "--showlocals", "-rA", "--junitxml", "junit.xml"
        )
        authorizations = {r.authorization for r in server.scoring_requests()}
    run.assert_outcomes(failed=1)
    assert authorizations == {f"Bearer {KEY}"}, "the key must reach the server"
    assert any("locust" in cmdline for cmdline in sampler.cmdlines), "the child was not sampled"
    assert not [c for c in sampler.cmdlines if KEY in c]
    output = run.stdout.str() + run.stderr.str()
    assert "headers = AuthHeaders({'Authorization': '***'})" in output  # --showlocals printed it, redacted
    assert KEY not in output
    for path in pytester.path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "refused",
            "pre-flight: cannot connect to http://127.0.0.1:*/score ([[]Errno 111[]] Connection refused); "
            "check the service is running and the URL",
        ),
        (
            "wrong-key",
            "pre-flight: *answered HTTP 401 (UNAUTHORIZED); check the key in environment variable AKSLOAD_KEY*",
        ),
        ("invalid", "pre-flight: *gave an invalid score response (HTTP 500*check the payload*"),
    ],
)
def test_preflight_failure_is_an_error_with_one_line_and_no_load(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, local_service: LocalService, case: str, expected: str
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.load_test(users=5, duration="30s", timeout="2s")
        def test_gate(load_result):
            pass
        """
    )
    with ScoringServer(fail_every=1) as failing:
        uri = {
            "refused": f"http://127.0.0.1:{closed_port()}/score",
            "wrong-key": local_service.scoring_uri,
            "invalid": failing.url,
        }[case]
        monkeypatch.setenv("AKSLOAD_KEY", "not-the-key")
        run = pytester.runpytest_subprocess("--aks-scoring-uri", uri, "-p", "no:cacheprovider", *DURATIONS)
        if case == "invalid":
            assert len(failing.scoring_requests()) == 1, "only the pre-flight request may be sent"
    run.assert_outcomes(errors=1)
    run.stdout.fnmatch_lines([expected])
    assert "Traceback" not in run.stdout.str()
    # Each answer is immediate (the invalid case counts its one request above): the gate's setup,
    # with the inner session's lazy imports (seconds on a busy host), ends within two 2 s timeouts,
    # never waiting for a retry's timeout or backoff, nor the 30 s load.
    assert phase_s(run, "setup") < 4.0, "a failed pre-flight must not wait for a retry or the 30 s load"
    run.stdout.fnmatch_lines(["*test_gate*ERROR*"])


def test_bad_marker_argument_is_a_collection_error_naming_test_and_argument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.load_test(users=-1)
        def test_gate():
            pass

        @pytest.mark.load_test(slo="p95 < 300 parsecs")
        def test_other():
            pass
        """
    )
    run = pytester.runpytest("--aks-scoring-uri", "http://127.0.0.1:9/score")
    assert run.ret == pytest.ExitCode.INTERRUPTED
    run.stdout.fnmatch_lines(["*test_gate: @pytest.mark.load_test: users=-1: expected a whole number >= 1*"])
    assert "Traceback" not in run.stdout.str()
    run = pytester.runpytest("--strict-markers", "-k", "other", "--aks-scoring-uri", "http://127.0.0.1:9/score")
    run.stdout.fnmatch_lines(["*test_gate*users=-1*"])


def test_load_result_without_marker_says_what_is_missing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(load_result): pass")
    with ScoringServer() as server:
        run = pytester.runpytest("--aks-scoring-uri", server.url)
    run.assert_outcomes(errors=1)
    run.stdout.fnmatch_lines(["*load_result needs @pytest.mark.load_test(...) on the test*"])


def test_progress_lines_in_ci_logs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.load_test(users=3, duration="3s")
        def test_gate(load_result):
            pass
        """
    )
    with ScoringServer() as server:
        run = pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider")
        quiet = pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider", "-q")
    run.stdout.fnmatch_lines(["[[]aksload[]] test_gate: */3s, * users, * requests, *% failed, * rps, p95 *"])
    assert "[aksload] test_gate:" not in quiet.stdout.str()
