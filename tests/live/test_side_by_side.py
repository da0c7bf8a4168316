"""Side-by-side gates, end to end: inner pytest runs whose Locust child sends the same batches to two
loopback services at the same moments, judges relative objectives at anytime-valid looks and stops
once they are decided. (The false-alarm rate over many runs on identical services, and the smallest
regression found in 30 s against a saved baseline, are benchmarks: bench/side_by_side.py.)"""

from __future__ import annotations

import fnmatch
import json
import time

import pytest
from inner_gates import write_gate
from loopback_servers import ScoringServer
from servers.loopback_models import LoopbackModel

URI = ("--aks-scoring-uri", "http://127.0.0.1:9/score")  # never reached: the input is refused first
FAST = 'users=8, spawn_rate=100, wait=(0.002, 0.005), timeout="5s"'


def _run(pytester: pytest.Pytester, target: str, other: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--aks-scoring-uri", target, "--aks-against-uri", other, "-p", "no:cacheprovider", *args
    )


def test_a_candidate_three_times_slower_fails_long_before_its_duration(pytester: pytest.Pytester) -> None:
    write_gate(
        pytester,
        f'{FAST}, duration="60s", slo=["p95 <= 1.10x", "failure_rate <= +0.5pp"]',
        "assert load_result.decided_at_s is not None and load_result.decided_at_s < 20\n"
        "    assert load_result.against.requests > 0 and load_result.comparison['p95'].value > 1.5",
    )
    with ScoringServer(delays_s=[0.030]) as slow, ScoringServer(delays_s=[0.010]) as live:
        started = time.monotonic()
        run = _run(pytester, slow.url, live.url)
        took_s = time.monotonic() - started
        assert slow.scoring_requests() and live.scoring_requests()
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(["p95 <= 1.10x * FAIL"])
    assert took_s < 45, f"the run took {took_s:.0f}s: it should stop once decided, not at its 60s duration"


def test_the_same_service_on_both_sides_passes_and_both_sides_get_the_same_payloads(
    pytester: pytest.Pytester,
) -> None:
    write_gate(
        pytester,
        f'{FAST}, duration="20s", slo=["p95 <= 1.5x", "failure_rate <= +1pp", "agreement >= 99%"]',
        "assert load_result.agreement == 1.0\n    assert abs(load_result.requests - load_result.against.requests) <= 8",
    )
    with ScoringServer(delays_s=[0.020]) as one, ScoringServer(delays_s=[0.020]) as two:
        run = _run(pytester, one.url, two.url, "--aks-report", "report")
        bodies_one = sorted(r.body for r in one.scoring_requests())
        bodies_two = sorted(r.body for r in two.scoring_requests())
    run.assert_outcomes(passed=1)
    assert set(bodies_one) == set(bodies_two)  # the same payload sequence on both sides
    summary = json.loads((pytester.path / "report" / "summary.json").read_text())
    (record,) = summary["tests"]
    assert record["against"]["metrics"]["requests"] > 100
    assert {row["metric"] for row in record["side_by_side"]} >= {"p95", "failure_rate"}
    markdown = (pytester.path / "report" / "summary.md").read_text()
    assert "vs " in markdown and "Side by side" in markdown


def test_a_different_model_on_the_other_side_fails_agreement(pytester: pytest.Pytester) -> None:
    write_gate(pytester, f'{FAST}, duration="20s", slo=["agreement >= 99.9%"]')
    with LoopbackModel() as candidate, LoopbackModel(offset=0.05) as live:
        run = _run(pytester, candidate.url, live.url)
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(["*agreement >= 99.9%*FAIL*"])


