"""The plugin under many users: N concurrent users against a fast loopback server, figures printed.

    python bench/many_users.py [--users 2000] [--seconds 30]

The same scenario as tests/live/reliability/test_plugin_load.py (which asserts correctness: no
failures, no lost results); this prints what it costs: requests, RPS, latency, the load
generator's CPU, the open-files limit the child ran with. Not part of CI.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from loopback_servers import ScoringServer  # noqa: E402

from pytest_aksload.config.profile import profile_from_marker  # noqa: E402
from pytest_aksload.config.settings import Settings  # noqa: E402
from pytest_aksload.protocol import SampleRows  # noqa: E402
from pytest_aksload.run.fdlimit import open_files_problem  # noqa: E402
from pytest_aksload.run.plan import RunPlan  # noqa: E402
from pytest_aksload.run.runner import run_load  # noqa: E402
from pytest_aksload.targets.target import Credential, Target  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    problem = open_files_problem(2 * args.users)  # this process serves the other end of each connection
    if problem:
        sys.exit(problem)
    profile = profile_from_marker(
        (),
        {"users": args.users, "spawn_rate": 400, "duration": args.seconds, "wait": (2, 4), "timeout": 10},
        Settings(),
        Path.cwd(),
    )
    with ScoringServer() as server:
        target = Target(server.url, name="bench", kind="scoring-uri", credential=Credential.key("bench-key"))
        started = time.monotonic()
        result = run_load(RunPlan(target, profile, SampleRows([{"x": 1}])))
        wall = time.monotonic() - started
        served = len(server.scoring_requests())
    print(f"users {result.users_peak}, wall {wall:.1f}s, open-files limit {resource.getrlimit(resource.RLIMIT_NOFILE)}")
    print(f"requests {result.requests} (server saw {served}), failures {result.failures}, rps {result.rps:.0f}")
    print(f"p50 {result.p50_ms:.1f} ms, p95 {result.p95_ms:.1f} ms, p99 {result.p99_ms:.1f} ms")
    print(f"load generator CPU {result.generator['cpu_percent']}% of one core")
    print(f"warnings: {result.generator['warnings']}")


if __name__ == "__main__":
    main()
