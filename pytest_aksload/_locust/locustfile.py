"""The packaged default user: posts the sample rows to the scoring endpoint and validates each answer.

Every response goes through `pytest_aksload.contracts.validation` (via `ChildContext.check_response`): an HTTP
200 whose body is not a probability is a failure whose message is the validator's reason.
Users cycle through the rows from different starting offsets, so concurrent requests carry
different rows instead of the same one at the same moment (which a cache would flatter).

The run's settings are read when the first user starts, not at import: a remote worker
(`aksload-worker`) imports this file before its master has sent them.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from typing import Any

from locust import FastHttpUser, task

from pytest_aksload import child

_user_numbers = itertools.count()


@functools.cache
def _bodies() -> list[bytes]:
    # Serialised once: json.dumps of a 40-field row per request would cost the load generator
    # CPU that the measurement needs.
    return [json.dumps(row, separators=(",", ":")).encode() for row in child.context().sample_rows()]


class ScoringUser(FastHttpUser):
    # Locust's FastHttpUser skips certificate checks by default; a gate must not send its key
    # to an endpoint pre-flight would have refused.
    insecure = False
    ssl_context_factory = staticmethod(child.ssl_context_factory)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        run = child.context()
        self.connection_timeout = self.network_timeout = run.request_timeout_s
        super().__init__(*args, **kwargs)
        self._run = run
        self._path = run.scoring_path
        self._wait = run.wait_range

    def wait_time(self) -> float:
        return random.uniform(*self._wait)

    def on_start(self) -> None:
        self._next = next(_user_numbers) % len(_bodies())

    @task
    def score(self) -> None:
        self.post_row()

    def post_row(self, context: dict[str, Any] | None = None) -> None:
        """Post the user's next row and validate the answer (`context` reaches the request event)."""
        bodies = _bodies()
        body = bodies[self._next]
        self._next = (self._next + 1) % len(bodies)
        with self.client.post(
            self._path, data=body, headers=self._run.json_request_headers(), catch_response=True, context=context or {}
        ) as response:
            self._run.check_response(response)