def test_noise_that_hits_both_sides_does_not_move_the_side_by_side_verdict_but_flips_a_baseline(
    pytester: pytest.Pytester,
) -> None:
    """A neighbour that slows the host every other quarter second hits both sides: the side-by-side
    ratio stays near 1, while the same service compared with a baseline saved on a quiet host
    regresses. (Quarter seconds: a side-by-side run may stop at its first look, after 1 s, and a
    whole-second rhythm could leave that second almost quiet, so nothing would regress. The noise is
    10x the quiet delay: the baseline's p95 comes from about a second of data, which a busy host may
    inflate several times over; it must still be far under the noisy p95 compared at 1.2x.)"""
    # Waits of 20-40 ms, not FAST's 2-5: a generator starved by a busy host then still keeps its
    # users' pace (a shortfall would make every verdict INCONCLUSIVE).
    write_gate(
        pytester, 'users=8, spawn_rate=100, wait=(0.02, 0.04), timeout="5s", duration="12s", slo=["p95 <= 1.5x"]'
    )
    baseline = pytester.path / "baseline.json"
    with ScoringServer(delays_s=[0.010]) as quiet, ScoringServer(delays_s=[0.010]) as quiet_too:
        # Only its figures matter here, decided or not.
        saved = _run(
            pytester, quiet.url, quiet_too.url, "--aks-save-baseline", str(baseline), "--aks-inconclusive=pass"
        )
        saved.assert_outcomes(passed=1)

    def noisy(_n: int) -> float:
        return 0.100 if int(time.monotonic() * 4) % 2 else 0.010

    with ScoringServer(delay_of=noisy) as one, ScoringServer(delay_of=noisy) as two:
        run = _run(pytester, one.url, two.url, "--aks-compare", str(baseline), "--aks-max-regression", "p95=20%",
                   "--aks-report", "report")  # fmt: skip
    run.assert_outcomes(failed=1)  # by the baseline comparison
    run.stdout.fnmatch_lines(["*p95: baseline *ms, now *ms, change +*REGRESSED*"])
    (record,) = json.loads((pytester.path / "report" / "summary.json").read_text())["tests"]
    (p95,) = [slo for slo in record["slos"] if slo["objective"].startswith("p95")]
    assert p95["verdict"] == "PASS", p95["description"]


LOCUSTFILE = """
from locust import FastHttpUser, task
from pytest_aksload import child


class TwoEndpoints(FastHttpUser):
    wait_time = lambda self: 0.003

    def on_start(self):
        self.plan = child.request_plan()

    @task(3)
    def score(self):
        self._post("score")

    @task(1)
    def explain(self):
        self._post("explain")

    def _post(self, name):
        planned = self.plan.next()
        with self.client.post(planned.url, data=planned.batch.body, headers=planned.headers, name=name,
                              catch_response=True, context=planned.context) as response:
            child.check_response(response, request=planned)
"""


def test_objectives_scoped_to_one_endpoint_of_a_custom_locustfile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(two_endpoints=LOCUSTFILE)
    write_gate(
        pytester,
        'users=6, spawn_rate=100, duration="6s", locustfile="two_endpoints.py", '
        'slo=["p95[POST score] < 2s", "failure_rate[POST explain] <= +1pp", "p95[POST nope] < 1s"]',
    )
    with ScoringServer(delays_s=[0.005]) as one, ScoringServer(delays_s=[0.005]) as two:
        run = _run(pytester, one.url, two.url)
    run.assert_outcomes(failed=1)
    output = run.stdout.str()
    assert "no endpoint 'POST nope' was measured; measured endpoints: " in output
    assert "'POST score'" in output and "'POST explain'" in output
    assert "p95[POST score] < 2s" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((*URI, "--aks-against", "blue"), "--aks-against needs --aml-endpoint NAME*"),
        ((*URI, "--aks-against-uri", "http://127.0.0.1:9/a", "--aks-against", "blue"),
         "choose one other side: --aks-against NAME*or --aks-against-uri URL, not both"),
    ],
)  # fmt: skip
def test_bad_side_by_side_options_are_one_line(pytester: pytest.Pytester, args: tuple[str, ...], message: str) -> None:
    write_gate(pytester, 'duration="1s"')
    _assert_one_line_without_traceback(pytester.runpytest_subprocess("-p", "no:cacheprovider", *args), [message])


