"""The packaged default user: posts the sample rows to the scoring endpoint and validates each answer.

Every response goes through `pytest_aksload.validation` (via `child.check_response`): an HTTP
200 whose body is not a probability is a failure whose message is the validator's reason.
Users cycle through the rows from different starting offsets, so concurrent requests carry
different rows instead of the same one at the same moment (which a cache would flatter).
"""

from __future__ import annotations

import itertools
import json

from locust import FastHttpUser, between, task

from pytest_aksload import child

_JSON = {"Content-Type": "application/json", "Accept": "application/json"}

# Serialised once: json.dumps of a 40-field row per request would cost the load generator
# CPU that the measurement needs.
_BODIES = [json.dumps(row, separators=(",", ":")).encode() for row in child.sample_rows()]
_PATH = child.scoring_path()
_user_numbers = itertools.count()


class ScoringUser(FastHttpUser):
    wait_time = between(*child.wait_range())
    connection_timeout = network_timeout = child.request_timeout_s()

    def on_start(self) -> None:
        self._next = next(_user_numbers) % len(_BODIES)

    @task
    def score(self) -> None:
        body = _BODIES[self._next]
        self._next = (self._next + 1) % len(_BODIES)
        headers = {**_JSON, **child.auth_headers()}
        with self.client.post(_PATH, data=body, headers=headers, catch_response=True) as response:
            child.check_response(response)
