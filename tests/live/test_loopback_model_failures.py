"""The failures a gate must catch, through real HTTP on 127.0.0.1: a wrong model version, a
thread-unsafe model that is right alone and wrong under overlapping requests, another
deployment's answer, and Azure ML's 408 / 424 / 429, each decoded by the contracts library."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest
from servers.loopback_models import LoopbackModel, score

from pytest_aksload.contracts import ContractError, check_routing, decode_predictions, load_contract
from pytest_aksload.stats.correctness import CorrectnessTally

ROWS = [{"int00": i, "cat00": f"{i:08x}", "x": None if i % 3 else 0.5} for i in range(12)]
EXPECTED = [score(row) for row in ROWS]


def _post(url: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _check(url: str, contract_name: str, rows: list[int], tally: CorrectnessTally) -> None:
    contract = load_contract(contract_name)
    status, headers, body = _post(url, contract.encode([ROWS[i] for i in rows]))
    tally.add_batch(rows, decode_predictions(contract, status, headers, body, len(rows)), EXPECTED)


@pytest.mark.parametrize("contract", ["azureml", "mlflow"])
def test_the_right_model_matches_and_a_wrong_version_does_not(contract: str) -> None:
    right, wrong = CorrectnessTally(), CorrectnessTally()
    with LoopbackModel(contract) as good, LoopbackModel(contract, offset=0.01) as old:
        for row in range(len(ROWS)):
            _check(good.url, contract, [row], right)
        _check(old.url, contract, [0], wrong)  # pre-flight's row-0 check catches it before any load
        _check(old.url, contract, list(range(4, 8)), wrong)  # and in a batch
    assert (right.checked, right.mismatches) == (len(ROWS), 0)
    assert (wrong.checked, wrong.mismatches) == (5, 5)
    assert wrong.max_abs_error == pytest.approx(0.01) and wrong.examples[0].row == 0


def test_a_thread_unsafe_model_is_right_alone_and_wrong_under_overlap() -> None:
    with LoopbackModel(thread_unsafe=True, hold_s=0.5) as server:
        alone = CorrectnessTally()
        for row in range(2):
            _check(server.url, "azureml", [row], alone)
        assert (alone.mismatches, server.overlapped) == (0, 0)

        loaded = CorrectnessTally()
        start = threading.Barrier(4, timeout=30)
        lock = threading.Lock()

        def one_user(row: int) -> None:
            start.wait()
            tally = CorrectnessTally()
            _check(server.url, "azureml", [row], tally)
            with lock:
                loaded.merge(tally)

        users = [threading.Thread(target=one_user, args=(row,)) for row in range(4, 8)]
        for user in users:
            user.start()
        for user in users:
            user.join(30)
    # Each corrupted answer is a mismatch, whatever the host's timing did; four requests held
    # 0.5 s each after a common start overlap unless the host stalls for seconds.
    assert server.overlapped >= 1
    assert loaded.mismatches == server.overlapped and loaded.checked == 4


def test_another_deployments_answer_is_a_routing_failure() -> None:
    with LoopbackModel(deployment="green") as server:
        status, headers, body = _post(server.url, load_contract("azureml").encode(ROWS[:1]))
    check_routing(headers, "green")
    with pytest.raises(ContractError) as error:
        check_routing(headers, "blue")
    assert (error.value.kind, error.value.reason) == ("routing", "answered by deployment 'green', not 'blue'")


@pytest.mark.parametrize(
    ("status", "kind", "reason"),
    [
        (408, "timeout", "HTTP 408: upstream error"),
        (424, "model", "HTTP 424: model answered 500: model_error"),
        (429, "throttling", "HTTP 429: upstream error"),
    ],
)
def test_azureml_status_codes_have_their_own_kinds(status: int, kind: str, reason: str) -> None:
    contract = load_contract("azureml")
    with LoopbackModel(statuses=[status, 200]) as server:
        failed = _post(server.url, contract.encode(ROWS[:1]))
        answered = _post(server.url, contract.encode(ROWS[:1]))
    with pytest.raises(ContractError) as error:
        decode_predictions(contract, *failed, rows=1)
    assert (error.value.kind, error.value.reason) == (kind, reason)
    assert decode_predictions(contract, *answered, rows=1) == [EXPECTED[0]]
