"""The result file the Locust child writes at quit: its typed definition (`ResultFile` and the
shapes it holds), and the one validator both ends use (`check_result`, `check`).

The recorder (`pytest_aksload._locust`) writes it, `pytest_aksload.stats.result` reads it, and a
closed-window line on the child's stdout carries one of its `Window`s (`protocol.decode_window`).
Stdlib only, like `protocol`, which re-exports these names for the code that reads them there.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping
from typing import Any, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict


class ProtocolError(ValueError):
    """A value on the wire (a setting, a line, a message, the result file) is malformed; the message
    is one line and never quotes a secret. Defined here, the lowest module of the wire."""


RESULT_FORMAT = "pytest-aksload-result/1"
"""Value of the `format` key of the result file the recorder writes."""


class Stats(TypedDict):
    """Latencies (integer microseconds, encoded HdrHistogram) and failures: an endpoint, or the total."""

    requests: int
    failures: int
    sum_us: int
    min_us: int | None
    max_us: int | None
    clamped: int
    histogram: str


class ErrorExample(TypedDict):
    """One failed request of a group, to find in the server's logs."""

    at: float  # when it started, epoch seconds
    request_id: str | None  # the x-ms-client-request-id it carried (null: none)
    x_request_id: str | None  # the server's x-request-id in its answer (null: none, or no answer)


class _ErrorGroupRequired(TypedDict):
    kind: str
    status: int | None
    message: str
    count: int


class ErrorGroupRecord(_ErrorGroupRequired, total=False):
    """Failed requests grouped by (kind, status, message)."""

    examples: list[ErrorExample]  # the first 3 by start time (stats.error_groups.MAX_EXAMPLES)


class WindowEndpoint(TypedDict):
    """A detailed window's share of one endpoint."""

    requests: int
    failures: int
    histogram: str


class _WindowRequired(TypedDict):
    index: int
    start_offset_s: float
    duration_s: float
    requests: int
    failures: int
    histogram: str | None  # null when empty


class Window(_WindowRequired, total=False):
    """One time window (every request, warm-up included, by completion time)."""

    rows: int  # sample rows sent in the window's successful requests
    correctness: dict[str, Any] | None  # stats.correctness.CorrectnessTally.to_dict(); null: nothing to compare
    endpoints: dict[str, WindowEndpoint]  # detailed windows only (RunSettings.window_detail)
    errors: list[ErrorGroupRecord]  # detailed windows only


class LocustView(TypedDict):
    """Locust's own rounded view of the whole run, warm-up included."""

    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class Generator(TypedDict, total=False):
    """How the load generator fared (verdicts/health.py judges it)."""

    cpu_percent: float | None  # process CPU time / wall time over the run, 100 = one core
    cpu_percent_peak: float | None  # Locust's 5 s samples
    cpu_warning: bool
    loop_lag_ms: dict[str, float | None]  # p50, p95, max: how late gevent woke a 0.1 s sleep
    warnings: list[str]  # Locust's warning log lines, at most 20, redacted
    locust_version: str
    locust: LocustView | None
    workers: int  # distributed master: how many workers sent their final report
    rejected_reports: int  # distributed master: worker reports that failed authentication, dropped unmerged


class Aborted(TypedDict):
    """Which abort_on rule ended the run, why, and when (seconds from the start)."""

    rule: str
    reason: str
    at_s: float


class UncorrectedStats(Stats):
    """Open model: latencies from the actual send (the corrected ones count from the intended time)."""


class Schedule(TypedDict, total=False):
    """Open model: how well the arrival schedule was kept (see _locust/open_model.py)."""

    intended: int
    sent: int
    late: int
    max_lag_ms: float
    backlogged: int
    missed: int
    pool: int


class TotalStats(Stats, total=False):
    """The measured run's totals: `Stats` plus what its answers held."""

    rows: int  # sample rows sent in the measured successful requests (batch x requests)
    correctness: dict[str, Any] | None  # CorrectnessTally.to_dict(); null: no expectations and no labels


class _ResultFileRequired(TypedDict):
    format: str  # RESULT_FORMAT
    complete: bool  # false: stopped by a signal before the run ended
    started_at: float  # epoch seconds
    measure_start: float  # started_at + warmup_s
    ended_at: float
    warmup_s: float
    window_s: float
    users_peak: int
    generator: Generator
    total: TotalStats  # merged from the endpoints
    endpoints: dict[str, Stats]  # "{request_type} {name}", at most 50
    windows: list[Window]
    errors: list[ErrorGroupRecord]  # measured part, at most 50 groups


class Agreement(TypedDict):
    """Side by side: the rows predicted on both sides, and how many agree within the tolerance."""

    compared: int
    agreeing: int
    max_abs_difference: float | None  # largest |candidate - other| over the compared rows; null: none


