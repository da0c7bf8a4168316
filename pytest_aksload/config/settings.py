"""The one place that decides settings: option definitions, precedence and validation.

Every option is settable on the command line, through an environment variable and as an ini key
(`[pytest]` in pytest.ini / tox.ini / setup.cfg, `[tool.pytest.ini_options]` in pyproject.toml).
Precedence: command line > environment > ini > built-in default. The environment variable of an
option is `AKSLOAD_` and its flag without the dashes and a leading `aks-`, in capitals
(`--aks-users` → `AKSLOAD_USERS`, `--aml-endpoint` → `AKSLOAD_AML_ENDPOINT`): the plugin's own
prefix, so a generic `AKS_SERVICE` that a pipeline defines for its deploy step cannot aim a gate.
The names of earlier releases (the ini key in capitals, `AKS_USERS`) are still read this release,
below the new ones, with one deprecation warning naming the new ones. The target options are one setting
for precedence: a target on the command line replaces one from the environment or ini. Bad values
become one-line `pytest.UsageError`s naming the option, where its value came from and the
accepted form.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_aksload import worker_auth
from pytest_aksload.config import parsers as parse
from pytest_aksload.config.deployment_settings import FORM as DEPLOYMENT_SETTINGS_FORM
from pytest_aksload.config.deployment_settings import DeploymentSettingsError, parse_deployment_settings
from pytest_aksload.config.extras import SDK_EXTRAS, installed
from pytest_aksload.config.local_deployments import (
    SPEC_FORM,
    LocalDeployment,
    LocalDeploymentError,
    candidate,
    locate_models,
    parse_local_deployments,
)
from pytest_aksload.config.local_endpoint import REQUEST_TIMEOUT_FORM, parse_request_timeout
from pytest_aksload.config.sizing import PEAK_FORM, parse_peak
from pytest_aksload.config.tolerances import TOLERANCE_FORM, Tolerance
from pytest_aksload.config.units import UnitError
from pytest_aksload.defaults import DEFAULT_REQUEST_TIMEOUT_S

GROUP = "aksload"
ENV_PREFIX = "AKSLOAD_"
DEFAULT_KEY_ENV = "AKSLOAD_KEY"  # ini aks_key_env: where --aks-scoring-uri's key is read
LEGACY_KEY_ENV = "AKS_KEY"  # its earlier name: still read, with the deprecation warning

TARGET_OPTIONS = ("aks_service", "aml_endpoint", "aks_scoring_uri", "aks_local")
NO_TARGET_REASON = "no endpoint: pass --aks-service, --aml-endpoint, --aks-scoring-uri or --aks-local"

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


class AksloadDeprecationWarning(pytest.PytestWarning, DeprecationWarning):
    """A name pytest-aksload still reads this release and will not in the next one."""


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


@dataclass(frozen=True)
class Settings:
    aks_service: str | None = None
    aks_workspace_config: str | None = None
    aml_endpoint: str | None = None
    aml_deployment: str | None = None
    aks_against: str | None = None
    aks_against_uri: str | None = None
    aks_against_key_env: str | None = None
    aks_scoring_uri: str | None = None
    aks_local: bool = False
    aks_local_deployments: tuple[LocalDeployment, ...] = ()
    aks_local_instances: int = 1
    aks_local_max_concurrent: int | None = None
    aks_local_request_timeout: float | None = None
    aks_deployment_settings: tuple[tuple[str, Any], ...] = ()  # (Deployment field, value) pairs
    aks_peak_rps: float | None = None
    aks_ca_bundle: str | None = None
    aks_users: int = DEFAULT_USERS
    aks_spawn_rate: float = DEFAULT_SPAWN_RATE
    aks_duration: float = DEFAULT_DURATION_S
    aks_request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S
    aks_inconclusive: str = "fail"
    aks_workers: int = 0
    aks_expect_workers: int | None = None
    aks_master_bind: tuple[str, int] | None = None
    aks_report: str | None = None
    aks_require_target: bool = False
    aks_save_baseline: str | None = None
    aks_compare: str | None = None
    aks_max_regression: tuple[Tolerance, ...] = ()
    aks_key_env: str = DEFAULT_KEY_ENV
    aks_contract: str | None = None
    aks_sample_path: str | None = None
    aks_label_column: str = "label"
    aks_expected_column: str = "expected"
    criteo_sample_path: str | None = None

    @property
    def against(self) -> str | None:
        """The other side the options name for side-by-side gates (a deployment or a URL), or None."""
        return self.aks_against or self.aks_against_uri

    @property
    def target_option(self) -> str | None:
        """Which target option was given (at most one is allowed)."""
        for name in TARGET_OPTIONS:
            if getattr(self, name):
                return name
        return None

    @property
    def local_model(self) -> str | None:
        """The model file the gated local deployment serves (--aml-deployment's, else the first of
        --aks-local-deployments); None for the shipped model."""
        gated = candidate(self.aks_local_deployments, self.aml_deployment)
        return gated.model if gated is not None else None


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "aksload: load-test gates for model endpoints")
    for option in OPTIONS:
        if option.cli:
            kwargs: dict[str, Any] = {
                "dest": option.name,
                "default": None,
                # argparse %-formats help texts; a literal % (e.g. "p95=10%") must be doubled.
                "help": (option.help + f" [env {option.env}]").replace("%", "%%"),
            }
            if option.metavar is None:
                kwargs["action"] = "store_const"
                kwargs["const"] = "true"
            else:
                kwargs["metavar"] = option.metavar
            group.addoption(option.flag, **kwargs)
        parser.addini(option.name, option.help, type="string", default="")


# Where a raw value came from, highest precedence first (`_one_target` keeps the highest).
CLI, ENV, LEGACY_ENV, INI = range(4)


@dataclass(frozen=True)
class _Raw:
    value: str | None
    source: str = ""  # for error messages: "--aks-users", "environment variable AKSLOAD_USERS", ...
    rank: int = INI + 1


def _raw_value(option: Option, config: pytest.Config, environ: Mapping[str, str]) -> _Raw:
    """The winning raw value, where it came from and that source's precedence."""
    if option.cli:
        cli_value = config.getoption(option.name, default=None)
        if cli_value is not None:
            return _Raw(str(cli_value), option.flag, CLI)
    for name, rank in ((option.env, ENV), (option.legacy_env, LEGACY_ENV)):
        env_value = environ.get(name)
        if env_value is not None and env_value.strip() != "":
            return _Raw(env_value, f"environment variable {name}", rank)
    ini_value = config.getini(option.name)
    if isinstance(ini_value, str) and ini_value.strip() != "":
        return _Raw(ini_value, f"ini key {option.name}", INI)
    return _Raw(None)


