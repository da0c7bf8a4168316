"""Which other side a side-by-side test compares with (`targets.resolve.resolve_against`): the marker's
`against=` over the options, a URL with its own key or the target's credential, a deployment of the
target's endpoint reached by the routing header, and one-line refusals."""

from __future__ import annotations

import re

import pytest

from pytest_aksload.config.settings import Settings
from pytest_aksload.targets.resolve import resolve_against
from pytest_aksload.targets.target import Credential, Target, TargetError

URI = "http://127.0.0.1:9/score"
OTHER = "http://127.0.0.1:8/v2/score"


def _local(deployment: str | None = "green") -> Target:
    headers = {"azureml-model-deployment": deployment} if deployment else {}
    return Target(URI, name="aks-local", kind="local", credential=Credential.key("k"), extra_headers=headers)


def test_nothing_to_compare_with_is_none() -> None:
    assert resolve_against(_local(), Settings()) is None


def test_a_url_uses_the_targets_credential_unless_its_own_key_env_is_named() -> None:
    target = _local()
    shared = resolve_against(target, Settings(aks_against_uri=OTHER))
    assert shared is not None and shared.target.scoring_uri == OTHER and shared.target.credential is target.credential
    assert not shared.own_credential and shared.deployment is None
    own = resolve_against(target, Settings(aks_against_key_env="LIVE_KEY"), against=OTHER, environ={"LIVE_KEY": "s3"})
    assert own is not None and own.own_credential and own.target.headers()["Authorization"] == "Bearer s3"
    with pytest.raises(TargetError, match="ini aks_against_key_env names LIVE_KEY, which is not set"):
        resolve_against(target, Settings(aks_against_key_env="LIVE_KEY"), against=OTHER, environ={})


def test_the_markers_against_overrides_the_option() -> None:
    other = resolve_against(_local(), Settings(aks_against_uri=OTHER), against="blue")
    assert other is not None and other.deployment == "blue" and other.name == "deployment blue"


def test_a_deployment_is_the_same_uri_with_the_routing_header_and_the_targets_credential() -> None:
    target = _local()
    other = resolve_against(target, Settings(aks_against="blue"))
    assert other is not None and other.target.scoring_uri == URI and other.deployment == "blue"
    assert other.target.headers()["azureml-model-deployment"] == "blue" and other.target.credential is target.credential


@pytest.mark.parametrize(
    ("target", "against", "message"),
    [
        (Target(URI, name=URI, kind="scoring-uri"), "blue", "names a deployment ('blue'), which needs --aml-endpoint"),
        (_local(None), "blue", "name the candidate too with --aml-deployment NAME"),
        (_local("green"), "green", "is the candidate itself"),
    ],
)
def test_a_deployment_that_cannot_be_compared_is_one_line(target: Target, against: str, message: str) -> None:
    with pytest.raises(TargetError, match=re.escape(message)) as info:
        resolve_against(target, Settings(), against=against)
    assert "\n" not in str(info.value) and str(info.value).startswith("against='")
