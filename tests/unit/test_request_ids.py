"""Request ids without Locust: their form (alphanumeric, at most 40 characters, unique across a run
and across worker indexes), the headers that carry them, the first 3 failed requests' ids a
failure group keeps (and merges keep the first 3 overall), the run id from plan to reports."""

from __future__ import annotations

import dataclasses
import random
import re
from pathlib import Path
from typing import Any

import pytest
from synthetic_results import result_from_windows

from pytest_aksload import child
from pytest_aksload.child import ChildContext, request_ids_of
from pytest_aksload.config.profile import profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.contracts.failures import describe_exception
from pytest_aksload.protocol import (
    REQUEST_ID_HEADER,
    RUN_ID_CHARS,
    ProtocolError,
    RunSettings,
    SampleRows,
    new_run_id,
    setting_env,
)
from pytest_aksload.redact import Redactor
from pytest_aksload.reports.azure_pipelines import failed_gate_message
from pytest_aksload.reports.files import junit_properties, markdown_summary
from pytest_aksload.reports.record import build_record
from pytest_aksload.reports.terminal import summary_lines
from pytest_aksload.result_schema import check_result
from pytest_aksload.run.plan import RunPlan
from pytest_aksload.stats.error_groups import MAX_EXAMPLES, ErrorGroups, example
from pytest_aksload.stats.recording import Recorder
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.targets.target import Target
from pytest_aksload.verdicts.decision import judge_gate
from pytest_aksload.verdicts.diagnosis import failure_lines

ALNUM = re.compile(r"^[A-Za-z0-9]+$")
RUN = "abcdefgh1234"


def _run(run_id: str = RUN, **settings: Any) -> ChildContext:
    return ChildContext(
        RunSettings(scoring_uri="http://127.0.0.1/score", run_id=run_id, **settings), {"Authorization": "Bearer k"},
        SampleRows([{"a": 1}, {"a": 2}]), redactor=Redactor(),
    )  # fmt: skip


def test_run_ids_are_random_alphanumeric_and_fixed_length() -> None:
    ids = {new_run_id() for _ in range(200)}
    assert len(ids) == 200 and all(len(i) == RUN_ID_CHARS and ALNUM.match(i) and i.islower() for i in ids)


def test_request_ids_are_alphanumeric_short_and_unique_across_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()
    for worker in (0, 1, 2, 10, 11, 99_999):
        monkeypatch.setattr(child, "_worker_index", lambda worker=worker: worker)
        run = _run()  # one worker process's context
        made = [run.request_id() for _ in range(300)]
        seen.update(made)  # type: ignore[arg-type]
        assert all(ALNUM.match(i) and i.startswith(RUN) for i in made)  # type: ignore[arg-type]
    assert len(seen) == 6 * 300  # "w1" + "n12" never reads as "w11" + "n2"
    far = _run()
    far._id_count = iter([10**21 - 1]).__next__  # the longest id a run could ever make
    assert len(far.request_id() or "") == 40


def test_each_request_gets_a_fresh_id_in_its_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(child, "_worker_index", lambda: 3)
    run = _run()
    first, second = run.request_headers(), run.json_request_headers()
    assert first[REQUEST_ID_HEADER] == f"{RUN}w3n0" and second[REQUEST_ID_HEADER] == f"{RUN}w3n1"
    assert first["Authorization"] == "Bearer k" and REQUEST_ID_HEADER not in run.auth_headers()
    stamped = run.stamped_request_headers()
    assert stamped is run.stamped_request_headers() and stamped[REQUEST_ID_HEADER] == f"{RUN}w3n3"  # in place
    planned = [run.request_plan(random.Random(1)).next() for _ in range(2)]
    assert [p.headers[REQUEST_ID_HEADER] for p in planned] == [f"{RUN}w3n4", f"{RUN}w3n5"]


def test_side_by_side_requests_each_carry_an_id() -> None:
    run = _run(against_uri="http://127.0.0.1:2/score")
    plan = run.request_plan(random.Random(0))
    ids = [plan.next().headers[REQUEST_ID_HEADER] for _ in range(4)]
    assert len(set(ids)) == 4


