"""The seed notebook's AKS load test, as a deployment gate that also checks the answers.

The notebook ran 200 users spawned at 10 per second for one minute with a 1-2 s think time
and recorded 104 RPS, p50 390 ms and p95 530 ms on AKS. Here the same profile runs for 40 s
(so the quick start stays quick); the 20 s ramp-up is cut as warm-up so the objectives judge
the steady state with all 200 users.

`mismatch_rate` compares every prediction made under load with the expected one; each request
carries 4 rows (`batch=4`), so the 20 s of steady state check enough predictions (about four
thousand are needed) to show a rate below 0.1 % at 95 % confidence when none is wrong. With
`--aks-local` those come from the embedded service's shipped model, so a wrong answer anywhere in
the run fails the gate. Against a deployed service, give the predictions of the model you
deployed: a conftest fixture `aks_expected_predictions`, or an `expected` column in
`--aks-sample` (docs/contracts.md).

    pytest examples --aks-local                        # the embedded local service
    pytest examples --aks-service lightgbm-criteo      # the deployed service (azureml-core)
"""

import pytest


@pytest.mark.load_test(
    users=200,
    spawn_rate=10,
    duration="40s",
    wait=(1, 2),
    warmup="20s",
    batch=4,
    slo=["failure_rate < 1%", "p95 < 500ms", "rps >= 80", "mismatch_rate < 0.1%"],
)
def test_lightgbm_criteo_gate(load_result):
    # The marker's SLOs are judged after this body; extra checks read the exact result.
    assert load_result.requests >= 1000, load_result
    assert not load_result.errors, load_result.errors