class Sequential(TypedDict):
    """Side by side, judged while running: looks taken, and when the outcome was decided (s from the start)."""

    looks: int
    decided_at_s: float | None  # null: not decided before the run ended


class ResultFile(_ResultFileRequired, total=False):
    """The JSON document the recorder writes at quit (one writer: `Recorder.result`)."""

    aborted: Aborted | None  # an abort_on rule ended the run
    uncorrected: UncorrectedStats | None  # open model only
    schedule: Schedule | None  # open model only
    sample_rows: int  # distinct sample rows the load cycled through (bounds the correctness intervals)
    against: ResultFile | None  # side by side: the other deployment's own figures, same shape
    agreement: Agreement | None  # side by side, with predictions on both sides
    sequential: Sequential | None  # side by side, judged at looks while running
    run_id: str  # RunSettings.run_id: every request's x-ms-client-request-id starts with it


def check_result(data: Any) -> None:
    """Check `data` against `ResultFile` (types, required keys) and the counts' consistency;
    ProtocolError (one line naming the field) if it is not a result file. Unknown keys are
    allowed (readers add their own), except in error groups."""
    if not isinstance(data, Mapping):
        raise ProtocolError(f"result must be a JSON object, not {type(data).__name__}")
    if data.get("format") != RESULT_FORMAT:
        raise ProtocolError(f"format is {data.get('format')!r}, expected {RESULT_FORMAT!r}")
    # The side-by-side keys first, so a malformed one is named precisely (an optional key's
    # union would only say "wrong type").
    if data.get("against") is not None:
        try:
            check_result(data["against"])
        except ProtocolError as exc:
            raise ProtocolError(f"against: {exc}") from None
    for key, shape in (("agreement", Agreement), ("sequential", Sequential)):
        if data.get(key) is not None:
            check(data[key], shape, f"result.{key}")
    check(data, ResultFile, "result")
    stats = [("total", data["total"]), *[(f"endpoints[{name!r}]", s) for name, s in data["endpoints"].items()]]
    if data.get("uncorrected") is not None:
        stats.append(("uncorrected", data["uncorrected"]))
    for where, counts in stats:
        if not 0 <= counts["failures"] <= counts["requests"]:
            raise ProtocolError(f"{where}: {counts['failures']} failures of {counts['requests']} requests")
    for position, group in enumerate(data["errors"]):
        extra = set(group) - set(_hints(ErrorGroupRecord))
        if extra:
            raise ProtocolError(f"errors[{position}] has unknown fields {sorted(extra)}")
    if data["window_s"] <= 0:
        raise ProtocolError(f"window_s must be positive, not {data['window_s']}")
    agreement = data.get("agreement")
    if agreement is not None and not 0 <= agreement["agreeing"] <= agreement["compared"]:
        raise ProtocolError(f"agreement: {agreement['agreeing']} agreeing of {agreement['compared']} compared rows")
    sequential = data.get("sequential")
    if sequential is not None and sequential["looks"] < 0:
        raise ProtocolError(f"sequential.looks must be >= 0, not {sequential['looks']}")


def check(value: Any, hint: Any, where: str) -> None:
    """ProtocolError unless `value` (parsed JSON) matches the type `hint` (a TypedDict above, or a
    list/dict/union of JSON types). JSON has no int/float distinction: a float field takes
    an int; a bool is never a number."""
    if hint is Any:
        return
    if is_typeddict(hint):
        if not isinstance(value, Mapping):
            raise ProtocolError(f"{where} must be an object, not {type(value).__name__}")
        hints = _hints(hint)
        for name in hints:  # in definition order, so the message names the first missing key
            if name in hint.__required_keys__ and name not in value:
                raise ProtocolError(f"{where} lacks {name!r}")
        for name, field_hint in hints.items():
            if name in value:
                check(value[name], field_hint, f"{where}.{name}")
        return
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in get_args(hint):
            try:
                check(value, option, where)
                return
            except ProtocolError:
                continue
        raise ProtocolError(f"{where} has the wrong type ({type(value).__name__})")
    if origin is list:
        if not isinstance(value, list):
            raise ProtocolError(f"{where} must be a list, not {type(value).__name__}")
        (item,) = get_args(hint)
        for position, element in enumerate(value):
            check(element, item, f"{where}[{position}]")
        return
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ProtocolError(f"{where} must be an object, not {type(value).__name__}")
        _key, item = get_args(hint)
        for name, element in value.items():
            check(element, item, f"{where}[{name!r}]")
        return
    if not _is_json_type(value, hint):
        raise ProtocolError(f"{where} has the wrong type ({type(value).__name__})")


def _is_json_type(value: Any, hint: Any) -> bool:
    if hint is type(None) or hint is None:
        return value is None
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, (int, float))
    return isinstance(value, hint)


@functools.cache
def _hints(typed_dict: Any) -> dict[str, Any]:
    return get_type_hints(typed_dict)
