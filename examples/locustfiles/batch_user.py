"""A custom Locust user: scores batches of Criteo rows (the test's `batch=`) per request.

It runs inside the gate's Locust child process; `pytest_aksload.child` hands it the scoring path,
the auth headers (refreshed tokens included) and the sample rows encoded with the test's contract
in batches (`next_batch()`), and checks each answer like the packaged user does: decoded with the
contract, one prediction per row sent, each compared with its row's expected value. Like the
packaged user it verifies the endpoint's TLS certificate (Locust's default does not), trusting
--aks-ca-bundle when given.
"""

from locust import FastHttpUser, between, task

from pytest_aksload import child


class BatchScoringUser(FastHttpUser):
    wait_time = between(0.2, 0.5)
    insecure = False
    ssl_context_factory = staticmethod(child.ssl_context_factory)

    @task
    def score_batch(self) -> None:
        batch = child.next_batch()  # the body (`batch.body`) and the sample rows it carries (`batch.rows`)
        with self.client.post(
            child.scoring_path(),
            data=batch.body,
            headers=child.request_headers(),
            name=f"score batch of {len(batch.rows)}",
            catch_response=True,
        ) as response:
            child.check_response(response, rows=batch.rows)
