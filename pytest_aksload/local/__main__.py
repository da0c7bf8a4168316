"""``aksload-local serve``: run the embedded local scoring service until Ctrl-C.

The key comes from ``AKSLOAD_KEY`` (the variable the plugin reads for ``--aks-scoring-uri``;
``AKS_KEY``, its earlier name, is still read this release, with a note), so
``aksload-local serve`` in one terminal and ``pytest --aks-scoring-uri ...`` in another just
work; without it a throwaway key is generated and printed once. There is deliberately no option
that takes a key: argv is visible to every user of the machine. ``--deployments SPEC`` hosts several
deployments behind the one endpoint, as ``--aks-local-deployments`` does for a pytest session, and
``--instances``, ``--max-concurrent`` and ``--request-timeout`` are ``--aks-local-instances``,
``--aks-local-max-concurrent`` and ``--aks-local-request-timeout``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from pytest_aksload.config.local_deployments import (
    SPEC_FORM,
    LocalDeployment,
    LocalDeploymentError,
    locate_models,
    parse_local_deployments,
)
from pytest_aksload.config.local_endpoint import (
    REQUEST_TIMEOUT_FORM,
    LocalServiceSettings,
    parse_request_timeout,
)
from pytest_aksload.local.service import LocalService, LocalServiceError

PROG = "aksload-local"
KEY_ENV = "AKSLOAD_KEY"
LEGACY_KEY_ENV = "AKS_KEY"
WHOLE_FORM = "a whole number >= 1"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line that says what is wrong, instead of argparse's usage dump.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be from 1 to 65535, got {port}")
    return port


def _whole(what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of {what}: {text!r}; expected {WHOLE_FORM}") from None
        if number < 1:
            raise argparse.ArgumentTypeError(f"{what} must be {WHOLE_FORM}, got {number}")
        return number

    return parse


def _request_timeout(text: str) -> float:
    try:
        return parse_request_timeout(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"cannot use {text!r}; expected {REQUEST_TIMEOUT_FORM}") from None


def _deployments(text: str) -> tuple[LocalDeployment, ...]:
    try:
        return locate_models(parse_local_deployments(text), Path.cwd())
    except LocalDeploymentError as error:
        raise argparse.ArgumentTypeError(f"{error}; expected {SPEC_FORM}") from None


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="The embedded local scoring service of pytest-aksload: a Criteo LightGBM model "
        "behind the Azure ML inference server on 127.0.0.1, with AKS-style key auth.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    serve = commands.add_parser(
        "serve",
        help="serve until Ctrl-C",
        description=f"Serve until Ctrl-C. The key is taken from ${KEY_ENV}; if unset, a throwaway key is printed.",
    )
    serve.add_argument("--port", type=_port, default=None, help="loopback port (default: a free one)")
    serve.add_argument(
        "--instances",
        type=_whole("instances"),
        default=1,
        metavar="N",
        help="instances of each deployment, each one server worker process (default: 1)",
    )
    serve.add_argument(
        "--max-concurrent",
        type=_whole("concurrent requests"),
        default=None,
        metavar="N",
        help="max concurrent requests per instance: above 2 x N x instances requests in flight for a deployment "
        "answer 429, as from a managed online endpoint (default: no ceiling)",
    )
    serve.add_argument(
        "--request-timeout",
        type=_request_timeout,
        default=None,
        metavar="D",
        help="a request not answered within D gets 408, as from Azure ML, e.g. 5s, 500ms "
        "(default: 5s with --max-concurrent, none without)",
    )
    serve.add_argument(
        "--workers",
        type=_whole("workers"),
        default=None,
        metavar="N",
        help="server worker processes in all (default: --instances per deployment)",
    )
    serve.add_argument(
        "--deployments",
        type=_deployments,
        default=(),
        metavar="SPEC",
        help="deployments behind the endpoint, routed by the azureml-model-deployment header (the first takes "
        "requests without it): NAME=MODEL[+LATENCY] ..., MODEL shipped or a LightGBM model file, "
        'e.g. "blue=shipped green=shipped+40ms" (default: one deployment of the shipped model)',
    )
    serve.add_argument(
        "--start-timeout", type=float, default=60.0, metavar="SECONDS", help="start-up limit (default: 60)"
    )
    return parser


def _example_body() -> str:
    try:
        from pytest_aksload.data import criteo

        return json.dumps(criteo.payloads(criteo.load_sample(nrows=1), 1)[0], separators=(",", ":"))
    except Exception:  # the example is a nicety; never fail serving over it
        return "{...one Criteo row...}"


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(
    port: int | None,
    workers: int | None,
    start_timeout: float,
    deployments: tuple[LocalDeployment, ...] = (),
    settings: LocalServiceSettings | None = None,
) -> int:
    key_env = KEY_ENV if os.environ.get(KEY_ENV) or not os.environ.get(LEGACY_KEY_ENV) else LEGACY_KEY_ENV
    key = os.environ.get(key_env) or None
    if key_env == LEGACY_KEY_ENV:
        print(f"{PROG}: note: ${LEGACY_KEY_ENV} is read under its old name; rename it {KEY_ENV}", file=sys.stderr)
    try:
        service = LocalService(port=port, key=key, workers=workers, deployments=deployments, settings=settings)
    except ValueError as exc:
        print(f"{PROG}: error: ${key_env}: {exc}" if key else f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    # SIGTERM (a service manager, `kill`) stops as cleanly as Ctrl-C.
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
    previous_sigint = signal.getsignal(signal.SIGINT)
    try:
        service.start(timeout=start_timeout)
        noun = "worker" if service.workers == 1 else "workers"
        print(f"{PROG}: scoring at {service.scoring_uri} (server pid {service.pid}, {service.workers} {noun})")
        print(_behaviour(service))
        if key is None:
            print(f"Throwaway key for this run (set {KEY_ENV} to choose one):")
            print(f"  export {KEY_ENV}={shlex.quote(service.key)}")
        else:
            print(f"Key: from ${key_env}")
        for i, deployment in enumerate(deployments):
            model = deployment.model or "the shipped model"
            extra = f", +{deployment.latency_s * 1000:g} ms per request" if deployment.latency_s else ""
            default = " (takes requests without the header)" if i == 0 else ""
            print(f"Deployment {deployment.name}: {model}{extra}{default}")
        print("Try:")
        print(
            f'  curl -sS -H "Authorization: Bearer ${key_env}" -H "Content-Type: application/json" '
            f"-d {shlex.quote(_example_body())} {service.scoring_uri}"
        )
        print(f"Server log: {service.log_path} (deleted on exit). Stop with Ctrl-C.", flush=True)
        while service.running:
            time.sleep(0.5)
        print(f"{PROG}: error: the server exited on its own; its log ends with:\n{service.log_tail()}", file=sys.stderr)
        return 1
    except LocalServiceError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{PROG}: stopping", flush=True)
        return 0
    finally:
        # Ctrl-C again while stopping must not leave the server half-stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            service.stop()
        finally:
            signal.signal(signal.SIGINT, previous_sigint)
            signal.signal(signal.SIGTERM, previous_sigterm)


def _behaviour(service: LocalService) -> str:
    """One line on how the endpoint sheds load, as a managed online deployment with its settings."""
    settings = service.settings
    if settings.request_timeout_s is None:
        return "No ceiling and no request timeout (--max-concurrent N, --request-timeout D to have them)."
    timeout = f"408 after {settings.request_timeout_s:g} s"
    if settings.ceiling is None:
        return f"No ceiling; {timeout}."
    per = " per deployment" if service.deployments else ""
    return f"429 above {settings.ceiling} requests in flight{per} ({settings.ceiling_reason}); {timeout}."


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        if not args.start_timeout > 0:
            _parser().error(f"--start-timeout must be positive, got {args.start_timeout}")
        settings = LocalServiceSettings(args.instances, args.max_concurrent, args.request_timeout)
        return serve(args.port, args.workers, args.start_timeout, args.deployments, settings)
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
