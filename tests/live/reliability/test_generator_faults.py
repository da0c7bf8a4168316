"""Faults of the load generator: the Locust child crashes, is SIGKILLed (the OOM killer's way),
is stopped by a signal from outside, or leaves a truncated result. Each is an ERROR naming the
cause, never a PASS on missing data."""

from __future__ import annotations

import pytest
from conftest import SHORT, Gates
from loopback_servers import ScoringServer

GATE_WITH_LOCUSTFILE = """
import pytest

@pytest.mark.load_test({marker}, locustfile="faulty_locustfile.py", slo="failure_rate < 50%")
def test_gate(load_result):
    pass
"""

# The packaged user, plus one fault ~1 s into the run. Locust picks up imported User classes.
LOCUSTFILE = """
import os, signal
import gevent
from locust import events
from pytest_aksload._locust.locustfile import ScoringUser  # noqa: F401

@events.test_start.add_listener
def fault(**_kwargs):
    gevent.spawn_later(1.0, lambda: {fault})
"""

FAULTS = {
    # A crash of the generator: an unhandled error that ends the process with a code.
    "crash": ("os._exit(7)", "load generator (locust) exited with code 7"),
    # The kernel's OOM killer: SIGKILL, no chance to write anything.
    "oom-kill": ("os.kill(os.getpid(), signal.SIGKILL)", "was killed by SIGKILL (out of memory?"),
    # An operator or container runtime stopping it: Locust writes a partial result and exits 0.
    "sigterm": ("os.kill(os.getpid(), signal.SIGTERM)", "load generator was stopped by a signal"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_load_generator_fault_is_an_error(gates: Gates, fault: str) -> None:
    action, message = FAULTS[fault]
    gates.pytester.makepyfile(faulty_locustfile=LOCUSTFILE.format(fault=action))
    with ScoringServer() as server:
        run = gates.run("", "--aks-scoring-uri", server.url, source=GATE_WITH_LOCUSTFILE.format(marker=SHORT))
    run.assert_setup_error()
    assert message in run.text
    assert run.elapsed_s < 40


def test_truncated_result_file_is_an_error(gates: Gates) -> None:
    # After the recorder wrote its result (quitting), cut the file in half as a full disk would.
    gates.pytester.makepyfile(
        faulty_locustfile="""
        import os
        from locust import events
        from pytest_aksload._locust.locustfile import ScoringUser  # noqa: F401

        @events.quit.add_listener
        def truncate(**_kwargs):
            path = os.environ["AKSLOAD_CHILD_RESULT_FILE"]
            with open(path, "r+") as file:
                file.truncate(os.path.getsize(path) // 2)
        """
    )
    with ScoringServer() as server:
        run = gates.run("", "--aks-scoring-uri", server.url, source=GATE_WITH_LOCUSTFILE.format(marker=SHORT))
    run.assert_setup_error()
    assert "load generator finished without a usable result" in run.text
    assert "is not valid JSON (truncated or corrupt?)" in run.text
