"""What the failed requests of a run say to do next: the most frequent error groups with a hint each.

A violated failure-rate objective alone does not tell a 429 storm (capacity) from an expired key
(credentials) from a crashing model (code); the hint names the likely cause per failure kind.
"""

from __future__ import annotations

from pytest_aksload.stats.result import ErrorGroup, LoadResult

HINTS = {
    "throttling": "the service shed load (429/503): add replicas or autoscaling, or run fewer users",
    "auth": "the endpoint refused the key mid-run: it expired or was rotated; check the key/token",
    "http": "the scoring server failed: see the deployment's logs",
    "validation": "HTTP 200 the contract cannot decode: the scoring script returned an error or another shape "
    "(check contract=)",
    "connection": "no HTTP answer (refused or reset): the service crashed, restarted or dropped connections",
    "timeout": "no answer in time (the client's timeout, or Azure ML's 408 past request_timeout_ms): the service "
    "is overloaded or hung; raise request_timeout_ms or make scoring faster",
    "model": "the model failed the request (Azure ML 424): read the deployment's logs",
    "routing": "another deployment answered: check the endpoint's traffic rules or --aml-deployment",
}


def hint(group: ErrorGroup, throttling: str | None = None) -> str:
    """What to check for this group's failures; `throttling`, when the deployment's ceiling is known,
    is quoted for throttling (run/preload.py `throttling_hint`)."""
    if group.kind == "http" and group.status in (401, 403):
        return HINTS["auth"]
    if throttling and (group.kind == "throttling" or group.status == 429):
        return f"the service shed load (429/503): {throttling}"
    return HINTS.get(group.kind, "")


def failure_lines(result: LoadResult, limit: int = 3, throttling: str | None = None) -> list[str]:
    """Up to `limit` lines, most frequent error group first: count, kind, message, hint."""
    groups = sorted(result.errors, key=lambda group: -group.count)[:limit]
    return [f"{group.count} x {group.kind}: {group.message} -> {hint(group, throttling)}" for group in groups]
