"""A gate whose traffic comes from your own Locust user (examples/locustfiles/batch_user.py).

The recorder stays attached, so the result is as exact as with the packaged user.
"""

import pytest


@pytest.mark.load_test(
    users=10,
    spawn_rate=10,
    duration="15s",
    locustfile="locustfiles/batch_user.py",
    slo={"failure_rate": "< 1%", "p99": "< 1s"},
)
def test_batch_scoring_gate(load_result):
    assert "POST score batch of 20" in load_result.endpoints, load_result.endpoints
