"""`aksload-worker`: a Locust worker for a pytest-aksload master on another machine.

    aksload-worker --master-host 10.0.0.4 --master-port 5557

It runs `python -m locust --worker` with the packaged recorder and users. It needs no endpoint,
key or rows: once connected it proves to the master that it holds the worker token
(`AKSLOAD_WORKER_TOKEN`, the same as the master's) and the master sends them, encrypted for it
(`pytest_aksload/worker_auth.py`, `pytest_aksload/_locust/distributed.py`), so the key is not on
its command line, in its environment or in clear on the wire. Run as many as the master's
`--aks-expect-workers`, e.g. as a Kubernetes Deployment next to the cluster under test, the token
from a Secret (docs/scaling-out.md).

This module imports neither locust nor gevent (it replaces itself with the Locust process).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from pytest_aksload import protocol, worker_auth


def worker_argv(master_host: str, master_port: int, python: str = sys.executable) -> list[str]:
    """The Locust worker command: our recorder first, then every packaged user class (the
    master's spawn messages name the one the run uses)."""
    locustfiles = [protocol.RECORDER_PATH, protocol.DEFAULT_LOCUSTFILE_PATH, protocol.OPEN_MODEL_LOCUSTFILE_PATH]
    return [
        python,
        "-m",
        "locust",
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
        "-f",
        ",".join(map(str, locustfiles)),
        "--loglevel",
        "WARNING",
    ]


def worker_environment(base: dict[str, str], home: str) -> dict[str, str]:
    """`base` without Locust's and pytest-aksload's own variables: the master is the only source
    of the run's settings (a stale AKSLOAD_* value would silently override them). The worker token
    goes on under the wire's name, where the Locust process reads it."""
    env = {k: v for k, v in base.items() if not k.startswith(("LOCUST_", "AKSLOAD_"))}
    env[protocol.ENV_WORKER_TOKEN] = base.get(worker_auth.WORKER_TOKEN_ENV, "")
    env["HOME"] = env["USERPROFILE"] = home  # Locust reads ~/.locust.conf
    env[protocol.ENV_WORKER_HOME] = home  # this process becomes Locust: it removes the directory at quit
    env["PYTHONUNBUFFERED"] = "1"
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="aksload-worker", description="Locust worker for a pytest-aksload master (--aks-expect-workers)."
    )
    parser.add_argument("--master-host", required=True, help="address of the pytest-aksload master")
    parser.add_argument("--master-port", type=int, default=5557, help="its --aks-master-bind port (default 5557)")
    args = parser.parse_args(argv)
    problem = worker_auth.token_problem(os.environ.get(worker_auth.WORKER_TOKEN_ENV))
    if problem is not None:  # one line, like argparse's own errors (exit code 2)
        parser.error(f"{problem}: set it to the master's worker token (make one with {worker_auth.TOKEN_RECIPE})")
    # Locust also reads ./locust.conf: run in an empty directory of our own.
    home = tempfile.mkdtemp(prefix="aksload-worker-")
    os.chdir(home)
    command = worker_argv(args.master_host, args.master_port)
    os.execve(command[0], command, worker_environment(dict(os.environ), home))


if __name__ == "__main__":
    main()
