"""Environment variables of the options: the plugin's own prefix (`--aks-users` → `AKSLOAD_USERS`),
and the names of earlier releases still read, below the new ones, with one warning naming the new
ones. (A real inner session, warning summary included: tests/live/test_settings.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_aksload.config.options import OPTIONS
from pytest_aksload.config.settings import AksloadDeprecationWarning, Settings, resolve


class _Config:
    """What `settings.resolve` reads of a pytest config, and the config-time warnings it issues."""

    def __init__(self, cli: dict[str, str] | None = None, ini: dict[str, str] | None = None) -> None:
        self._cli, self._ini = cli or {}, ini or {}
        self.rootpath = Path.cwd()
        self.warnings: list[Warning] = []

    def getoption(self, name: str, default: Any = None) -> Any:
        return self._cli.get(name, default)

    def getini(self, name: str) -> str:
        return self._ini.get(name, "")

    def issue_config_time_warning(self, warning: Warning, stacklevel: int) -> None:
        self.warnings.append(warning)


def _resolve(environ: dict[str, str], **kwargs: Any) -> tuple[Settings, list[str]]:
    config = _Config(**kwargs)
    settings = resolve(config, environ=environ)  # type: ignore[arg-type]
    assert all(isinstance(warning, AksloadDeprecationWarning) for warning in config.warnings)
    return settings, [str(warning) for warning in config.warnings]


def test_each_option_reads_aksload_and_its_name_without_the_aks_prefix() -> None:
    names = {option.name: option.env for option in OPTIONS}
    assert names["aks_users"] == "AKSLOAD_USERS"
    assert names["aks_scoring_uri"] == "AKSLOAD_SCORING_URI"
    assert names["aml_endpoint"] == "AKSLOAD_AML_ENDPOINT"  # not --aks-: the whole name
    assert names["aks_sample_path"] == "AKSLOAD_SAMPLE"  # its flag is --aks-sample
    assert names["criteo_sample_path"] == "AKSLOAD_CRITEO_SAMPLE_PATH"  # ini only: the ini key's flag form
    assert all(env.startswith("AKSLOAD_") for env in names.values())
    assert len(set(names.values())) == len(names)


def test_the_new_name_is_read_without_a_warning() -> None:
    settings, warned = _resolve({"AKSLOAD_USERS": "7", "AKSLOAD_REPORT": "out", "AKS_DURATION": ""})
    assert (settings.aks_users, settings.aks_report, warned) == (7, "out", [])


def test_an_old_name_still_works_with_one_warning_naming_the_new_one() -> None:
    settings, warned = _resolve({"AKS_USERS": "7", "AKS_DURATION": "1m"})
    assert (settings.aks_users, settings.aks_duration) == (7, 60.0)
    assert len(warned) == 1
    assert "AKS_USERS -> AKSLOAD_USERS, AKS_DURATION -> AKSLOAD_DURATION" in warned[0]


def test_the_new_name_wins_over_the_old_and_the_ignored_old_one_is_not_reported() -> None:
    settings, warned = _resolve({"AKS_USERS": "7", "AKSLOAD_USERS": "9"})
    assert (settings.aks_users, warned) == (9, [])


def test_a_generic_old_target_variable_loses_to_a_new_one_and_to_the_command_line() -> None:
    pipeline = {"AKS_SERVICE": "deployed-by-the-pipeline"}
    settings, warned = _resolve({**pipeline, "AKSLOAD_SCORING_URI": "http://127.0.0.1:1/score"})
    assert (settings.aks_service, settings.aks_scoring_uri, warned) == (None, "http://127.0.0.1:1/score", [])
    settings, warned = _resolve(pipeline, cli={"aks_local": "true"})
    assert (settings.aks_service, settings.aks_local, warned) == (None, True, [])
    settings, warned = _resolve(pipeline)  # alone, this release still follows it, and says so
    assert settings.aks_service == "deployed-by-the-pipeline"
    assert "AKS_SERVICE -> AKSLOAD_SERVICE" in warned[0]


@pytest.mark.parametrize(
    ("environ", "ini", "key_env", "warns"),
    [
        ({"AKSLOAD_KEY": "k"}, {}, "AKSLOAD_KEY", False),
        ({"AKS_KEY": "k"}, {}, "AKS_KEY", True),  # the old default, read with the warning
        ({"AKS_KEY": "old", "AKSLOAD_KEY": "new"}, {}, "AKSLOAD_KEY", False),
        ({"AKS_KEY": "k"}, {"aks_key_env": "MY_KEY"}, "MY_KEY", False),  # the user named one: only that
        ({}, {}, "AKSLOAD_KEY", False),
    ],
)
def test_the_scoring_uri_key_comes_from_aksload_key_or_else_the_old_aks_key(
    environ: dict[str, str], ini: dict[str, str], key_env: str, warns: bool
) -> None:
    settings, warned = _resolve(environ, cli={"aks_scoring_uri": "http://127.0.0.1:1/score"}, ini=ini)
    assert settings.aks_key_env == key_env
    assert bool(warned) == warns
    if warns:
        assert "AKS_KEY -> AKSLOAD_KEY" in warned[0]


def test_an_old_key_is_not_read_nor_warned_about_when_no_scoring_uri_needs_one() -> None:
    settings, warned = _resolve({"AKS_KEY": "a pipeline's own"}, cli={"aks_local": "true"})
    assert (settings.aks_key_env, warned) == ("AKSLOAD_KEY", [])


def test_no_option_variable_is_also_an_internal_one() -> None:
    """The processes the plugin starts read variables of their own (the Locust child's settings and
    secrets, the local server's key and deployments, the lifeline): none may be an option's name,
    or a user's option would be read as one of them, in another format."""
    from pytest_aksload import lifeline, protocol
    from pytest_aksload.local import service

    internal = {lifeline.PARENT_PID_ENV, service.KEY_ENV, service.DEPLOYMENTS_ENV, service.WORKDIR_ENV}
    for option in OPTIONS:
        assert option.env not in internal, option.env
        assert not option.env.startswith(protocol.CHILD_ENV_PREFIX), option.env