def resolve(config: pytest.Config, environ: Mapping[str, str] | None = None) -> Settings:
    """Read every option with its precedence, validate it, and return the settings."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    raws: dict[str, _Raw] = {}
    for option in OPTIONS:
        raw = raws[option.name] = _raw_value(option, config, environ)
        if raw.value is None:
            if option.default is not None:
                values[option.name] = option.default
            continue
        try:
            values[option.name] = option.parse(raw.value)
        except (ValueError, UnitError) as error:
            # Errors of a structured value say which part is wrong; a plain value's is the value itself.
            why = f": {error}" if isinstance(error, (LocalDeploymentError, DeploymentSettingsError)) else ""
            raise pytest.UsageError(
                f"{option.flag if option.cli else 'ini key ' + option.name}: cannot use {raw.value!r} "
                f"(from {raw.source}){why}; expected {option.accepted}"
            ) from None
    if "aks_local_deployments" in values:
        try:
            values["aks_local_deployments"] = locate_models(values["aks_local_deployments"], config.rootpath)
        except LocalDeploymentError as error:
            raise pytest.UsageError(f"--aks-local-deployments: {error}") from None
    _one_target(values, raws)
    settings = Settings(**values)
    _check_combination(settings)
    _check_worker_token(settings, environ)
    settings = _legacy_key(settings, raws["aks_key_env"], environ)
    renamed = old_names_read(settings, raws, values)
    if renamed:
        config.issue_config_time_warning(AksloadDeprecationWarning(deprecation_message(renamed)), stacklevel=2)
    return settings


def old_names_read(settings: Settings, raws: Mapping[str, _Raw], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(old, new) of each environment variable read by its old name. The old name of a target that
    a new name replaced (`_one_target`) was not read."""
    renamed = [
        (option.legacy_env, option.env)
        for option in OPTIONS
        if raws[option.name].rank == LEGACY_ENV and option.name in values
    ]
    if settings.aks_key_env == LEGACY_KEY_ENV and raws["aks_key_env"].value is None:
        renamed.append((LEGACY_KEY_ENV, DEFAULT_KEY_ENV))
    return renamed


def _legacy_key(settings: Settings, key_env: _Raw, environ: Mapping[str, str]) -> Settings:
    """A scoring URI's key from `AKS_KEY`, the default of earlier releases, when the user named no
    variable (ini aks_key_env) and `AKSLOAD_KEY` is unset."""
    if (
        settings.aks_scoring_uri
        and key_env.value is None
        and not environ.get(DEFAULT_KEY_ENV)
        and environ.get(LEGACY_KEY_ENV)
    ):
        return dataclasses.replace(settings, aks_key_env=LEGACY_KEY_ENV)
    return settings


