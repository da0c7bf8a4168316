"""`capacity=` of the marker: whether and how to search the highest rate that meets the SLOs.

Read at collection time with the rest of the marker; run/capacity.py runs the search.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pytest_aksload.config.units import UnitError, parse_duration

__all__ = ["CapacityError", "CapacitySearch", "parse_capacity"]


class CapacityError(ValueError):
    """A `capacity=` argument is invalid; the message names it and the accepted form."""


@dataclass(frozen=True)
class CapacitySearch:
    start_rps: float = 10.0
    factor: float = 2.0
    step_s: float = 5.0
    hold_s: float = 10.0
    precision: float = 0.05
    max_duration_s: float = 300.0


_FORM = (
    "expected True or a dict with any of start (rps > 0), factor (> 1), step and hold (durations), "
    "precision (0 < p < 1), max_duration (duration)"
)


def parse_capacity(value: Any) -> CapacitySearch | None:
    """`capacity=` of the marker: False/None (no search), True (defaults) or a dict of settings."""
    if value is None or value is False:
        return None
    if value is True:
        return CapacitySearch()
    if not isinstance(value, Mapping):
        raise CapacityError(f"capacity={value!r}: {_FORM}")
    unknown = sorted(set(value) - {"start", "factor", "step", "hold", "precision", "max_duration"})
    if unknown:
        raise CapacityError(f"capacity: unknown key {unknown[0]!r}; {_FORM}")
    search = CapacitySearch()
    try:
        fields: dict[str, Any] = {}
        if "start" in value:
            fields["start_rps"] = _number(value["start"], "start", lambda v: v > 0)
        if "factor" in value:
            fields["factor"] = _number(value["factor"], "factor", lambda v: v > 1)
        if "precision" in value:
            fields["precision"] = _number(value["precision"], "precision", lambda v: 0 < v < 1)
        for key, field in (("step", "step_s"), ("hold", "hold_s"), ("max_duration", "max_duration_s")):
            if key in value:
                fields[field] = parse_duration(value[key], what=key)
    except UnitError as error:
        raise CapacityError(f"capacity: {error}; {_FORM}") from None
    return replace(search, **fields)


def _number(value: Any, name: str, ok: Callable[[float], bool]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        raise CapacityError(f"capacity: {name}={value!r}; {_FORM}")
    return float(value)
