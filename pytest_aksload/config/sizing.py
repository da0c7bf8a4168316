"""`peak=` and `utilization=` of the marker (and ini `aks_peak_rps`): what a capacity search is sized for.

Read at collection time with the rest of the marker; verdicts/sizing.py computes the sizing.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pytest_aksload.config.units import NUMBER

__all__ = ["DEFAULT_UTILIZATION", "PEAK_FORM", "UTILIZATION_FORM", "parse_peak", "parse_utilization"]

# Azure ML's Kubernetes routing guide sizes replicas at a 70 % target utilization.
DEFAULT_UTILIZATION = 0.70
PEAK_FORM = 'requests per second, a number > 0 or "N/s", e.g. 1200 or "1200/s"'
UTILIZATION_FORM = "a fraction in (0, 1], e.g. 0.7 (default 0.70)"
_PEAK_RE = re.compile(rf"\s*(?P<n>{NUMBER})\s*(/s|rps)?\s*", re.ASCII)


def parse_peak(value: Any, name: str = "peak") -> float:
    """The peak rate in requests per second: a number > 0 or a string ``"1200"``, ``"1200/s"``."""
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and (match := _PEAK_RE.fullmatch(value)) is not None:
        number = float(match["n"])
    if number is None or not 0 < number < math.inf:
        raise ValueError(f"{name}={value!r}: expected {PEAK_FORM}")
    return number


def parse_utilization(value: Any) -> float:
    """The target utilization an instance is sized to run at, 0 < u <= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"utilization={value!r}: expected {UTILIZATION_FORM}")
    return float(value)
