"""`--aks-local-deployments` SPEC: NAME=MODEL[+LATENCY], Azure's deployment-name rule, model files
found against the rootdir, and which deployment a gate targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_aksload.config.local_deployments import (
    NAME_RULE,
    LocalDeployment,
    LocalDeploymentError,
    candidate,
    locate_models,
    parse_local_deployments,
)
from pytest_aksload.config.settings import Settings, _check_combination


def test_names_models_and_latencies_in_order() -> None:
    assert parse_local_deployments("blue=shipped green=shipped+40ms") == (
        LocalDeployment("blue", None, 0.0),
        LocalDeployment("green", None, 0.04),
    )
    # Commas, spaces or both; a path as MODEL; latency in any duration form, zero included.
    assert parse_local_deployments(" blue=shipped+0ms,\tgreen-v2=models/green.txt+0.1s , Canary3=shipped+1 ") == (
        LocalDeployment("blue", None, 0.0),
        LocalDeployment("green-v2", "models/green.txt", 0.1),
        LocalDeployment("Canary3", None, 1.0),
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no deployment given"),
        (" , ", "no deployment given"),
        ("blue", "'blue' is not NAME=MODEL[+LATENCY]"),
        ("blue=", "'blue=' is not NAME=MODEL[+LATENCY]"),
        ("=shipped", "'=shipped' is not NAME=MODEL[+LATENCY]"),
        ("green=+40ms", "'green=+40ms' has no MODEL: give shipped or the path of a LightGBM model file"),
        ("bl=shipped", "'bl' is not a deployment name"),
        ("x" * 33 + "=shipped", "is not a deployment name"),
        ("1blue=shipped", "'1blue' is not a deployment name"),
        ("-blue=shipped", "'-blue' is not a deployment name"),
        ("blue-=shipped", "'blue-' is not a deployment name"),
        ("blue--x=shipped", "'blue--x' is not a deployment name"),
        ("blue_x=shipped", "'blue_x' is not a deployment name"),
        ("blué=shipped", "'blué' is not a deployment name"),
        ("blue=shipped blue=other.txt", "deployment 'blue' is given twice"),
        ("Blue=shipped blue=shipped", "deployment 'blue' is given twice"),
        ("green=shipped+fast", "latency of 'green': cannot read 'fast'"),
        ("green=shipped+-1s", "latency of 'green': '-1s' is negative"),
        ("green=shipped+181s", "latency of 'green': '181s' is longer than 180s"),
        (" ".join(f"dep{i}=shipped" for i in range(21)), "21 deployments; an Azure ML endpoint has at most 20"),
    ],
)
def test_a_bad_spec_names_its_bad_part(spec: str, message: str) -> None:
    with pytest.raises(LocalDeploymentError) as error:
        parse_local_deployments(spec)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_bad_name_quotes_azures_rule() -> None:
    with pytest.raises(LocalDeploymentError, match="beginning with a letter") as error:
        parse_local_deployments("b=shipped")
    assert NAME_RULE in str(error.value)


def test_the_longest_and_shortest_names_azure_accepts() -> None:
    names = ["abc", "a" * 32, "my-endpoint-name", "B1-2-3"]
    assert [d.name for d in parse_local_deployments(" ".join(f"{n}=shipped" for n in names))] == names


def test_model_files_are_found_against_the_rootdir(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "green.txt").write_text("tree\n")
    located = locate_models(parse_local_deployments("blue=shipped green=models/green.txt+5ms"), tmp_path)
    assert located == (
        LocalDeployment("blue", None, 0.0),
        LocalDeployment("green", str(tmp_path / "models" / "green.txt"), 0.005),
    )
    with pytest.raises(LocalDeploymentError) as error:
        locate_models(parse_local_deployments("blue=shipped green=models/nope.txt"), tmp_path)
    assert str(error.value) == (
        f"model of deployment 'green': no file 'models/nope.txt' (relative to the rootdir {str(tmp_path)!r}); "
        "give shipped or the path of a LightGBM model file"
    )


def test_the_gated_deployment_is_aml_deployment_else_the_first() -> None:
    deployments = parse_local_deployments("blue=shipped green=g.txt")
    assert candidate(deployments, None) == deployments[0]
    assert candidate(deployments, "green") == deployments[1]
    assert candidate(deployments, "red") is None
    assert candidate((), None) is None
    # Its model is the one --aks-local's expected predictions come from (None: the shipped model).
    assert Settings(aks_local=True, aks_local_deployments=deployments, aml_deployment="green").local_model == "g.txt"
    assert Settings(aks_local=True, aks_local_deployments=deployments).local_model is None
    assert Settings(aks_local=True).local_model is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (Settings(aml_deployment="green"), "--aml-deployment needs --aml-endpoint NAME"),
        (Settings(aks_local=True, aml_deployment="green"), "or --aks-local with --aks-local-deployments naming it"),
        (
            Settings(aks_local=True, aml_deployment="red", aks_local_deployments=(LocalDeployment("blue"),)),
            "--aml-deployment 'red' is not a deployment of --aks-local-deployments (blue); pass one of them",
        ),
    ],
)
def test_aml_deployment_without_an_endpoint_must_be_a_local_deployment(settings: Settings, message: str) -> None:
    with pytest.raises(pytest.UsageError, match="--aml-deployment") as error:
        _check_combination(settings)
    assert message in str(error.value)


def test_aml_deployment_names_a_local_deployment() -> None:
    deployments = parse_local_deployments("blue=shipped green=shipped+40ms")
    _check_combination(Settings(aks_local=True, aml_deployment="green", aks_local_deployments=deployments))
