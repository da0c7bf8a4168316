"""What the failed requests of a run say to do next: the most frequent error groups with a hint each.

A violated failure-rate objective alone does not tell a 429 storm (capacity) from an expired key
(credentials) from a crashing model (code); the hint names the likely cause per failure kind.
"""

from __future__ import annotations

from pytest_aksload.contracts.status import model_answer
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
    if group.kind == "model":
        return _model_hint(group.message)
    return HINTS.get(group.kind, "")


def _model_hint(message: str) -> str:
    """The model's own status and reason (Azure ML's 424 headers, already redacted in the message):
    a 4xx is the model refusing the input, anything else the model failing on it."""
    answer = model_answer(message)
    if answer is None:
        return HINTS["model"]
    status, reason = answer
    if status.startswith("4"):
        return (
            f"the model refused the input (its own status {status}: {reason}): check the payload and "
            "contract= match the model's input"
        )
    return f"the model itself failed (its own status {status}: {reason}): read the deployment's logs"


def failure_lines(result: LoadResult, limit: int = 3, throttling: str | None = None) -> list[str]:
    """Up to `limit` lines, most frequent error group first: count, kind, message, hint, and the
    request ids of its first examples (to find them in the server's logs)."""
    groups = sorted(result.errors, key=lambda group: -group.count)[:limit]
    return [
        f"{group.count} x {group.kind}: {group.message} -> {hint(group, throttling)}{_ids(group)}" for group in groups
    ]


def _ids(group: ErrorGroup) -> str:
    ids = [
        example["request_id"] + (f" (x-request-id {example['x_request_id']})" if example.get("x_request_id") else "")
        if example.get("request_id")
        else f"x-request-id {example['x_request_id']}"
        for example in group.examples
        if example.get("request_id") or example.get("x_request_id")
    ]
    return f" [requests {', '.join(ids)}]" if ids else ""
