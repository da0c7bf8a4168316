"""Side by side in the child: `RequestPlan` sends every batch to both sides in a random order, with each
side's URL, headers and deployment, and `check_response(request=...)` compares the two answers of a pair
row by row (`agreement`); the other side uses the target's credential unless it has its own."""

from __future__ import annotations

import random
from typing import Any

from test_child_contract_checks import FakeResponse

from pytest_aksload.child import AGAINST, AGREEMENT_KEY, SIDE_KEY, TARGET, ChildContext
from pytest_aksload.protocol import RunSettings, SampleRows
from pytest_aksload.redact import Redactor

ROWS = [{"a": i} for i in range(6)]
TARGET_URI = "http://127.0.0.1:1/score"
OTHER_URI = "http://127.0.0.1:2/v1/score"


def _run(headers: dict[str, str] | None = None, **settings: Any) -> ChildContext:
    return ChildContext(
        RunSettings(scoring_uri=TARGET_URI, **settings), headers or {}, SampleRows(ROWS), redactor=Redactor()
    )


def test_alone_every_request_goes_to_the_target_with_the_next_batch() -> None:
    run = _run()
    plan = run.request_plan(random.Random(1))
    requests = [plan.next() for _ in range(3)]
    assert [r.side for r in requests] == [TARGET] * 3
    assert [r.batch.rows for r in requests] == [(0,), (1,), (2,)]
    assert all(r.url == "/score" and r.pair is None and SIDE_KEY not in r.context for r in requests)


def test_side_by_side_each_batch_goes_to_both_sides_in_a_random_order() -> None:
    run = _run({"Authorization": "Bearer t", "azureml-model-deployment": "green"}, batch=2,
               deployment="green", against_uri=TARGET_URI, against_deployment="blue")  # fmt: skip
    plan = run.request_plan(random.Random(7))
    requests = [plan.next() for _ in range(40)]
    pairs = [requests[i : i + 2] for i in range(0, 40, 2)]
    for first, second in pairs:
        assert first.batch is second.batch and first.pair is second.pair  # the same payload on both sides
        assert {first.side, second.side} == {TARGET, AGAINST}
    firsts = [first.side for first, _ in pairs]
    assert 5 <= firsts.count(TARGET) <= 15  # random order: neither side always goes first
    other = next(r for r in requests if r.side == AGAINST)
    target = next(r for r in requests if r.side == TARGET)
    assert other.context == {SIDE_KEY: AGAINST} and other.deployment == "blue" and target.deployment == "green"
    assert other.headers["azureml-model-deployment"] == "blue" and other.headers["Authorization"] == "Bearer t"
    assert target.headers["azureml-model-deployment"] == "green"
    assert other.name == target.name == "/score"  # endpoints pair up by name


def test_the_other_side_uses_its_own_key_when_it_has_one_and_follows_token_refreshes_otherwise() -> None:
    shared = _run({"Authorization": "Bearer old"}, against_uri=OTHER_URI)
    shared.replace_auth_headers({"Authorization": "Bearer new"})
    plan = shared.request_plan(random.Random(3))
    other = next(r for r in (plan.next(), plan.next()) if r.side == AGAINST)
    assert other.url == OTHER_URI and other.headers["Authorization"] == "Bearer new"

    own = _run({"Authorization": "Bearer target"}, against_uri=OTHER_URI)
    own.replace_against_headers({"Authorization": "Bearer other"})
    plan = own.request_plan(random.Random(3))
    other = next(r for r in (plan.next(), plan.next()) if r.side == AGAINST)
    assert other.headers["Authorization"] == "Bearer other"


def test_the_pairs_second_answer_carries_how_the_two_sides_agreed() -> None:
    run = _run(batch=3, against_uri=OTHER_URI, tolerance=0.01)
    plan = run.request_plan(random.Random(5))
    first, second = plan.next(), plan.next()
    answer_1 = FakeResponse(200, b'{"result": [0.1, 0.2, 0.3]}')
    answer_2 = FakeResponse(200, b'{"result": [0.1, 0.25, 0.305]}')
    run.check_response(answer_1, request=first)
    run.check_response(answer_2, request=second)
    assert AGREEMENT_KEY not in answer_1.context
    compared, agreeing, largest = answer_2.context[AGREEMENT_KEY]
    assert (compared, agreeing) == (3, 2) and abs(largest - 0.05) < 1e-9


def test_a_failed_answer_leaves_its_pair_uncompared_and_a_wrong_deployment_is_a_routing_failure() -> None:
    run = _run(against_uri=TARGET_URI, against_deployment="blue", deployment="green")
    plan = run.request_plan(random.Random(2))
    first, second = plan.next(), plan.next()
    served_by = {TARGET: "green", AGAINST: "green"}  # the endpoint sent the other side's request to green
    answers = [FakeResponse(200, b'{"result": 0.5}', {"azureml-model-deployment": served_by[r.side]})
               for r in (first, second)]  # fmt: skip
    for request, answer in zip((first, second), answers, strict=True):
        run.check_response(answer, request=request)
    refused = answers[0] if first.side == AGAINST else answers[1]
    assert "answered by deployment 'green', not 'blue'" in str(refused.outcome)
    assert all(AGREEMENT_KEY not in answer.context for answer in answers)
