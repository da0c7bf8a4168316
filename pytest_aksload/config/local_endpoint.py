"""The embedded local service's deployment settings: instances, a throttling ceiling, a request timeout.

`--aks-local-instances`, `--aks-local-max-concurrent` and `--aks-local-request-timeout` (and
``aksload-local serve``'s `--instances`, `--max-concurrent`, `--request-timeout`) make the local
endpoint behave like a managed online deployment with those settings: the workers are its
instances, and above ``2 × max_concurrent × instances`` requests in flight it answers 429, past the
timeout 408 (``local/front.py``). `LocalServiceSettings` holds them as the endpoint enforces them;
a target can read them as its deployment's settings.

Stdlib only: the local service's launcher and the server's config read this too.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_aksload.config.local_deployments import MAX_LATENCY_S
from pytest_aksload.config.units import parse_duration

# Azure ML's default request_settings.request_timeout_ms of a managed online deployment, and the
# largest it allows (its online deployment YAML schema: at most 180,000 ms).
DEFAULT_REQUEST_TIMEOUT_S = 5.0
MAX_REQUEST_TIMEOUT_S = MAX_LATENCY_S
REQUEST_TIMEOUT_FORM = f"a duration > 0 and <= {MAX_REQUEST_TIMEOUT_S:g}s (Azure ML's largest), e.g. 5s, 500ms"


def parse_request_timeout(value: str) -> float:
    """Seconds of a request timeout (``"5s"``, ``"500ms"``, ``"2"``); ValueError outside (0, 180 s]."""
    seconds = parse_duration(value, what="request timeout")
    if seconds > MAX_REQUEST_TIMEOUT_S:
        raise ValueError(f"request timeout {value!r} is above {MAX_REQUEST_TIMEOUT_S:g}s")
    return seconds


@dataclass(frozen=True)
class LocalServiceSettings:
    """The local endpoint's deployment settings, as a managed online deployment has them.

    `instances` per deployment, each one server worker process; `max_concurrent` requests per
    instance, None for no ceiling (the local service's behaviour before these settings existed);
    `request_timeout_s` None for Azure's 5 s with a ceiling and no timeout without one. The fields
    hold what the endpoint really enforces: after construction `request_timeout_s` is None only
    when nothing times requests out. Invalid values raise ValueError naming the accepted form.
    """

    instances: int = 1
    max_concurrent: int | None = None
    request_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.instances, bool) or not isinstance(self.instances, int) or self.instances < 1:
            raise ValueError(f"instances must be a whole number >= 1, got {self.instances!r}")
        concurrent = self.max_concurrent
        if concurrent is not None and (
            isinstance(concurrent, bool) or not isinstance(concurrent, int) or concurrent < 1
        ):
            raise ValueError(f"max_concurrent must be a whole number >= 1 or None, got {concurrent!r}")
        timeout = self.request_timeout_s
        if timeout is None and concurrent is not None:
            object.__setattr__(self, "request_timeout_s", DEFAULT_REQUEST_TIMEOUT_S)
        elif timeout is not None:
            if (
                isinstance(timeout, bool)
                or not isinstance(timeout, (int, float))
                or not 0 < timeout <= MAX_REQUEST_TIMEOUT_S
            ):
                raise ValueError(
                    f"request_timeout_s must be seconds > 0 and <= {MAX_REQUEST_TIMEOUT_S:g} (Azure ML's largest), "
                    f"got {timeout!r}"
                )
            object.__setattr__(self, "request_timeout_s", float(timeout))

    @property
    def ceiling(self) -> int | None:
        """Requests in flight per deployment above which the endpoint answers 429 (None: no ceiling)."""
        return None if self.max_concurrent is None else 2 * self.max_concurrent * self.instances

    @property
    def ceiling_reason(self) -> str:
        """How `ceiling` comes about, e.g. '2 × max_concurrent 2 × 3 instances' ('' without one)."""
        if self.max_concurrent is None:
            return ""
        noun = "instance" if self.instances == 1 else "instances"
        return f"2 × max_concurrent {self.max_concurrent} × {self.instances} {noun}"

    @property
    def front(self) -> bool:
        """Whether a front stands before the workers (a ceiling or a timeout to enforce)."""
        return self.request_timeout_s is not None
