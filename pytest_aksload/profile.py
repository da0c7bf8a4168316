"""`LoadProfile`: what one `@pytest.mark.load_test(...)` asks for, validated at collection time.

Marker arguments win over the session defaults (`--aks-users` etc., see settings.py), which win
over the built-in defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .settings import Settings
from .slo import Slo, SloError, parse_slos
from .units import UnitError, parse_duration

MARKER = "load_test"
MARKER_HELP = (
    "load_test(users=, spawn_rate=, duration=, wait=(min_s, max_s), slo=, warmup=, rows=, locustfile=, timeout=): "
    "run Locust against the aksload target before the test body and gate on the SLOs"
)

# Think time between a user's requests, as the seed notebook's 1-2 s but shorter so a
# quick run still collects a few hundred requests.
DEFAULT_WAIT_S = (0.5, 1.5)
DEFAULT_ROWS = 100
# The child gets this long past its run time to stop users and write its result.
STOP_GRACE_S = 15.0


class ProfileError(ValueError):
    """A marker argument is invalid; the message names it and the accepted form."""


@dataclass(frozen=True)
class LoadProfile:
    users: int
    spawn_rate: float
    duration_s: float
    wait_s: tuple[float, float]
    slos: tuple[Slo, ...]
    warmup_s: float
    rows: int
    locustfile: Path | None
    request_timeout_s: float

    @property
    def deadline_s(self) -> float:
        """Longest the child may live: run time, one request timeout, and a grace to stop."""
        return self.duration_s + self.request_timeout_s + STOP_GRACE_S

    def describe(self) -> str:
        wait = f"{self.wait_s[0]:g}-{self.wait_s[1]:g}s"
        return f"{self.users} users @ {self.spawn_rate:g}/s, {self.duration_s:g}s, wait {wait}"


def _users(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProfileError(f"users={value!r}: expected a whole number >= 1")
    return value


def _spawn_rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise ProfileError(f"spawn_rate={value!r}: expected a number of users per second > 0")
    return float(value)


def _duration(name: str, value: Any, allow_zero: bool = False) -> float:
    try:
        return parse_duration(value, what=name, allow_zero=allow_zero)
    except UnitError as error:
        raise ProfileError(f"{name}={value!r}: {error}") from None


def _wait(value: Any) -> tuple[float, float]:
    accepted = "expected (min_s, max_s) with 0 <= min_s <= max_s, e.g. wait=(1, 2)"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ProfileError(f"wait={value!r}: {accepted}")
    low, high = value
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high))
    if not numbers or not (0 <= low <= high):
        raise ProfileError(f"wait={value!r}: {accepted}")
    return float(low), float(high)


def _rows(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProfileError(f"rows={value!r}: expected the number of sample rows to cycle through, >= 1")
    return value


def _locustfile(value: Any, test_dir: Path) -> Path:
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ProfileError(f"locustfile={value!r}: expected a path to a .py file, relative to the test file")
    path = (test_dir / value).resolve()
    if path.suffix != ".py" or not path.is_file():
        raise ProfileError(f"locustfile={value!r}: no such .py file ({path}); paths are relative to the test file")
    return path


def _slos(value: Any) -> tuple[Slo, ...]:
    try:
        return tuple(parse_slos(value))
    except SloError as error:
        raise ProfileError(f"slo: {error}") from None


ACCEPTED_ARGUMENTS = ("users", "spawn_rate", "duration", "wait", "slo", "warmup", "rows", "locustfile", "timeout")


def profile_from_marker(
    args: tuple[Any, ...], kwargs: dict[str, Any], settings: Settings, test_dir: Path
) -> LoadProfile:
    """Build the profile of one marker; raises ProfileError naming the bad argument."""
    if args:
        raise ProfileError(f"positional arguments {args!r}: use keywords ({', '.join(ACCEPTED_ARGUMENTS)})")
    unknown = sorted(set(kwargs) - set(ACCEPTED_ARGUMENTS))
    if unknown:
        raise ProfileError(f"unknown argument {unknown[0]!r}; accepted: {', '.join(ACCEPTED_ARGUMENTS)}")
    duration_s = _duration("duration", kwargs["duration"]) if "duration" in kwargs else settings.aks_duration
    warmup_s = _duration("warmup", kwargs["warmup"], allow_zero=True) if "warmup" in kwargs else 0.0
    if warmup_s >= duration_s:
        raise ProfileError(f"warmup={kwargs.get('warmup')!r}: must be shorter than the duration ({duration_s:g}s)")
    return LoadProfile(
        users=_users(kwargs["users"]) if "users" in kwargs else settings.aks_users,
        spawn_rate=_spawn_rate(kwargs["spawn_rate"]) if "spawn_rate" in kwargs else settings.aks_spawn_rate,
        duration_s=duration_s,
        wait_s=_wait(kwargs["wait"]) if "wait" in kwargs else DEFAULT_WAIT_S,
        slos=_slos(kwargs.get("slo")),
        warmup_s=warmup_s,
        rows=_rows(kwargs["rows"]) if "rows" in kwargs else DEFAULT_ROWS,
        locustfile=_locustfile(kwargs["locustfile"], test_dir) if kwargs.get("locustfile") is not None else None,
        request_timeout_s=_duration("timeout", kwargs["timeout"])
        if "timeout" in kwargs
        else settings.aks_request_timeout,
    )
