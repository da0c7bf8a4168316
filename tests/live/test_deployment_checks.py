"""The deployment's settings end to end: an inner pytest run against a loopback scoring URI with
stated settings shows them in its header, summary.json and JUnit properties, and warns at setup when
the profile exceeds the throttling ceiling (and only then), the warning kept in the reports; a target
that cannot tell gets no check."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from inner_gates import write_gate
from loopback_servers import ScoringServer

CEILING = (
    "this deployment throttles (429) above 4 (2 × max_concurrent_requests_per_instance 2 × 1 instance): "
    "raise max_concurrent_requests_per_instance, add instances, or lower users"
)


def _run(pytester: pytest.Pytester, users: int, *settings: str) -> pytest.RunResult:
    write_gate(pytester, f'users={users}, spawn_rate=50, duration="2s", wait=(0.01, 0.02)')
    with ScoringServer(delays_s=[0.002]) as server:
        run = pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider", *settings)
    run.assert_outcomes(passed=1)  # a warning never changes a verdict
    return run


def test_users_above_the_stated_ceiling_warn_at_setup_naming_it(pytester: pytest.Pytester) -> None:
    report, junit = pytester.path / "report", pytester.path / "junit.xml"
    run = _run(
        pytester, 10, "--aks-deployment-settings", "instances=1, max_concurrent=2",
        "--aks-report", str(report), f"--junitxml={junit}",
    )  # fmt: skip
    output = run.stdout.str()
    assert "aksload target: http://127.0.0.1:" in output
    assert "stated: 1 instance, max 2 concurrent per instance" in output
    # One warning, from the test's setup (where the load runs), naming the ceiling and the remedy.
    assert output.count(CEILING) == 1, output
    assert "10 users can hold 10 requests in flight; " + CEILING in " ".join(output.split())
    assert "test_gate.py::test_gate" in output.split("warnings summary", 1)[1]
    # The reports keep the deployment and the warning (each output drawn from the test's record).
    (test,) = json.loads((report / "summary.json").read_text())["tests"]
    assert test["deployment"]["kind"] == "stated" and test["deployment"]["instances"] == 1
    assert test["deployment"]["max_concurrent_per_instance"] == 2 and test["deployment"]["instance_type"] is None
    assert [w for w in test["warnings"] if CEILING in w] == [
        f"aksload: 10 users can hold 10 requests in flight; {CEILING}"
    ]
    properties = [(p.get("name"), p.get("value")) for p in ET.parse(junit).getroot().iter("property")]
    assert ("aksload.deployment.instances", "1") in properties
    assert "aksload.deployment.instance_type" not in dict(properties)  # unknown: no property
    assert any(name == "aksload.warning" and "throttles (429) above 4 " in value for name, value in properties)


def test_users_under_the_ceiling_or_unknown_settings_do_not_warn(pytester: pytest.Pytester) -> None:
    under = _run(pytester, 2, "--aks-deployment-settings", "instances=1, max_concurrent=2").stdout.str()
    assert "throttles (429)" not in under and "warnings summary" not in under
    unknown = _run(pytester, 10).stdout.str()
    assert "stated: settings unknown" in unknown
    assert "throttles (429)" not in unknown and "warnings summary" not in unknown
