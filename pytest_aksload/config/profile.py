"""`LoadProfile`: what one `@pytest.mark.load_test(...)` asks for, validated at collection time.

Marker arguments win over the session defaults (`--aks-users` etc., see settings.py), which win
over the built-in defaults.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_aksload.config import arrivals
from pytest_aksload.config.capacity import CapacitySearch, parse_capacity
from pytest_aksload.config.objectives import Slo, SloError, parse_slos
from pytest_aksload.config.options import is_scoring_uri
from pytest_aksload.config.settings import Settings
from pytest_aksload.config.sizing import DEFAULT_UTILIZATION, parse_peak, parse_utilization
from pytest_aksload.config.units import UnitError, parse_duration
from pytest_aksload.contracts import ContractError, load_contract, resolve_spec
from pytest_aksload.defaults import (
    DEFAULT_BATCH,
    DEFAULT_CONTRACT,
    DEFAULT_TOLERANCE,
    DEFAULT_WAIT_S,
)

MARKER = "load_test"
MARKER_HELP = (
    "load_test(users=, spawn_rate=, duration=, wait=(min_s, max_s), slo=, warmup= (a duration or 'auto'), rows=, "
    "locustfile=, timeout=, max_duration=, abort_on=, workers=, rate=, arrivals=, capacity=, contract=, batch=, "
    "tolerance=, against=, peak=, utilization=): "
    "run Locust against the aksload target before the test body and gate on the SLOs"
)

DEFAULT_ROWS = 100
# The child gets this long past its run time to stop users and write its result.
STOP_GRACE_S = 15.0
REMOTE_WORKERS_WAIT_S = 120.0


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
    # warmup="auto": the child records from the start, steady_state.py picks the cut afterwards.
    warmup_auto: bool = False
    # Longest a run may be extended to decide INCONCLUSIVE verdicts (--aks-inconclusive=extend).
    max_duration_s: float | None = None
    # Windowed objectives that, violated in any window, stop the run early and fail it.
    abort_on: tuple[Slo, ...] = ()
    # Scale-out (--aks-workers / workers=): local Locust worker processes; or remote workers
    # the master waits for (--aks-expect-workers) on --aks-master-bind HOST:PORT.
    workers: int = 0
    remote_workers: int = 0
    master_bind: tuple[str, int] | None = None
    # Open model (arrivals.py): requests per second on a schedule; None is Locust's closed model.
    rate: float | None = None
    arrivals: str = "constant"
    # Capacity search (run/capacity.py): find the highest rate that meets the SLOs.
    capacity: CapacitySearch | None = None
    # What the search's capacity is sized for (verdicts/sizing.py): the peak rate (requests per
    # second; None: unknown) and the utilization an instance should run at.
    peak_rps: float | None = None
    utilization: float = DEFAULT_UTILIZATION
    # How rows become a body and an answer predictions (a built-in name or an absolute spec), rows
    # per request, and how far a prediction may be from its expected value.
    contract: str = DEFAULT_CONTRACT
    batch: int = DEFAULT_BATCH
    tolerance: float = DEFAULT_TOLERANCE
    # Side by side (`against=`, over --aks-against / --aks-against-uri): another deployment's name or
    # a scoring URL; None: the options decide.
    against: str | None = None

    @property
    def deadline_s(self) -> float:
        """Longest the child may live: run time, one request timeout, and a grace to stop."""
        # Remote workers may take until Locust's --expect-workers-max-wait to connect.
        connect = REMOTE_WORKERS_WAIT_S if self.remote_workers else 0.0
        return self.duration_s + self.request_timeout_s + STOP_GRACE_S + connect

    def describe(self) -> str:
        if self.capacity is not None:
            load = f"capacity search from {self.capacity.start_rps:g} rps, steps {self.capacity.step_s:g}s"
        elif self.rate is not None:
            load = f"{self.rate:g} rps {self.arrivals} ({self.users} users), {self.duration_s:g}s"
        else:
            wait = f"{self.wait_s[0]:g}-{self.wait_s[1]:g}s"
            load = f"{self.users} users @ {self.spawn_rate:g}/s, {self.duration_s:g}s, wait {wait}"
        if self.contract != DEFAULT_CONTRACT:
            load += f", contract {self.contract.rpartition('/')[2]}"
        if self.batch != DEFAULT_BATCH:
            load += f", batch {self.batch}"
        if self.against:
            load += f", against {self.against}"
        if self.workers:
            load += f", {self.workers} worker processes"
        elif self.remote_workers:
            load += f", {self.remote_workers} remote workers"
        return load


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


def _warmup(value: Any) -> float:
    try:
        return parse_duration(value, what="warmup", allow_zero=True)
    except UnitError as error:
        raise ProfileError(f"warmup={value!r}: {error}, or 'auto' to detect the end of the warm-up") from None


def _rows(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProfileError(f"rows={value!r}: expected the number of sample rows to cycle through, >= 1")
    return value


def _locustfile(value: Any, test_dir: Path) -> Path:
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ProfileError(f"locustfile={value!r}: expected a path to a .py file, relative to the test file")
    try:
        path = (test_dir / value).resolve()
        found = path.suffix == ".py" and path.is_file()
    except (OSError, ValueError):  # e.g. a NUL byte: no file can have that name
        raise ProfileError(f"locustfile={value!r}: expected a path to a .py file, relative to the test file") from None
    if not found:
        raise ProfileError(
            f"locustfile={value!r}: no such .py file ({str(path)!r}); paths are relative to the test file"
        )
    return path


def _slos(value: Any, name: str = "slo") -> tuple[Slo, ...]:
    try:
        return tuple(parse_slos(value))
    except SloError as error:
        raise ProfileError(f"{name}: {error}") from None


def require_other_side(slos: Sequence[Slo], has_other_side: bool) -> None:
    """ProfileError (one line) when an objective compares with another deployment and there is none."""
    if has_other_side:
        return
    for slo in slos:
        if slo.compares:
            raise ProfileError(
                f"slo {str(slo)!r} compares with another deployment: pass --aks-against NAME, "
                "--aks-against-uri URL or the marker's against="
            )


def _abort_on(value: Any) -> tuple[Slo, ...]:
    rules = _slos(value, "abort_on")
    for rule in rules:
        if rule.compares or rule.endpoint is not None:
            # The child watches the candidate's own windows; they hold neither side nor endpoint apart.
            raise ProfileError(
                f"abort_on: {rule.text!r} needs the whole run; abort rules watch the candidate's recent windows, "
                "e.g. 'failure_rate > 50% over 10s windows'"
            )
        if rule.window_s is None or rule.metric == "rps":
            raise ProfileError(
                f"abort_on: {rule.text!r} must be a windowed latency or failure_rate rule that states when to give up, "
                "e.g. 'failure_rate > 50% over 10s windows'"
            )
    return rules


def _contract(kwargs: dict[str, Any], settings: Settings, test_dir: Path) -> str:
    """The contract spec the child loads (a file path made absolute), checked by loading it now."""
    if kwargs.get("contract") is not None:
        spec, name = kwargs["contract"], f"contract={kwargs['contract']!r}"
    else:
        spec = settings.aks_contract or DEFAULT_CONTRACT
        name = f"--aks-contract {spec!r}"
    try:
        load_contract(spec, test_dir)
    except ContractError as error:
        raise ProfileError(f"{name}: {error}") from None
    return resolve_spec(spec.strip(), test_dir)


def _batch(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProfileError(f"batch={value!r}: expected rows per request, a whole number >= 1")
    return value


def _tolerance(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ProfileError(
            f"tolerance={value!r}: expected the absolute difference a prediction may have from its expected "
            f"value, a number >= 0 (default {DEFAULT_TOLERANCE:g})"
        )
    return float(value)


# Azure ML's rule for endpoint and deployment names.
_DEPLOYMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{2,31}")


def _against(value: Any) -> str:
    if isinstance(value, str) and (is_scoring_uri(value) or _DEPLOYMENT_NAME.fullmatch(value.strip())):
        return value.strip()
    raise ProfileError(
        f"against={value!r}: expected another deployment of the endpoint (a name of 3-32 letters, digits and '-', "
        "starting with a letter) or the other side's scoring URL (http:// or https://)"
    )


ACCEPTED_ARGUMENTS = (
    "users",
    "spawn_rate",
    "duration",
    "wait",
    "slo",
    "warmup",
    "rows",
    "locustfile",
    "timeout",
    "max_duration",
    "abort_on",
    "workers",
    "rate",
    "arrivals",
    "capacity",
    "contract",
    "batch",
    "tolerance",
    "against",
    "peak",
    "utilization",
)


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
    warmup_auto = isinstance(kwargs.get("warmup"), str) and kwargs["warmup"].strip().lower() == "auto"
    warmup_s = _warmup(kwargs["warmup"]) if "warmup" in kwargs and not warmup_auto else 0.0
    if warmup_s >= duration_s:
        raise ProfileError(f"warmup={kwargs.get('warmup')!r}: must be shorter than the duration ({duration_s:g}s)")
    profile = LoadProfile(
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
        warmup_auto=warmup_auto,
        max_duration_s=_max_duration(kwargs.get("max_duration"), duration_s),
        abort_on=_abort_on(kwargs.get("abort_on")),
        contract=_contract(kwargs, settings, test_dir),
        batch=_batch(kwargs["batch"]) if "batch" in kwargs else DEFAULT_BATCH,
        tolerance=_tolerance(kwargs["tolerance"]) if "tolerance" in kwargs else DEFAULT_TOLERANCE,
        against=_against(kwargs["against"]) if kwargs.get("against") is not None else None,
    )
    require_other_side(profile.slos, bool(profile.against or settings.against))
    return _scale_out(profile, kwargs, settings)


def _scale_out(profile: LoadProfile, kwargs: dict[str, Any], settings: Settings) -> LoadProfile:
    """Workers, open model and capacity search: arguments that only make sense together."""
    workers = settings.aks_workers
    if "workers" in kwargs:
        workers = kwargs["workers"]
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ProfileError(f"workers={workers!r}: expected local worker processes, a whole number >= 0")
    try:
        rate = arrivals.parse_rate(kwargs.get("rate"))
        arrival = arrivals.parse_arrivals(kwargs.get("arrivals", "constant"))
        search = parse_capacity(kwargs.get("capacity"))
        peak_rps = parse_peak(kwargs["peak"]) if "peak" in kwargs else settings.aks_peak_rps
        utilization = parse_utilization(kwargs["utilization"]) if "utilization" in kwargs else DEFAULT_UTILIZATION
    except ValueError as error:
        raise ProfileError(str(error)) from None
    if search is not None:
        if not profile.slos:
            raise ProfileError("capacity=True needs slo=[...]: the capacity is the highest rate that meets them")
        if rate is not None:
            raise ProfileError("capacity= searches the rate itself; drop rate= (use capacity={'start': R})")
        spec = kwargs.get("capacity")
        if not (isinstance(spec, Mapping) and "max_duration" in spec) and profile.max_duration_s is not None:
            search = replace(search, max_duration_s=profile.max_duration_s)
        rate = search.start_rps
    if (rate is not None) and profile.locustfile is not None:
        raise ProfileError("rate=/capacity= drive the packaged user on a schedule; they cannot use a custom locustfile")
    remote = settings.aks_expect_workers or 0
    if remote and workers:
        raise ProfileError(
            f"workers={workers}: local worker processes cannot be combined with --aks-expect-workers {remote}"
        )
    where = profile.contract.rpartition(":")[0]
    if remote and (where.endswith(".py") or "/" in where or "\\" in where):
        raise ProfileError(
            f"contract={profile.contract!r}: remote workers cannot load a contract from a file of this machine; "
            "make it an importable module installed next to aksload-worker and use contract='module:Name'"
        )
    side_by_side = bool(profile.against or settings.against)
    if remote and side_by_side:
        raise ProfileError("side-by-side gates do not run on remote workers yet; use workers= (local processes)")
    if search is not None and side_by_side:
        raise ProfileError("capacity= searches one service's capacity; it cannot be combined with a side-by-side gate")
    users = profile.users
    if rate is not None and "users" not in kwargs:
        users = arrivals.pool_size(rate, profile.request_timeout_s)
    return replace(
        profile,
        users=users,
        workers=workers,
        remote_workers=remote,
        master_bind=settings.aks_master_bind if remote else None,
        rate=rate,
        arrivals=arrival,
        capacity=search,
        peak_rps=peak_rps,
        utilization=utilization,
    )


def _max_duration(value: Any, duration_s: float) -> float | None:
    if value is None:
        return None
    seconds = _duration("max_duration", value)
    if seconds < duration_s:
        raise ProfileError(f"max_duration={value!r}: must be at least the duration ({duration_s:g}s)")
    return seconds
