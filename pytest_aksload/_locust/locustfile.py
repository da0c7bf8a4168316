"""The packaged default user: posts the sample rows to the scoring endpoint and checks each answer.

The bodies are the sample rows encoded once with the test's contract, `batch` rows each
(`ChildContext.batches`). Every answer goes through the contract (via `ChildContext.check_response`):
an HTTP 200 the contract cannot decode into one prediction per row is a failure whose message is
its reason, and the predictions go to the recorder, which compares them with the expected ones.
Users cycle through the bodies from different starting offsets, so concurrent requests carry
different rows instead of the same one at the same moment (which a cache would flatter). Each
request carries its own `x-ms-client-request-id` (`ChildContext.request_id`).

The run's settings are read when the first user starts, not at import: a remote worker
(`aksload-worker`) imports this file before its master has sent them.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from locust import FastHttpUser, task

from pytest_aksload import child

_user_numbers = itertools.count()


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
        low, high = self._wait
        return low if low == high else random.uniform(low, high)  # no call per request for wait=(0, 0)

    def on_start(self) -> None:
        # Encoded once per process (`ChildContext.batches`): serialising rows per request would cost
        # the load generator CPU that the measurement needs.
        self._batches = self._run.batches
        self._next = next(_user_numbers) % len(self._batches)
        self._plan = self._run.request_plan() if self._run.settings.side_by_side else None

    @task
    def score(self) -> None:
        self.post_row()

    def post_row(self, context: dict[str, Any] | None = None) -> None:
        """Post the user's next batch and check the answer (`context` reaches the request event)."""
        if self._plan is not None:  # side by side: each batch to both sides (child.RequestPlan)
            planned = self._plan.next()
            with self.client.post(
                planned.url, data=planned.batch.body, headers=planned.headers, name=planned.name,
                catch_response=True, context={**planned.context, **(context or {})},
            ) as response:  # fmt: skip
                self._run.check_response(response, request=planned)
            return
        batch = self._batches[self._next]
        self._next = (self._next + 1) % len(self._batches)
        with self.client.post(
            self._path, data=batch.body, headers=self._run.stamped_request_headers(), catch_response=True,
            context=context or {},
        ) as response:  # fmt: skip
            self._run.check_response(response, batch.rows)