def deprecation_message(renamed: Sequence[tuple[str, str]]) -> str:
    """One line naming each old environment variable that was read and its new name."""
    pairs = ", ".join(f"{old} -> {new}" for old, new in renamed)
    return (
        f"pytest-aksload read environment variables by their old names; rename them ({pairs}): "
        "the old names stop working in the next release"
    )


def _one_target(values: dict[str, Any], raws: Mapping[str, _Raw]) -> None:
    """Keep the target of the highest precedence (a team's ini may name a default target that CI
    replaces on the command line; a new environment name beats an old one); two targets from the
    same source are an error naming both."""
    given = [name for name in TARGET_OPTIONS if values.get(name)]
    rank = {name: raws[name].rank for name in given}
    top = [name for name in given if rank[name] == min(rank.values())]
    if len(top) > 1:
        named = ", ".join(
            OPTIONS_BY_NAME[name].flag + ("" if raws[name].rank == CLI else f" (from {raws[name].source})")
            for name in top
        )
        raise pytest.UsageError(f"choose one target: {named} were all given; pass only one of them")
    for name in given:
        if name not in top:
            del values[name]


def _check_combination(settings: Settings) -> None:
    if settings.aks_expect_workers and not settings.aks_master_bind:
        raise pytest.UsageError(
            "--aks-expect-workers needs --aks-master-bind HOST:PORT (where remote workers connect; it hands them "
            "the key, so bind a private interface)"
        )
    if settings.aks_max_regression and not settings.aks_compare:
        raise pytest.UsageError("--aks-max-regression needs --aks-compare PATH (the baseline to compare with)")
    if settings.aml_deployment and not settings.aml_endpoint:
        check_local_deployment(settings, "--aml-deployment", settings.aml_deployment)
    if settings.aks_against and settings.aks_against_uri:
        raise pytest.UsageError(
            "choose one other side: --aks-against NAME (a deployment of --aml-endpoint) or --aks-against-uri URL, "
            "not both"
        )
    if settings.aks_against and not settings.aml_endpoint:
        if not settings.aks_local:
            raise pytest.UsageError(
                "--aks-against needs --aml-endpoint NAME (the endpoint both deployments belong to); "
                "to compare with any other URL use --aks-against-uri URL"
            )
        check_local_deployment(settings, "--aks-against", settings.aks_against)
    if settings.aks_against and not settings.aml_deployment:
        raise pytest.UsageError(
            f"--aks-against {settings.aks_against!r}: name the candidate too with --aml-deployment NAME "
            "(without it the endpoint's traffic rules pick who answers)"
        )
    if settings.aks_against and settings.aks_against == settings.aml_deployment:
        raise pytest.UsageError(
            f"--aks-against {settings.aks_against!r} is the candidate itself (--aml-deployment): "
            "name the other deployment"
        )
    target = settings.target_option
    if target in SDK_EXTRAS:
        module, extra = SDK_EXTRAS[target]
        if not installed(module):
            raise pytest.UsageError(
                f"{OPTIONS_BY_NAME[target].flag} needs the '{extra}' extra: pip install \"pytest-aksload[{extra}]\""
            )


def _check_worker_token(settings: Settings, environ: Mapping[str, str]) -> None:
    """Remote workers must prove the shared worker token before the master sends them the run, so
    a master for them needs one: checked here, before anything binds (any address, loopback too:
    every local user can reach 127.0.0.1)."""
    if not settings.aks_expect_workers:
        return
    problem = worker_auth.token_problem(environ.get(worker_auth.WORKER_TOKEN_ENV))
    if problem is not None:
        raise pytest.UsageError(
            f"--aks-expect-workers: {problem}; set it, here and on every aksload-worker, to one random token "
            f"of at least {worker_auth.MIN_TOKEN_CHARS} characters (make one with {worker_auth.TOKEN_RECIPE})"
        )


def check_local_deployment(settings: Settings, flag: str, name: str) -> None:
    """A deployment option (`flag` = `name`) without --aml-endpoint names a deployment of the local
    service (--aks-local with --aks-local-deployments), or it is a usage error."""
    names = [deployment.name for deployment in settings.aks_local_deployments]
    if not (settings.aks_local and names):
        raise pytest.UsageError(
            f"{flag} needs --aml-endpoint NAME (the endpoint the deployment belongs to), "
            "or --aks-local with --aks-local-deployments naming it"
        )
    if name not in names:
        raise pytest.UsageError(
            f"{flag} {name!r} is not a deployment of --aks-local-deployments ({', '.join(names)}); pass one of them"
        )
