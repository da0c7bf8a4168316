"""The one place that decides settings: precedence and validation (each option is declared once, in `options.py`).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_aksload import worker_auth
from pytest_aksload.config.deployment_settings import DeploymentSettingsError
from pytest_aksload.config.extras import SDK_EXTRAS, installed
from pytest_aksload.config.local_deployments import (
    LocalDeployment,
    LocalDeploymentError,
    candidate,
    locate_models,
)
from pytest_aksload.config.options import (
    DEFAULT_DURATION_S,
    DEFAULT_KEY_ENV,
    DEFAULT_SPAWN_RATE,
    DEFAULT_USERS,
    GROUP,
    LEGACY_KEY_ENV,
    OPTIONS,
    OPTIONS_BY_NAME,
    Option,
)
from pytest_aksload.config.tolerances import Tolerance
from pytest_aksload.config.units import UnitError
from pytest_aksload.defaults import DEFAULT_REQUEST_TIMEOUT_S

TARGET_OPTIONS = ("aks_service", "aml_endpoint", "aks_scoring_uri", "aks_local")
NO_TARGET_REASON = "no endpoint: pass --aks-service, --aml-endpoint, --aks-scoring-uri or --aks-local"


class AksloadDeprecationWarning(pytest.PytestWarning, DeprecationWarning):
    """A name pytest-aksload still reads this release and will not in the next one."""


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