def test_a_run_without_an_id_sends_none() -> None:
    run = _run(run_id="")
    assert run.request_id() is None and REQUEST_ID_HEADER not in run.request_headers()
    assert REQUEST_ID_HEADER not in run.stamped_request_headers()


@pytest.mark.parametrize("bad", ["abc-def", "a" * (RUN_ID_CHARS + 1), "ab cd", "é"])
def test_a_malformed_run_id_is_refused_in_one_line(bad: str) -> None:
    with pytest.raises(ProtocolError, match=f"^{setting_env('run_id')} must be at most 12 letters and digits"):
        RunSettings.from_env({setting_env("run_id"): bad})


class _Sent:
    def __init__(self, headers: dict[str, str] | None) -> None:
        self.headers = headers


class _Answer:
    def __init__(self, sent: dict[str, str] | None, answer: dict[str, str] | None) -> None:
        self.request, self.headers = _Sent(sent), answer


def test_the_ids_of_a_finished_request_are_read_from_its_request_and_answer() -> None:
    assert request_ids_of(_Answer({"X-MS-Client-Request-Id": "a1"}, {"X-Request-ID": "s1"})) == ("a1", "s1")
    assert request_ids_of(_Answer({REQUEST_ID_HEADER: "a1"}, None)) == ("a1", None)  # no answer (reset)
    assert request_ids_of(object()) == (None, None)


def _ex(at: float, n: int) -> Any:
    return example(at, f"{RUN}w0n{n}", f"srv{n}")


def test_a_group_keeps_its_first_three_examples() -> None:
    groups = ErrorGroups()
    for n in range(5):
        groups.add("model", 424, "HTTP 424", examples=(_ex(100.0 + n, n),))
    groups.add("model", 424, "HTTP 424")  # a failure without ids counts, adds no example
    (record,) = groups.to_list()
    assert record["count"] == 6 and [e["request_id"] for e in record["examples"]] == [f"{RUN}w0n{n}" for n in range(3)]
    assert record["examples"][0] == {"at": 100.0, "request_id": f"{RUN}w0n0", "x_request_id": "srv0"}
    quiet = ErrorGroups()
    quiet.add("http", 500, "HTTP 500")
    assert "examples" not in quiet.to_list()[0]


def test_merged_groups_keep_the_first_three_overall() -> None:
    late, early, merged = ErrorGroups(), ErrorGroups(), ErrorGroups()
    for n in range(3):
        late.add("timeout", None, "timed out", examples=(_ex(200.0 + n, n),))
        early.add("timeout", None, "timed out", examples=(_ex(100.0 + 2 * n, 10 + n),))
    merged.add_records(late.to_list())
    merged.add_records(early.to_list())
    (record,) = merged.to_list()
    assert record["count"] == 6 and len(record["examples"]) == MAX_EXAMPLES
    assert [e["x_request_id"] for e in record["examples"]] == ["srv10", "srv11", "srv12"]


def _recorder() -> Recorder:
    recorder = Recorder(warmup_s=0.0, window_s=1.0, describe_failure=describe_exception)
    recorder.start()
    return recorder


def test_a_workers_examples_travel_to_the_master_and_into_the_result() -> None:
    workers = [_recorder(), _recorder()]
    start = workers[0].started_at or 0.0
    for index, worker in enumerate(workers):
        for n in range(4):
            at = start + 0.01 * (2 * n + index)  # the two workers' failures interleave in time
            worker.record("POST", "/s", 5.0, at, 500, RuntimeError("boom"), ids=(f"{RUN}w{index}n{n}", None))
    master = _recorder()
    for index, worker in enumerate(workers):
        master.merge(f"w{index}", worker.drain(final=True))
    master.stop()
    data = master.result({}, True, None)
    check_result(data)
    (group,) = LoadResult.from_dict(data).errors
    assert group.count == 8 and group.request_ids == [f"{RUN}w0n0", f"{RUN}w1n0", f"{RUN}w0n1"]


