"""`GatedResult`: one load test's measurement and everything the gate concluded from it, in one object.

It HOLDS the child's `LoadResult` (`measurement`, never copied or re-parsed) and adds what the
gate found: the SLO `verdicts`, the failure message and warnings, the `--aks-compare`
`baseline_comparisons`, the judged side-by-side `comparison`, `generator_issues`,
`overlapping_tests`, a capacity search's `capacity` and its `sizing`. It is built once per test
(`verdicts.decision.judge_gate`, called by `run.gate.run_gate`) and is what the `load_result`
fixture gives a test.

The measurement's attributes that users read (docs/writing-gates.md, docs/reference.md) are
delegated one by one (`MEASUREMENT_ATTRIBUTES`), not by a catch-all `__getattr__`: a misspelt
attribute raises `AttributeError` as it would on the measurement itself.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_aksload.stats.comparison import SideBySideComparison
from pytest_aksload.stats.result import LoadResult, ResultFileError
from pytest_aksload.verdicts.baseline import BaselineComparison
from pytest_aksload.verdicts.sizing import Sizing
from pytest_aksload.verdicts.slo import SloVerdict

__all__ = ["GATE_FIELDS", "MEASUREMENT_ATTRIBUTES", "GatedResult"]

# What the gate adds to a measurement: the keys `to_dict()` writes them under.
GATE_FIELDS = ("generator_issues", "overlapping_tests", "capacity", "sizing")

# The measurement's attributes and methods a test reads through `load_result` (the docs' list).
MEASUREMENT_ATTRIBUTES = (
    # the run's figures
    "requests", "failures", "failure_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms",
    "percentile", "duration_s", "latencies", "clamped", "ci", "cis", "summary",
    # where they came from
    "endpoints", "errors", "failures_by_kind", "timeline", "windows", "started_at", "measure_start", "ended_at",
    "warmup_s", "warmup_method", "window_s", "users_peak", "complete", "aborted", "uncorrected", "schedule",
    "generator", "run_id",
    # what the answers held
    "rows", "rows_per_s", "mismatch_rate", "max_abs_error", "auc", "logloss", "unmeasured", "mismatches",
    "correctness",
    # side by side
    "against", "agreement", "agreement_tally", "looks", "decided_at_s", "judging_confidence", "compare_sides",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class GatedResult:
    """What the `load_result` fixture gives a test: the child's `measurement` (a read-only
    `LoadResult`, whose fields it gives as its own: `load_result.p95_ms`, `.errors`, `.against`, ...)
    plus what the gate concluded.

    `verdicts`: the marker's SLO verdicts; `failure`: the message the test fails with after its
    body passed (None: the gate lets it pass), `inconclusive` when that failure is only undecided
    verdicts; `warnings`: shown as pytest warnings; `baseline_comparisons`: each metric compared with
    the `--aks-compare` baseline (`compared`: the baseline had an entry for the test); `comparison`:
    side by side, each metric of both sides with the verdict of its objective; `generator_issues`:
    why the load generator's figures cannot be trusted (health.py; then every verdict is
    INCONCLUSIVE); `overlapping_tests`: other tests seen running during the load under pytest-xdist;
    `capacity`: `{"capacity_rps", "bounded", "steps"}` of a capacity search, whose `capacity_rps` is
    also a field; `sizing`: what that capacity means in instances for the peak (verdicts/sizing.py:
    `instances_needed`, `headroom`, `per_instance_rps` (also a field), ...; None without a capacity
    search). `to_dict()` adds the gate's findings to the result file's keys and `from_dict()`
    reads them back, so a dumped `load_result` round-trips.
    """

    measurement: LoadResult
    verdicts: tuple[SloVerdict, ...] = ()
    failure: str | None = None
    inconclusive: bool = False  # the failure is INCONCLUSIVE verdicts failed by the policy, nothing worse
    warnings: tuple[str, ...] = ()
    baseline_comparisons: tuple[BaselineComparison, ...] = ()
    compared: bool = False
    comparison: Mapping[str, SideBySideComparison] = field(default_factory=dict)
    generator_issues: Sequence[str] = ()
    overlapping_tests: Sequence[str] = ()
    capacity: Mapping[str, Any] | None = None
    sizing: Sizing | None = None

    def __post_init__(self) -> None:
        # Held as plain lists and dicts, copied: the caller's objects can change, this cannot.
        object.__setattr__(self, "generator_issues", list(self.generator_issues))
        object.__setattr__(self, "overlapping_tests", list(self.overlapping_tests))
        object.__setattr__(self, "comparison", dict(self.comparison or self.measurement.comparison))
        if self.capacity is not None:
            object.__setattr__(self, "capacity", copy.deepcopy(dict(self.capacity)))

    @property
    def capacity_rps(self) -> float | None:
        """Capacity search only: the highest arrival rate (requests/s) that met every SLO."""
        return None if self.capacity is None else self.capacity["capacity_rps"]

    @property
    def per_instance_rps(self) -> float | None:
        """Capacity search on a fixed instance count only: the capacity of one instance (requests/s)."""
        return None if self.sizing is None else self.sizing.per_instance_rps

    def __repr__(self) -> str:
        return repr(self.measurement)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GatedResult:
        """Read `to_dict()` output back (a plain result file has none of the gate's fields)."""
        if not isinstance(data, Mapping):
            raise ResultFileError(f"result must be a JSON object, not {type(data).__name__}")
        for name in ("generator_issues", "overlapping_tests"):
            values = data.get(name, [])
            if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
                raise ResultFileError(f"result.{name} must be a list of strings")
        capacity = data.get("capacity")
        if capacity is not None and not (isinstance(capacity, Mapping) and "capacity_rps" in capacity):
            raise ResultFileError("result.capacity must be null or an object with capacity_rps")
        sizing = data.get("sizing")
        if sizing is not None and not (isinstance(sizing, Mapping) and "capacity_rps" in sizing):
            raise ResultFileError("result.sizing must be null or an object with capacity_rps")
        measured = {key: value for key, value in data.items() if key not in GATE_FIELDS}
        return cls(
            LoadResult.from_dict(measured),
            generator_issues=data.get("generator_issues", []),
            overlapping_tests=data.get("overlapping_tests", []),
            capacity=capacity,
            sizing=None if sizing is None else Sizing.from_dict(sizing),
        )

    def to_dict(self) -> dict[str, Any]:
        """The measurement's `to_dict()` plus the gate's findings (`GATE_FIELDS`); JSON-safe."""
        gate: dict[str, Any] = {
            "generator_issues": list(self.generator_issues),
            "overlapping_tests": list(self.overlapping_tests),
        }
        if self.capacity is not None:
            gate["capacity"] = copy.deepcopy(self.capacity)
        if self.sizing is not None:
            gate["sizing"] = self.sizing.to_dict()
        return {**self.measurement.to_dict(), **gate}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _delegated(name: str) -> property:
    return property(lambda self: getattr(self.measurement, name), doc=f"The measurement's `{name}` (`LoadResult`).")


for _name in MEASUREMENT_ATTRIBUTES:
    setattr(GatedResult, _name, _delegated(_name))
del _name
