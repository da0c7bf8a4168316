"""A gate whose traffic comes from your own Locust user (examples/locustfiles/batch_user.py).

The recorder stays attached, so the result is as exact as with the packaged user, and the user
checks every prediction through `pytest_aksload.child`, so correctness objectives work too.
"""

import pytest


@pytest.mark.load_test(
    users=20,
    spawn_rate=20,
    duration="20s",
    locustfile="locustfiles/batch_user.py",
    batch=20,  # rows per request: the user posts `child.next_batch()`
    # ~1,000 requests of 20 rows: enough for the 95 % intervals to decide every objective.
    slo={"failure_rate": "< 1%", "p99": "< 1s", "mismatch_rate": "< 0.1%"},
)
def test_batch_scoring_gate(load_result):
    assert "POST score batch of 20" in load_result.endpoints, load_result.endpoints
    assert load_result.rows == 20 * (load_result.requests - load_result.failures)
