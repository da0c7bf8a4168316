"""A gate whose traffic comes from your own Locust user (examples/locustfiles/batch_user.py).

The recorder stays attached, so the result is as exact as with the packaged user.
"""

import pytest


@pytest.mark.load_test(
    users=20,
    spawn_rate=20,
    duration="20s",
    locustfile="locustfiles/batch_user.py",
    # ~1,000 requests: enough for the 95 % intervals to decide both objectives.
    slo={"failure_rate": "< 1%", "p99": "< 1s"},
)
def test_batch_scoring_gate(load_result):
    assert "POST score batch of 20" in load_result.endpoints, load_result.endpoints
