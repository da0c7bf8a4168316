"""Azure credentials in anything a gate run produces: none.

A token-auth AKS service resolved through the real azureml-core SDK (Azure answered in-process,
see azure_fakes), its token refreshed during the run, the scoring server echoing the token back
in error bodies; passing and failing gates at pytest's most verbose. The service tokens, the
ARM tokens and the service principal's secret must appear in no output, JUnit XML, report file
or file of the run, nor on the command line of any process it started.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import psutil
import pytest
from azure_fakes import requires_sdk

requires_sdk("azureml.core")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the loopback servers
from loopback_servers import ScoringServer  # noqa: E402

from pytest_aksload.targets.azure.v1 import SP_ENV_VARS  # noqa: E402

SERVICE = "lightgbm-criteo"

GATES = """
import pytest

PROFILE = dict(users=3, spawn_rate=10, duration="4s", wait=(0.05, 0.1), timeout="2s", rows=5)

@pytest.mark.load_test(**PROFILE, slo=["failure_rate < 1%"])
def test_failing_gate(load_result, aks_target, aks_auth_headers):
    target, headers = aks_target, aks_auth_headers
    assert load_result.failures == 0, (target, headers)
"""


def _sample_command_lines(found: set[str], stop: threading.Event) -> None:
    me = psutil.Process()
    while not stop.wait(0.1):
        for process in me.children(recursive=True):
            try:
                found.add(" ".join(process.cmdline()))
            except psutil.Error:
                continue


def test_no_azure_credential_in_any_output(
    pytester: pytest.Pytester, fake_azure, azure_env, azureml_discovery_cache, workspace_config: str
) -> None:
    for var, value in zip(
        SP_ENV_VARS, (fake_azure.tenant_id, fake_azure.client_id, fake_azure.client_secret), strict=True
    ):
        azure_env.setenv(var, value)
    azure_env.setenv("CI", "true")
    fake_azure.add_aks_service(SERVICE, auth="token")
    fake_azure.token_refresh_after_s = 1.5
    pytester.makepyfile(test_gates=GATES)
    junit, report = pytester.path / "junit.xml", pytester.path / "report"
    command_lines: set[str] = set()
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_command_lines, args=(command_lines, stop), daemon=True)
    echo = ScoringServer(outcomes=lambda n: "echo-auth" if n % 3 == 0 else "ok", spare_preflight=True)
    with echo as server:
        fake_azure.services[SERVICE]["scoringUri"] = server.url
        sampler.start()
        try:
            run = pytester.runpytest_inprocess(
                "--aks-service", SERVICE, "--aks-workspace-config", workspace_config,
                "-vv", "--showlocals", "-rA", "--full-trace", f"--junitxml={junit}", f"--aks-report={report}",
            )  # fmt: skip
        finally:
            stop.set()
            sampler.join(5)
        echoed = [r for r in server.scoring_requests() if r.outcome == "echo-auth"]
    run.assert_outcomes(failed=1)
    assert echoed and len(fake_azure.service_tokens) >= 2  # tokens were echoed, and refreshed mid-run
    assert any("locust" in line for line in command_lines)

    secrets = [*fake_azure.service_tokens, *fake_azure.arm_tokens, fake_azure.client_secret]
    output = run.stdout.str() + run.stderr.str()
    # The echo was redacted, not dropped: the report's error groups show it masked.
    assert [path for path in report.rglob("*.json") if b"invalid credentials: ***" in path.read_bytes()]
    assert not [s for s in secrets if s in output]
    assert not [s for s in secrets for line in command_lines if s in line]
    assert junit.is_file() and report.is_dir()
    files = [path for path in pytester.path.rglob("*") if path.is_file()]
    assert not [(str(path), s) for path in files for s in secrets if s.encode() in path.read_bytes()]
