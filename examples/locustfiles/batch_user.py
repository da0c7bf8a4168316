"""A custom Locust user: scores batches of 20 Criteo rows per request.

It runs inside the gate's Locust child process; `pytest_aksload.child` hands it the scoring path,
the auth headers (refreshed tokens included) and the sample rows, and checks responses the same
way the packaged user does. Like the packaged user it verifies the endpoint's TLS certificate
(Locust's default does not), trusting --aks-ca-bundle when given.
"""

import random

from locust import FastHttpUser, between, task

from pytest_aksload import child

BATCH = 20


class BatchScoringUser(FastHttpUser):
    wait_time = between(0.2, 0.5)
    insecure = False
    ssl_context_factory = staticmethod(child.ssl_context_factory)

    @task
    def score_batch(self) -> None:
        rows = child.sample_rows()
        start = random.randrange(len(rows))
        batch = [rows[(start + i) % len(rows)] for i in range(BATCH)]
        with self.client.post(
            child.scoring_path(),
            json={"data": batch},
            headers=child.auth_headers(),
            name=f"score batch of {BATCH}",
            catch_response=True,
        ) as response:
            child.check_response(response)