BAD_MARKERS = [  # (marker arguments, what the gate's error says)
    ('slo=["p95 <= 1.10x"]',
     "*slo 'p95 <= 1.10x' compares with another deployment: pass --aks-against NAME, --aks-against-uri URL*"),
    ('slo=["requests >= 1.1x"]', "*requests*x*"),
    ('slo=["p95 <= +1pp"]', "*p95*pp*"),
    ('against="b"', "*against='b': expected another deployment*"),
]  # fmt: skip


def test_bad_side_by_side_marker_arguments_are_one_line_each(pytester: pytest.Pytester) -> None:
    """One gate file per bad marker, collected in one run: each names its own test."""
    for index, (marker, _message) in enumerate(BAD_MARKERS):
        pytester.makepyfile(**{f"test_gate_{index}": f"import pytest\n\n@pytest.mark.load_test({marker})\n"
                                                      "def test_gate(load_result):\n    pass\n"})  # fmt: skip
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", *URI)
    _assert_one_line_without_traceback(
        run, [f"*test_gate_{index}.py*{message.lstrip('*')}" for index, (_marker, message) in enumerate(BAD_MARKERS)]
    )


def _assert_one_line_without_traceback(run: pytest.RunResult, messages: list[str]) -> None:
    assert run.ret != 0
    output = run.stdout.str() + run.stderr.str()
    assert "Traceback" not in output
    run_lines = [line for line in output.splitlines() if line.strip()]
    for message in messages:
        assert any(fnmatch.fnmatch(line, "*" + message.lstrip("*")) for line in run_lines), (message, output)


@pytest.mark.parametrize(
    "load",
    ['rate=60, duration="3s", timeout="5s"', 'users=6, spawn_rate=100, wait=(0.005, 0.01), duration="4s", workers=2'],
    ids=["open-model", "worker-processes"],
)
def test_side_by_side_runs_with_the_open_model_and_with_worker_processes(pytester: pytest.Pytester, load: str) -> None:
    write_gate(
        pytester,
        f'{load}, slo=["failure_rate <= +10pp", "agreement >= 90%"]',
        "assert load_result.requests > 20 and load_result.against.requests > 20\n"
        "    assert abs(load_result.requests - load_result.against.requests) <= 0.2 * load_result.requests\n"
        "    assert load_result.agreement == 1.0",
    )
    with ScoringServer(delays_s=[0.005]) as one, ScoringServer(delays_s=[0.005]) as two:
        run = _run(pytester, one.url, two.url)
    run.assert_outcomes(passed=1)


def test_locally_green_behind_the_same_endpoint_is_caught_being_slower_than_blue(pytester: pytest.Pytester) -> None:
    """The docs' local side-by-side gate, on the real inference server hosting two deployments routed by
    the azureml-model-deployment header: the same model 40 ms slower FAILs `p95 <= 1.10x` within seconds,
    and the two deployments' predictions agree."""
    pytest.importorskip("azureml_inference_server_http")
    pytest.importorskip("lightgbm")
    write_gate(
        pytester,
        'users=8, spawn_rate=100, wait=(0.005, 0.01), duration="60s", against="blue", '
        'slo=["p95 <= 1.10x", "agreement >= 99.9%"]',
        "assert load_result.decided_at_s is not None and load_result.decided_at_s < 30\n"
        "    assert load_result.agreement == 1.0 and load_result.against.p50_ms < load_result.p50_ms",
    )
    run = pytester.runpytest_subprocess(
        "--aks-local", "--aks-local-deployments", "blue=shipped green=shipped+40ms", "--aml-deployment", "green",
        "-p", "no:cacheprovider", timeout=240,
    )  # fmt: skip
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(["p95 <= 1.10x * FAIL"])
    assert "routing" not in run.stdout.str()  # each side was answered by its own deployment
