"""Gates that check the predictions under load, end to end: inner pytest runs against loopback model
servers (tests/servers/loopback_models.py) on 127.0.0.1, each run a few seconds.

A right model passes `mismatch_rate`, expectations from another model fail it, a wrong model version
ERRORs at pre-flight, a thread-unsafe model is caught only under load, batches multiply rows, a
user's contract is loaded in both processes and a broken one is a collection error."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
from inner_gates import write_gate
from servers.loopback_models import LoopbackModel, score

from pytest_aksload.data.sample import load_rows

FAST = 'users=8, spawn_rate=50, duration="3s", wait=(0.002, 0.005), timeout="5s"'


def _csv(path: Path, offset: float = 0.0, rows: int = 40) -> Path:
    """A sample CSV of `rows` rows of any schema with `expected` = the loopback model's answer (+ `offset`)."""
    cells = [f"{i},{i:08x},{'' if i % 3 else 0.5}" for i in range(rows)]
    path.write_text("\n".join(["int00,cat00,x", *cells]) + "\n")
    answers = [score(row) for row in load_rows(path).rows]  # the rows exactly as the gate sends them
    # Label 1 where the right answer is >= 0.5: the right model ranks every positive above every
    # negative, in AUC bins that never mix the two, so its auc is exactly 1 however often each row is sent.
    lines = ["int00,cat00,x,label,expected"] + [
        f"{cell},{int(answer >= 0.5)},{min(1.0, answer + offset)!r}"
        for cell, answer in zip(cells, answers, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(pytester: pytest.Pytester, server: LoopbackModel, *args: str) -> pytest.RunResult:
    url = server.url.replace("/score", "/invocations") if server.contract == "mlflow" else server.url
    return pytester.runpytest_subprocess("--aks-scoring-uri", url, "-p", "no:cacheprovider", *args)


def test_an_mlflow_gate_passes_with_the_models_predictions_and_counts_rows_per_batch(
    pytester: pytest.Pytester,
) -> None:
    sample = _csv(pytester.path / "rows.csv")
    write_gate(
        pytester,
        f'{FAST}, contract="mlflow", batch=8, slo=["mismatch_rate < 1%", "failure_rate < 1%"]',
        "assert load_result.rows == 8 * (load_result.requests - load_result.failures) > 0\n"
        "    assert load_result.mismatch_rate == 0 and load_result.max_abs_error <= 1e-6\n"
        "    assert load_result.auc == 1 and load_result.logloss > 0",
    )
    with LoopbackModel("mlflow") as server:
        run = _run(pytester, server, "--aks-sample", str(sample))
    run.assert_outcomes(passed=1)


def test_an_mlflow_gate_fails_naming_mismatch_rate_with_another_models_predictions(
    pytester: pytest.Pytester,
) -> None:
    sample = _csv(pytester.path / "rows.csv", offset=0.01)
    # Row 0's expectation is right, so pre-flight lets it through and the load finds the rest wrong.
    lines = sample.read_text().splitlines()
    first = load_rows(sample).rows[0]
    lines[1] = lines[1].rsplit(",", 1)[0] + f",{score(first)!r}"
    sample.write_text("\n".join(lines) + "\n")
    write_gate(pytester, f'{FAST}, contract="mlflow", batch=8, slo=["mismatch_rate < 1%", "failure_rate < 1%"]')
    with LoopbackModel("mlflow") as server:
        run = _run(pytester, server, "--aks-sample", str(sample))
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(["*mismatch_rate < 1%*FAIL*", "*wrong predictions (*", "*sample row *: expected *, got *"])
    run.stdout.fnmatch_lines(["*failure_rate < 1%*PASS*"])  # a mismatch is not a failed request


def test_a_wrong_model_version_errors_at_pre_flight(pytester: pytest.Pytester) -> None:
    sample = _csv(pytester.path / "rows.csv")
    write_gate(pytester, f'{FAST}, slo=["mismatch_rate < 1%"]')
    with LoopbackModel(offset=0.01) as server:
        run = _run(pytester, server, "--aks-sample", str(sample))
        requests = server.requests
    run.assert_outcomes(errors=1)
    run.stdout.fnmatch_lines(["*pre-flight: * predicted * for sample row 0, expected *different model version*"])
    assert requests == 1  # no load was sent


def test_a_thread_unsafe_model_is_caught_only_under_load(pytester: pytest.Pytester) -> None:
    sample = _csv(pytester.path / "rows.csv")
    write_gate(pytester, f'{FAST}, slo=["mismatch_rate < 1%"]')
    with LoopbackModel(thread_unsafe=True, hold_s=0.02) as server:
        run = _run(pytester, server, "--aks-sample", str(sample))
        overlapped = server.overlapped
    assert overlapped > 0  # 8 users at once: the shared buffer was overwritten mid-request
    run.assert_outcomes(failed=1)  # pre-flight (one request alone) passed; the load did not
    run.stdout.fnmatch_lines(["*mismatch_rate < 1%*FAIL*"])


def test_without_expectations_or_labels_the_metrics_fail_saying_what_is_missing(pytester: pytest.Pytester) -> None:
    (pytester.path / "rows.csv").write_text("a,b\n1,x\n2,y\n")
    write_gate(pytester, f'{FAST}, slo=["mismatch_rate < 1%", "auc >= 0.5"]')
    with LoopbackModel() as server:
        run = _run(pytester, server, "--aks-sample", "rows.csv")
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(
        [
            "*mismatch_rate < 1%*n/a*FAIL (no expected predictions to compare with: define the aks_expected_*",
            "*auc >= 0.5*n/a*FAIL (the sample has no labels (ini aks_label_column, default 'label'))*",
        ]
    )


def test_expectations_from_a_conftest_fixture(pytester: pytest.Pytester) -> None:
    sample = _csv(pytester.path / "rows.csv")
    expected = [score(row) for row in load_rows(sample).rows]
    pytester.makeconftest(
        f"import pytest\n\n@pytest.fixture\ndef aks_expected_predictions():\n    return {expected!r}\n"
    )
    write_gate(pytester, f'{FAST}, batch=16, slo=["mismatch_rate < 1%"]', "assert load_result.correctness.checked > 0")
    with LoopbackModel() as server:
        run = _run(pytester, server, "--aks-sample", str(sample))
    run.assert_outcomes(passed=1)


USER_CONTRACT = """
import json

class Wrapped:
    name = "wrapped"
    content_type = "application/json"

    def encode(self, rows):
        return json.dumps(list(rows)).encode()  # always a list, even for one row

    def decode(self, status, headers, body):
        result = json.loads(body)["result"]
        return result if isinstance(result, list) else [result]
"""


def test_a_user_contract_is_used_by_pre_flight_and_the_load(pytester: pytest.Pytester) -> None:
    sample = _csv(pytester.path / "rows.csv")
    (pytester.path / "contracts").mkdir()
    (pytester.path / "contracts" / "mine.py").write_text(USER_CONTRACT)
    write_gate(pytester, f'{FAST}, contract="contracts/mine.py:Wrapped", batch=16, slo=["mismatch_rate < 1%"]')
    with LoopbackModel() as server:
        run = _run(pytester, server, "--aks-sample", str(sample))
    run.assert_outcomes(passed=1)


BROKEN_GATES = [  # (marker, what its collection error says)
    ('contract="broken.py:Wrapped"', "*contract='broken.py:Wrapped'*importing 'broken.py' failed*"),
    ('contract="nameless.py:Wrapped"', "*contract='nameless.py:Wrapped'*has no 'Wrapped'*"),
    ('contract="protobuf"', "*contract='protobuf'*unknown contract 'protobuf'*expected a built-in name*"),
    ("batch=0", "*batch=0: expected rows per request, a whole number >= 1*"),
    ("tolerance=-1", "*tolerance=-1: expected the absolute difference*"),
]


def test_a_broken_contract_or_argument_is_a_collection_error_without_traceback(pytester: pytest.Pytester) -> None:
    """One gate file per case (an import error, a missing name, an unknown contract, batch=0, a negative
    tolerance), collected in one run: each is its own collection error, none with a traceback."""
    (pytester.path / "broken.py").write_text("import nothing_here\n")
    (pytester.path / "nameless.py").write_text("X = 1\n")
    for index, (marker, _message) in enumerate(BROKEN_GATES):
        pytester.makepyfile(**{f"test_gate_{index}": f"import pytest\n\n@pytest.mark.load_test({marker})\n"
                                                      "def test_gate(load_result):\n    pass\n"})  # fmt: skip
    run = pytester.runpytest_subprocess("--aks-scoring-uri", "http://127.0.0.1:9/score", "-p", "no:cacheprovider")
    run.assert_outcomes(errors=len(BROKEN_GATES))
    for index, (_marker, message) in enumerate(BROKEN_GATES):
        run.stdout.fnmatch_lines([f"*test_gate_{index}.py*{message}"])
    assert "Traceback" not in run.stdout.str()


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (
            None,
            ["--aks-sample", "missing.csv"],
            "*--aks-sample: cannot use 'missing.csv'*expected the path of an existing*",
        ),
        ("", ["--aks-sample", "rows.csv"], "*--aks-sample */rows.csv: is empty*"),
        (
            "a,expected\n1,0.5\n2,high\n",
            ["--aks-sample", "rows.csv"],
            "*column 'expected', row 1: 'high' is not a number*",
        ),
        ("a\n1\n", ["--aks-contract", "nope"], "*--aks-contract 'nope'*unknown contract 'nope'*"),
    ],
    ids=["missing-sample", "empty-sample", "non-numeric-expected", "unknown-cli-contract"],
)
def test_bad_input_is_one_line_naming_the_argument(
    pytester: pytest.Pytester, content: str | None, args: list[str], message: str
) -> None:
    if content is not None:
        (pytester.path / "rows.csv").write_text(content)
    write_gate(pytester, FAST)
    run = pytester.runpytest_subprocess(
        "--aks-scoring-uri", "http://127.0.0.1:9/score", "-p", "no:cacheprovider", *args
    )
    assert run.ret != 0
    output = run.stdout.str() + run.stderr.str()
    assert "Traceback" not in output
    assert any(_matches(line, message) for line in output.splitlines()), output


