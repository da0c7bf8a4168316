"""Every option of the plugin, declared once: its flag, ini key, environment variable, help text,
parser, accepted form and default (`OPTIONS`). `settings.py` decides precedence and validation;
`aksload init` writes these names; the docs' options table is checked against them.

The environment variable of an option is `AKSLOAD_` and its flag without the dashes and a leading
`aks-`, in capitals (`--aks-users` → `AKSLOAD_USERS`, `--aml-endpoint` → `AKSLOAD_AML_ENDPOINT`);
the name of earlier releases (`legacy_env`, the ini key in capitals) is still read this release.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_aksload.config import parsers as parse
from pytest_aksload.config.deployment_settings import FORM as DEPLOYMENT_SETTINGS_FORM
from pytest_aksload.config.deployment_settings import parse_deployment_settings
from pytest_aksload.config.local_deployments import (
    SPEC_FORM,
    parse_local_deployments,
)
from pytest_aksload.config.local_endpoint import REQUEST_TIMEOUT_FORM, parse_request_timeout
from pytest_aksload.config.sizing import PEAK_FORM, parse_peak
from pytest_aksload.config.tolerances import TOLERANCE_FORM
from pytest_aksload.defaults import DEFAULT_REQUEST_TIMEOUT_S

GROUP = "aksload"
ENV_PREFIX = "AKSLOAD_"
DEFAULT_KEY_ENV = "AKSLOAD_KEY"  # ini aks_key_env: where --aks-scoring-uri's key is read
LEGACY_KEY_ENV = "AKS_KEY"  # its earlier name: still read, with the deprecation warning

# Built-in load profile: small enough that a first run finishes in about 15 s, big enough
# (~20 requests/s) for a p95 to mean something. The seed notebook used 200 users, 10/s, 1 min.
DEFAULT_USERS = 20
DEFAULT_SPAWN_RATE = 10.0
DEFAULT_DURATION_S = 15.0


@dataclass(frozen=True)
class Option:
    """One setting: its command-line flag, ini key, env var, help text and parser."""

    name: str  # ini key, e.g. "aks_users"
    help: str
    parse: Callable[[str], Any]
    accepted: str  # the accepted form, quoted in error messages
    metavar: str | None = "VALUE"  # None: a flag without value
    default: Any = None
    cli: bool = True
    cli_flag: str | None = None  # when the flag is not the ini key's name (--aks-sample: aks_sample_path)

    @property
    def flag(self) -> str:
        return self.cli_flag or "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        """`AKSLOAD_` + the flag without `--` and a leading `aks-`, in capitals."""
        return ENV_PREFIX + self.flag[2:].removeprefix("aks-").replace("-", "_").upper()

    @property
    def legacy_env(self) -> str:
        """The name earlier releases read (the ini key in capitals): still read, with a warning."""
        return self.name.upper()


def is_scoring_uri(value: str) -> bool:
    """Whether `value` reads as an http(s) URL with a host (marker `against=` takes a URL or a name)."""
    try:
        parse.scoring_uri(value)
    except ValueError:
        return False
    return True


OPTIONS: tuple[Option, ...] = (
    Option(
        "aks_service", "Azure ML (SDK v1) AKS web service to load-test, by name.", parse.text, "a service name", "NAME"
    ),
    Option(
        "aks_workspace_config",
        "Azure ML workspace config.json (default: the SDK's usual search from the current directory).",
        parse.existing_file,
        "the path of an existing config.json",
        "PATH",
    ),
    Option(
        "aml_endpoint",
        "Azure ML (SDK v2) managed online endpoint to load-test, by name.",
        parse.text,
        "an endpoint name",
        "NAME",
    ),
    Option(
        "aml_deployment",
        "Deployment of --aml-endpoint to target (sets azureml-model-deployment).",
        parse.text,
        "a deployment name",
        "NAME",
    ),
    Option(
        "aks_against",
        "Gate --aml-deployment side by side against another deployment NAME of the same --aml-endpoint "
        "(the live one): the same requests, interleaved, and relative objectives such as 'p95 <= 1.10x'.",
        parse.text,
        "a deployment name",
        "NAME",
    ),
    Option(
        "aks_against_uri",
        "Gate the target side by side against any other scoring URL (its key: the env var named by ini "
        "aks_against_key_env, default the target's own credential).",
        parse.scoring_uri,
        "an http:// or https:// URL with a host, e.g. https://example.org/score",
        "URL",
    ),
    Option(
        "aks_against_key_env",
        "Environment variable holding the key for --aks-against-uri / against='https://...' "
        "(default: the target's own credential).",
        parse.env_name,
        "an environment variable name",
        "NAME",
        cli=False,
    ),
    Option(
        "aks_scoring_uri",
        f"Any scoring URL; the key comes from the env var named by ini aks_key_env (default {DEFAULT_KEY_ENV}).",
        parse.scoring_uri,
        "an http:// or https:// URL with a host, e.g. https://example.org/score",
        "URL",
    ),
    Option(
        "aks_local",
        "Start the embedded local scoring service for the session and target it.",
        parse.boolean,
        "true or false",
        None,
    ),
    Option(
        "aks_local_deployments",
        "Deployments the embedded local service hosts behind one endpoint, routed by the azureml-model-deployment "
        'header like a managed online endpoint: NAME=MODEL[+LATENCY] ..., e.g. "blue=shipped green=shipped+40ms" '
        "(MODEL: shipped or a LightGBM model file; LATENCY: extra delay per request). Requests without the "
        "header go to the first; --aml-deployment NAME gates that one.",
        parse_local_deployments,
        SPEC_FORM,
        "SPEC",
    ),
    Option(
        "aks_local_instances",
        "Instances of each deployment of the embedded local service, each one server worker process (default 1).",
        parse.positive_int,
        "a whole number >= 1",
        "N",
        1,
    ),
    Option(
        "aks_local_max_concurrent",
        "Max concurrent requests per instance of the embedded local service, as a managed online deployment's "
        "max_concurrent_requests_per_instance: above 2 x N x instances requests in flight it answers 429 "
        "(default: no ceiling).",
        parse.positive_int,
        "a whole number >= 1",
        "N",
    ),
    Option(
        "aks_local_request_timeout",
        "Request timeout of the embedded local service: a request not answered within it gets 408, as from "
        "Azure ML (default 5s, Azure's, with --aks-local-max-concurrent; none without).",
        parse_request_timeout,
        REQUEST_TIMEOUT_FORM,
        "D",
    ),
    Option(
        "aks_deployment_settings",
        "What you know about the target's deployment, for what it cannot tell itself (a plain --aks-scoring-uri): "
        'KEY=VALUE ..., e.g. "instances=3, max_concurrent=2, request_timeout=5s"; checks before the load warn '
        "when the profile exceeds what it can serve (docs: Sizing).",
        parse_deployment_settings,
        DEPLOYMENT_SETTINGS_FORM,
        "SPEC",
    ),
    Option(
        "aks_peak_rps",
        "The peak rate (requests per second) a capacity search sizes the deployment for, for markers that omit "
        "peak=: load_result.sizing gives the instances it needs and the headroom (docs: Sizing).",
        parse_peak,
        PEAK_FORM,
        "RPS",
    ),
    Option(
        "aks_ca_bundle",
        "CA certificate(s), PEM, that sign the endpoint's TLS certificate (e.g. a self-signed or private CA); "
        "used by pre-flight and the load generator (default: the system's trusted CAs).",
        parse.existing_file,
        "the path of an existing PEM file",
        "PATH",
    ),
    Option(
        "aks_users",
        f"Users (concurrent clients) for markers that omit users= (default {DEFAULT_USERS}).",
        parse.positive_int,
        "a whole number >= 1",
        "N",
        DEFAULT_USERS,
    ),
    Option(
        "aks_spawn_rate",
        f"Users started per second for markers that omit spawn_rate= (default {DEFAULT_SPAWN_RATE:g}).",
        parse.positive_float,
        "a number > 0",
        "R",
        DEFAULT_SPAWN_RATE,
    ),
    Option(
        "aks_duration",
        f"Load duration for markers that omit duration= (default {DEFAULT_DURATION_S:g}s).",
        parse.duration,
        "seconds or a duration like 90s, 1m, 1h30m",
        "D",
        DEFAULT_DURATION_S,
    ),
    Option(
        "aks_request_timeout",
        f"Per-request timeout for markers that omit timeout= (default {DEFAULT_REQUEST_TIMEOUT_S:g}s).",
        parse.duration,
        "seconds or a duration like 10s, 1m",
        "D",
        DEFAULT_REQUEST_TIMEOUT_S,
    ),
    Option(
        "aks_inconclusive",
        "What an INCONCLUSIVE SLO verdict (too few requests, or the confidence interval straddles the "
        "threshold) does: fail the test, pass it with a warning, or extend the load up to the marker's "
        "max_duration= until it is decided (default fail: a gate must not ship what it could not verify).",
        parse.inconclusive,
        "one of " + ", ".join(parse.INCONCLUSIVE_POLICIES),
        "POLICY",
        "fail",
    ),
    Option(
        "aks_workers",
        "Run Locust as a master with N local worker processes (one per core scales the load generator past "
        "one CPU); markers may override with workers= (default 0: one process).",
        parse.count,
        "a whole number >= 0",
        "N",
        0,
    ),
    Option(
        "aks_expect_workers",
        "Run Locust as a master that waits for N remote workers (aksload-worker) on --aks-master-bind.",
        parse.positive_int,
        "a whole number >= 1",
        "N",
    ),
    Option(
        "aks_master_bind",
        "HOST:PORT the master listens on for remote workers (which prove AKSLOAD_WORKER_TOKEN).",
        parse.host_port,
        "HOST:PORT, e.g. 10.0.0.4:5557",
        "HOST:PORT",
    ),
    Option(
        "aks_report",
        "Write per-test result JSON and Locust's HTML report, summary.json, summary.md and report.html into DIR.",
        parse.text,
        "a directory path",
        "DIR",
    ),
    Option(
        "aks_require_target",
        "Make a missing target option an ERROR for tests that need one, instead of a skip.",
        parse.boolean,
        "true or false",
        None,
    ),
    Option(
        "aks_save_baseline",
        "Store this session's load results (histograms included) in PATH for --aks-compare.",
        parse.text,
        "a file path",
        "PATH",
    ),
    Option(
        "aks_compare",
        "Compare each load test with its result in the baseline file PATH (--aks-save-baseline).",
        parse.existing_file,
        "the path of an existing baseline file",
        "PATH",
    ),
    Option(
        "aks_max_regression",
        "Fail a test whose metric got significantly worse than its --aks-compare baseline by more than "
        'the tolerance, e.g. "p95=10%,rps=5%,failure_rate=0.5pp".',
        parse.tolerances,
        TOLERANCE_FORM + " (latency pQ: % or ms; rps: %; failure_rate: pp)",
        "SPEC",
    ),
    Option(
        "aks_key_env",
        f"Environment variable holding the key for --aks-scoring-uri (default {DEFAULT_KEY_ENV}).",
        parse.env_name,
        "an environment variable name",
        "NAME",
        DEFAULT_KEY_ENV,
        cli=False,
    ),
    Option(
        "aks_contract",
        "How rows become a request body and a response predictions, for markers that omit contract=: "
        "azureml (default), mlflow, azureml-mlflow, open-inference, or your own module:Name / path/to/file.py:Name.",
        parse.contract_spec,
        "a built-in name (azureml, mlflow, azureml-mlflow, open-inference), 'module:Name' or 'path/to/file.py:Name'",
        "NAME",
    ),
    Option(
        "aks_sample_path",
        "Your own sample rows to send (CSV, Parquet or JSON Lines, any schema; default: the Criteo sample). "
        "Columns named by ini aks_label_column and aks_expected_column are not sent.",
        parse.sample_file,
        "the path of an existing .csv, .parquet or .jsonl file",
        "PATH",
        cli_flag="--aks-sample",
    ),
    Option(
        "aks_label_column",
        "Column of the sample holding each row's label (for auc and logloss; not sent). Default label.",
        parse.text,
        "a column name",
        "NAME",
        "label",
        cli=False,
    ),
    Option(
        "aks_expected_column",
        "Column of the sample holding each row's expected prediction (for mismatch_rate; not sent). Default expected.",
        parse.text,
        "a column name",
        "NAME",
        "expected",
        cli=False,
    ),
    Option(
        "criteo_sample_path",
        "Real Criteo dac_sample.txt to draw payloads from (default: the shipped sample).",
        parse.existing_file,
        "the path of an existing file",
        "PATH",
        cli=False,
    ),
)

OPTIONS_BY_NAME: Mapping[str, Option] = {option.name: option for option in OPTIONS}

OPTIONS_BY_NAME: Mapping[str, Option] = {option.name: option for option in OPTIONS}
