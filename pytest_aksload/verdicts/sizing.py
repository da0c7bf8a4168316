"""Sizing: from a capacity search's capacity to the instances a peak rate needs (`load_result.sizing`).

Two formulas, both at the same target utilization u (`utilization=`, default 0.70):

- measured: capacity per instance = capacity ÷ instances (only when the instance count was fixed
  during the search: an autoscaled deployment's count moved under the load, and nothing unknown is
  guessed), then instances_needed = ceil(peak ÷ (per_instance_rps × u)), and headroom = capacity ÷ peak;
- Azure ML's Kubernetes routing guide: replicas = ceil(peak × request time ÷ u ÷ max concurrent
  per replica), with the confirmation run's mean latency as the request time.

When the two are more than `DISAGREEMENT` apart, the sizing says which one limits: the concurrency
setting (Azure's count is higher: the ceiling admits fewer requests than an instance can serve)
or the model (the measured count is higher: an instance serves fewer than the ceiling admits).
The `headroom` and `instances_needed` objectives are judged on it (`sized`); without it they FAIL
with the one line of what is missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pytest_aksload.config.metrics import METRICS
from pytest_aksload.config.objectives import Slo

__all__ = ["DISAGREEMENT", "NO_SEARCH", "Sizing", "sized", "size"]

DISAGREEMENT = 2.0
NO_SEARCH = "no capacity search: sizing needs capacity= on the marker (and peak= or --aks-peak-rps)"
NO_PEAK = "no peak rate: give peak= on the marker or --aks-peak-rps (ini aks_peak_rps)"
_SIZED = tuple(entry.name for entry in METRICS if entry.sized)


@dataclass(frozen=True)
class Sizing:
    """What a capacity search says about the instances a peak needs; each figure None when it could
    not be computed, and `missing` says why (None when everything was)."""

    capacity_rps: float
    peak_rps: float | None
    utilization: float
    instances: int | None  # the fixed instance count during the search
    per_instance_rps: float | None
    instances_needed: int | None
    headroom: float | None
    formula: str | None  # the measured formula with its numbers
    mean_ms: float | None
    max_concurrent_per_instance: int | None
    concurrency_instances: int | None  # Azure's concurrency formula
    concurrency_formula: str | None
    disagreement: str | None
    per_instance_missing: str | None  # why per_instance_rps is None
    missing: str | None

    def unmeasured(self, metric: str) -> str | None:
        """Why a sized metric has no value, in one line (None when it has one)."""
        if metric == "headroom" and self.headroom is None:
            return NO_PEAK
        if metric == "instances_needed" and self.instances_needed is None:
            return self.missing
        return None

    def sentence(self) -> str:
        """The sizing as the report page says it."""
        per = (
            f"{self.per_instance_rps:.1f} rps per instance ({self.instances} instance{'s' * (self.instances != 1)})"
            if self.per_instance_rps is not None
            else f"no capacity per instance ({self.per_instance_missing})"
        )
        head = f"Capacity {self.capacity_rps:g} rps, {per}."
        if self.peak_rps is None:
            return f"{head} No sizing: {self.missing}."
        text = f"{head} For a peak of {self.peak_rps:g} rps the headroom is {self.headroom:.3g}x"
        if self.instances_needed is not None:
            text += f"; {self.instances_needed} instances at {self.utilization:.0%} utilization ({self.formula})"
        elif self.per_instance_rps is None:
            text += "; instances needed unknown without a capacity per instance"
        else:
            text += f"; instances needed unknown ({self.missing})"
        if self.concurrency_instances is not None:
            text += f"; Azure's concurrency formula: {self.concurrency_instances} ({self.concurrency_formula})"
        return text + "." + (f" {self.disagreement}." if self.disagreement else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sizing:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})


def size(capacity_rps: float, deployment: Any, peak_rps: float | None, utilization: float, mean_ms: float) -> Sizing:
    """The sizing of a capacity search's `capacity_rps` on `deployment` (anything with `instances`,
    `min_instances`, `max_instances`, `max_concurrent_per_instance`, each None when unknown)."""
    instances, why_not = _fixed_instances(deployment)
    per_instance = None if instances is None else capacity_rps / instances
    max_concurrent = getattr(deployment, "max_concurrent_per_instance", None)
    mean = mean_ms if mean_ms is not None and math.isfinite(mean_ms) and mean_ms > 0 else None
    needed = formula = concurrency = concurrency_formula = disagreement = headroom = None
    missing = None
    if peak_rps is None:
        missing = NO_PEAK
    else:
        headroom = capacity_rps / peak_rps
        if per_instance is None:
            missing = why_not
        elif per_instance <= 0:
            missing = "the capacity search found no rate that met the SLOs (capacity 0 rps)"
        else:
            needed = _ceil(peak_rps / (per_instance * utilization))
            formula = f"ceil({peak_rps:g} / ({per_instance:.4g} x {utilization:g})) = {needed}"
        if max_concurrent is not None and mean is not None:
            concurrency = _ceil(peak_rps * mean / 1000 / utilization / max_concurrent)
            concurrency_formula = (
                f"ceil({peak_rps:g} x {mean / 1000:.4g}s / {utilization:g} / {max_concurrent}) = {concurrency}"
            )
        disagreement = _disagreement(needed, concurrency, max_concurrent)
    return Sizing(
        capacity_rps, peak_rps, utilization, instances, per_instance, needed, headroom, formula, mean,
        max_concurrent, concurrency, concurrency_formula, disagreement, why_not, missing,
    )  # fmt: skip


def _fixed_instances(deployment: Any) -> tuple[int | None, str | None]:
    """The instance count the search ran on, or why there is none to divide by."""
    instances = getattr(deployment, "instances", None)
    low, high = getattr(deployment, "min_instances", None), getattr(deployment, "max_instances", None)
    if low is not None and high is not None and low != high:
        return None, f"the deployment autoscales ({low}-{high} instances): the count moved under the search's load"
    if instances is None and low is not None and low == high:
        instances = low
    if instances is None:
        return None, (
            "the instance count is unknown (autoscaled or not stated): "
            'state it with --aks-deployment-settings "instances=N"'
        )
    return instances, None


def _disagreement(measured: int | None, concurrency: int | None, max_concurrent: int | None) -> str | None:
    if measured is None or concurrency is None:
        return None
    if max(measured, concurrency) <= DISAGREEMENT * min(measured, concurrency):
        return None
    both = f"Azure's concurrency formula gives {concurrency} instances, the measured capacity per instance {measured}"
    if concurrency > measured:
        return (
            f"{both}: more than {DISAGREEMENT:g}x apart; max_concurrent_per_instance ({max_concurrent}) admits "
            "fewer requests than an instance served: the concurrency setting, not the model, limits the deployment"
        )
    return (
        f"{both}: more than {DISAGREEMENT:g}x apart; an instance served fewer requests than "
        f"max_concurrent_per_instance ({max_concurrent}) admits: the model, not the concurrency setting, limits it"
    )


class _Sized:
    """A measurement as the SLOs read it, with the sizing's metrics (NaN and a reason when unknown)."""

    def __init__(self, measurement: Any, sizing: Sizing | None) -> None:
        self._measurement, self._sizing = measurement, sizing

    def __getattr__(self, name: str) -> Any:
        if name in _SIZED:
            value = None if self._sizing is None else getattr(self._sizing, name)
            return math.nan if value is None else float(value)
        return getattr(self._measurement, name)

    def unmeasured(self, metric: str) -> str | None:
        if metric in _SIZED:
            return NO_SEARCH if self._sizing is None else self._sizing.unmeasured(metric)
        own = getattr(self._measurement, "unmeasured", None)
        return own(metric) if own else None


def sized(measurement: Any, sizing: Sizing | None, slos: Sequence[Slo]) -> Any:
    """`measurement` with the sizing's metrics, for `slo.evaluate` (itself when no objective is sized)."""
    return _Sized(measurement, sizing) if any(slo.entry.sized for slo in slos) else measurement


def _ceil(value: float) -> int:
    # 1200 / (100 x 0.7) is 17.142..., but 700 / (100 x 0.7) must be 10, not 11 from a rounding error.
    return math.ceil(round(value, 9))