def test_expectations_of_the_wrong_length_are_one_line_naming_the_fixture(pytester: pytest.Pytester) -> None:
    _csv(pytester.path / "rows.csv")
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef aks_expected_predictions():\n    return [0.5, 0.5]\n")
    write_gate(pytester, FAST)
    run = pytester.runpytest_subprocess(
        "--aks-scoring-uri", "http://127.0.0.1:9/score", "--aks-sample", "rows.csv", "-p", "no:cacheprovider"
    )
    run.assert_outcomes(errors=1)
    run.stdout.fnmatch_lines(["aks_expected_predictions has 2 values for 40 sample rows; give one per row"])


def _matches(line: str, pattern: str) -> bool:
    return fnmatch.fnmatch(line, pattern)


def test_the_local_service_passes_a_correctness_objective_out_of_the_box(pytester: pytest.Pytester) -> None:
    """With --aks-local and no expectations given, the shipped model's own predictions are expected."""
    write_gate(
        pytester,
        f'{FAST}, batch=16, slo=["mismatch_rate < 1%"]',
        "assert load_result.correctness.checked == load_result.rows > 0 and load_result.mismatch_rate == 0",
    )
    run = pytester.runpytest_subprocess("--aks-local", "-p", "no:cacheprovider")
    run.assert_outcomes(passed=1)