def test_the_result_file_refuses_unknown_example_fields_nowhere_but_keeps_the_run_id() -> None:
    data = result_from_windows([([20_000] * 5, 0)]).result_file()
    data["run_id"] = RUN
    data["errors"] = [
        {"kind": "http", "status": 500, "message": "HTTP 500", "count": 1, "examples": [_ex(1.0, 0)]},
    ]
    check_result(data)
    loaded = LoadResult.from_dict(data)
    assert loaded.run_id == RUN and loaded.errors[0].examples[0]["x_request_id"] == "srv0"
    data["errors"][0]["examples"] = [{"at": "soon", "request_id": None, "x_request_id": None}]
    with pytest.raises(ProtocolError, match=r"errors\[0\]\.examples\[0\]\.at"):
        check_result(data)


def test_failure_lines_name_the_first_requests() -> None:
    data = result_from_windows([([20_000] * 5, 2)]).result_file()
    data["errors"] = [
        {"kind": "http", "status": 500, "message": "HTTP 500", "count": 2,
         "examples": [_ex(1.0, 0), {"at": 2.0, "request_id": None, "x_request_id": "srv9"}]},
    ]  # fmt: skip
    (line,) = failure_lines(LoadResult.from_dict(data))
    assert line.endswith(f"[requests {RUN}w0n0 (x-request-id srv0), x-request-id srv9]")


def test_the_plan_gives_each_run_its_own_id_and_pre_flight_one_of_it(tmp_path: Path) -> None:
    profile = profile_from_marker((), {"users": 2, "duration": "2s"}, Settings(), tmp_path)
    plan = RunPlan(Target(scoring_uri="http://127.0.0.1/s", name="t", kind="scoring-uri"), profile, SampleRows([{}]))
    settings = plan.run_settings(tmp_path / "rows", tmp_path / "result")
    assert settings.run_id == plan.run_id and RunSettings.from_env(settings.to_env()).run_id == plan.run_id
    assert settings.for_remote_workers(2).run_id == plan.run_id  # remote workers stamp the same run id
    assert plan.preflight_request_id(0) == f"{plan.run_id}p0n0" and plan.preflight_request_id(1).endswith("p1n0")
    assert plan.with_profile(profile).run_id == plan.run_id and plan.next_run().run_id != plan.run_id


def test_every_report_names_the_run_id() -> None:
    measured = LoadResult.from_dict({**result_from_windows([([20_000] * 5, 1)]).result_file(), "run_id": RUN})
    profile = profile_from_marker((), {"users": 2, "duration": "5s"}, Settings(), Path(__file__).parent)
    gated = judge_gate(dataclasses.replace(profile, slos=()), measured, "fail")
    assert gated.run_id == RUN  # load_result.run_id
    record = build_record("t.py::test_gate", "p", "FAIL", gated=gated)
    assert record["run_id"] == RUN and ("aksload.run_id", RUN) in junit_properties(record)
    assert f"`t.py::test_gate`: `{RUN}`" in markdown_summary([record])
    assert f"  t.py::test_gate: {RUN}" in summary_lines([record], None, None)
    assert f"(run id {RUN})" in failed_gate_message(record)
    assert build_record("t.py::test_gate", "p", "ERROR")["run_id"] is None


def test_a_warm_up_found_after_the_run_keeps_the_examples_of_what_it_keeps() -> None:
    recorder = Recorder(warmup_s=0.0, window_s=1.0, describe_failure=describe_exception, detailed=True)
    recorder.start()
    start = recorder.started_at or 0.0
    for n in range(5):  # detailed windows (warmup="auto") carry each window's groups and examples
        recorder.record("POST", "/s", 5.0, start + 0.01 * n, 500, RuntimeError("boom"), ids=(f"{RUN}w0n{n}", None))
    recorder.stop()
    data = recorder.result({}, True, None)
    assert data["windows"][0]["errors"][0]["examples"][0]["request_id"] == f"{RUN}w0n0"
    (group,) = LoadResult.from_dict(data).with_warmup(0.0, "MSER-5").errors
    assert group.request_ids == [f"{RUN}w0n0", f"{RUN}w0n1", f"{RUN}w0n2"]
