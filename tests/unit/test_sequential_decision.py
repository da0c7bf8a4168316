"""Side by side, judged while running (`_locust/sequential_decision.py`): looks fed in this
process to a real recording core on a fake clock (the watch imports neither Locust nor gevent)."""

from __future__ import annotations

from typing import Any

import pytest
from synthetic_results import EPOCH, FakeClock

from pytest_aksload._locust import sequential_decision
from pytest_aksload._locust.sequential_decision import DecisionWatch, watch_for
from pytest_aksload.contracts.failures import describe_exception
from pytest_aksload.stats import recording
from pytest_aksload.stats.recording import Recorder
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.stats.sequential import FIRST_LOOK_REQUESTS

SETTLE_S = 2.0  # the request timeout: the longest a confirmation waits


class Run(FakeClock):
    """Both sides' recorders on one fake clock; `send` records requests as Locust's events would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(monkeypatch, recording, sequential_decision)
        self.recorder = self._new()
        self.recorder.other = self._new()
        self.recorder.start()

    @staticmethod
    def _new() -> Recorder:
        return Recorder(warmup_s=0.0, window_s=0.5, describe_failure=describe_exception)

    def send(self, side: Recorder, started_s: float, latency_ms: float, failed: bool = False) -> None:
        """A request that started at `started_s` and completes now + nothing: the clock moves to its end."""
        self.now = max(self.now, started_s + latency_ms / 1000)
        error = RuntimeError("HTTP 500") if failed else None
        side.record("POST", "/score", latency_ms, EPOCH + started_s, 500 if failed else None, error)

    def pairs(self, count: int, every_s: float = 0.01, candidate_ms: float = 20.0, other_ms: float = 20.0) -> None:
        """`count` requests to each side, one pair started every `every_s` from now."""
        start = self.now
        for number in range(count):
            self.send(self.recorder, start + number * every_s, candidate_ms)
            self.send(self.recorder.other, start + number * every_s, other_ms)  # type: ignore[arg-type]

    def look(self, watch: DecisionWatch) -> bool:
        return watch.look(self.recorder, lambda: {})


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Run:
    return Run(monkeypatch)


def test_a_decided_look_waits_for_the_requests_in_flight_and_the_result_is_exactly_that_set(run: Run) -> None:
    watch = DecisionWatch(["p95 <= 1.10x"], SETTLE_S)
    run.pairs(FIRST_LOOK_REQUESTS, candidate_ms=100.0, other_ms=10.0)  # the candidate 10x slower: FAIL
    proposed_at = run.now
    assert run.look(watch) is False  # decided, but only proposed: requests are still in flight
    assert run.recorder.measure_end == EPOCH + proposed_at
    assert run.recorder.other is not None and run.recorder.other.measure_end == EPOCH + proposed_at
    # In flight at the proposal: started before it, lands after it (the slowest kind), measured.
    run.send(run.recorder, proposed_at - 0.05, 300.0)
    # Started after the proposal: not part of the decided set.
    run.send(run.recorder, proposed_at + 0.01, 10.0)
    run.send(run.recorder.other, proposed_at + 0.01, 10.0)
    assert run.look(watch) is False  # before the in-flight requests can all have landed
    assert watch.decided_at_s is None
    run.now = proposed_at + SETTLE_S
    assert run.look(watch) is True
    assert watch.decided_at_s == round(proposed_at, 3)
    run.recorder.stop()
    data = run.recorder.result({}, True, None, watch.outcome(run.recorder))
    assert data["ended_at"] == EPOCH + proposed_at
    assert data["total"]["requests"] == FIRST_LOOK_REQUESTS + 1  # the in-flight one, not the later one
    assert data["against"]["total"]["requests"] == FIRST_LOOK_REQUESTS
    assert data["sequential"] == {"looks": 1, "decided_at_s": round(proposed_at, 3)}
    result = LoadResult.from_dict(data)
    assert result.decided_at_s == round(proposed_at, 3) and result.looks == 1


def test_a_proposal_the_landed_requests_undo_resumes_measuring(run: Run) -> None:
    watch = DecisionWatch(["failure_rate <= +10pp"], SETTLE_S)
    run.pairs(FIRST_LOOK_REQUESTS)  # no failures on either side: PASS
    proposed_at = run.now
    assert run.look(watch) is False and run.recorder.measure_end < float("inf")
    for number in range(10):  # the candidate's in-flight requests fail: no longer a clear PASS
        run.send(run.recorder, proposed_at - 0.5 + number * 0.001, 900.0, failed=True)
    run.now = proposed_at + SETTLE_S
    assert run.look(watch) is False
    assert watch.decided_at_s is None and run.recorder.measure_end == float("inf")


@pytest.mark.parametrize("windowed", [False, True])
def test_a_windowed_objective_never_stops_the_run_on_an_all_pass_look(run: Run, windowed: bool) -> None:
    objectives = ["failure_rate <= +10pp"] + (["p95 < 1s over 1s windows"] if windowed else [])
    watch = DecisionWatch(objectives, SETTLE_S)
    for _ in range(4):  # four looks' worth of requests, every objective passing at each
        run.pairs(int(watch.schedule.next_at) + 1, every_s=0.005)
        run.look(watch)
    assert watch.schedule.looks >= (2 if windowed else 1)  # the windowed run kept looking
    proposed = run.recorder.measure_end < float("inf")
    assert proposed is not windowed  # without the windowed objective the same looks decide


def test_a_windowed_objective_may_stop_the_run_on_fail(run: Run) -> None:
    watch = DecisionWatch(["failure_rate <= +10pp", "p95 < 5ms over 1s windows"], SETTLE_S)
    run.pairs(FIRST_LOOK_REQUESTS * 2, every_s=0.01, candidate_ms=50.0)
    assert run.look(watch) is False and run.recorder.measure_end < float("inf")  # proposed
    run.now += SETTLE_S
    assert run.look(watch) is True


def test_looks_follow_the_side_with_fewer_requests(run: Run) -> None:
    watch = DecisionWatch(["p95 <= 1.10x"], SETTLE_S)
    other = run.recorder.other
    assert other is not None
    for number in range(3 * FIRST_LOOK_REQUESTS):
        run.send(run.recorder, number * 0.002, 20.0)
    for number in range(FIRST_LOOK_REQUESTS - 1):
        run.send(other, number * 0.002, 20.0)
    run.look(watch)
    assert watch.schedule.looks == 0
    run.send(other, run.now, 20.0)
    run.look(watch)
    assert watch.schedule.looks == 1
    assert watch.outcome(run.recorder)["looks"] == 1  # the final look saw that same count


@pytest.mark.parametrize("role", ["master", "worker"])
def test_with_worker_processes_the_run_goes_to_its_full_duration(role: str) -> None:
    assert watch_for(role, ["p95 <= 1.10x"], SETTLE_S) is None
    assert watch_for("local", [], SETTLE_S) is None
    assert isinstance(watch_for("local", ["p95 <= 1.10x"], SETTLE_S), DecisionWatch)


def test_without_a_watch_the_result_has_no_decision(run: Run) -> None:
    """What a run with worker processes writes: no `sequential`, so `decided_at_s` is None."""
    run.pairs(FIRST_LOOK_REQUESTS, candidate_ms=100.0, other_ms=10.0)
    run.recorder.stop()
    result: Any = LoadResult.from_dict(run.recorder.result({}, True, None))
    assert result.decided_at_s is None
