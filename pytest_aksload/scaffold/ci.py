"""The CI recipes `aksload init --ci github|azure` writes: install, sign in, run the gates, publish.

There is one Azure Pipelines recipe: `examples/ci/azure-pipelines.yml` is what `azure_pipelines`
writes for an AKS web service named by a pipeline variable (a unit test compares the two), and
`aksload init` writes the same steps for the target it was given. The GitHub Actions workflow is
the one docs/ci.md shows, with the same steps. In both, secrets reach the gate through its step's environment
only, never its command line; the results (JUnit) and the `--aks-report` directory are published
when the gate failed too, because that is when they are read.
"""

from __future__ import annotations

import textwrap

from pytest_aksload.config.options import DEFAULT_KEY_ENV
from pytest_aksload.scaffold.gates import GateTarget

AZURE_FILE = "azure-pipelines.yml"
GITHUB_FILE = ".github/workflows/load-gate.yml"

JUNIT = "gate.xml"
REPORT = "load-report"

# azureml-core (SDK v1) supports Python up to 3.11; Locust 2 needs 3.11 or later.
_PYTHON = {"aks_service": "3.11"}
_PYTHON_DEFAULT = "3.12"
_PYTHON_NOTE = {"aks_service": "   # azureml-core supports up to 3.11"}


def _gate_command(gates_dir: str, target_args: str = "") -> str:
    """The CI's gate command line; `--aks-require-target` makes a lost target an error, not a skip."""
    return f"pytest {gates_dir}{target_args} --aks-require-target --junitxml {JUNIT} --aks-report {REPORT}"


def _python(target: GateTarget) -> str:
    return _PYTHON.get(target.option, _PYTHON_DEFAULT)


# The secrets each target's gate reads, as environment variable -> the CI secret it comes from.
# SDK v1 reads its own service-principal variables; SDK v2's DefaultAzureCredential the AZURE_* ones.
_SECRET_ENV = {
    "aks_local": {},
    "aks_scoring_uri": {DEFAULT_KEY_ENV: DEFAULT_KEY_ENV},
    "aks_service": {
        "AZUREML_SERVICE_PRINCIPAL_TENANT_ID": "AZURE_TENANT_ID",
        "AZUREML_SERVICE_PRINCIPAL_ID": "AZURE_CLIENT_ID",
        "AZUREML_SERVICE_PRINCIPAL_PASSWORD": "AZURE_CLIENT_SECRET",
    },
    "aml_endpoint": {
        "AZURE_TENANT_ID": "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID": "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET": "AZURE_CLIENT_SECRET",
    },
}

_WIDTH = 102  # the header comments' wrapping width, the example recipe's

# Azure Pipelines ------------------------------------------------------------------------------

_AZURE_PARAMETERS = """\
parameters:
  - name: serviceConnection
    displayName: Azure Resource Manager service connection (empty = service-principal variables)
    type: string
    default: ml-prod-connection

"""

_AZURE_WORKSPACE = """\
  - script: >
      echo '{"subscription_id": "$(AZURE_SUBSCRIPTION_ID)", "resource_group": "$(AML_RESOURCE_GROUP)",
      "workspace_name": "$(AML_WORKSPACE)"}' > config.json
    displayName: Workspace config
"""

_AZURE_SIGN_IN = """\
  - ${{ if ne(parameters.serviceConnection, '') }}:
      - task: AzureCLI@2
        displayName: Sign in with the service connection
        inputs:
          azureSubscription: ${{ parameters.serviceConnection }}
          scriptType: bash
          scriptLocation: inlineScript
          addSpnToEnvironment: true   # the connection's service principal, for this script only
          inlineScript: |
            echo "##vso[task.setvariable variable=AZURE_TENANT_ID]$tenantId"
            echo "##vso[task.setvariable variable=AZURE_CLIENT_ID]$servicePrincipalId"
            echo "##vso[task.setvariable variable=AZURE_CLIENT_SECRET;issecret=true]$servicePrincipalKey"
"""

_AZURE_PUBLISH = f"""\
  - task: PublishTestResults@2
    displayName: Publish the gate's results
    condition: succeededOrFailed()
    inputs:
      testResultsFormat: JUnit
      testResultsFiles: {JUNIT}
      testRunTitle: Load-test gate
  - task: PublishPipelineArtifact@1
    displayName: Publish the load report
    condition: succeededOrFailed()
    inputs:
      targetPath: {REPORT}
      artifact: {REPORT}
"""


def azure_pipelines(target: GateTarget, gates_dir: str = "gates", target_variable: str | None = None) -> str:
    """`azure-pipelines.yml` running the gates in `gates_dir` against `target`.

    `target_variable`: a pipeline variable that names the target on the gate's command line (the
    example recipe's `AML_SERVICE`); without it the target is the one in the gates' pytest.ini.
    """
    variables = ["AZURE_SUBSCRIPTION_ID", "AML_RESOURCE_GROUP", "AML_WORKSPACE"] if target.azure else []
    target_args = ""
    if target_variable:
        variables.append(target_variable)
        target_args = f" --{target.option.replace('_', '-')} $({target_variable})"
    header = _azure_header(target, variables, target_variable is None)
    gate = f"  - script: {_gate_command(gates_dir, target_args)}\n    displayName: Load-test gate\n"
    secrets = _SECRET_ENV[target.option]
    if secrets:
        gate += "    env:   # a secret variable reaches a script only when mapped here\n"
        gate += "".join(f"      {name}: $({source})\n" for name, source in secrets.items())
    return "".join(
        [
            header,
            _AZURE_PARAMETERS if target.azure else "",
            "trigger: none\n\npool:\n  vmImage: ubuntu-latest\n\nsteps:\n",
            "  - task: UsePythonVersion@0\n    inputs:\n",
            f'      versionSpec: "{_python(target)}"{_PYTHON_NOTE.get(target.option, "")}\n',
            f'  - script: pip install "{target.package}"\n    displayName: Install\n',
            _AZURE_WORKSPACE + _AZURE_SIGN_IN if target.azure else "",
            gate,
            _AZURE_PUBLISH,
        ]
    )


def _azure_header(target: GateTarget, variables: list[str], target_in_ini: bool) -> str:
    text = _purpose(target, target_in_ini)
    if target.azure:
        text += (
            f"Pipeline variables: {', '.join(variables)}. Sign-in: the service connection named by the "
            "parameter below, or (parameter empty) the variables AZURE_TENANT_ID, AZURE_CLIENT_ID and the "
            "secret AZURE_CLIENT_SECRET."
        )
    elif target.option == "aks_scoring_uri":
        text += f"Pipeline variable: the secret {DEFAULT_KEY_ENV}, the endpoint's key."
    return _comment(text)


def _purpose(target: GateTarget, target_in_ini: bool = True) -> str:
    if target.option == "aks_local":
        return (
            "Run the load-test gates against the embedded local scoring service, in CI and without Azure: "
            "a first run of the gates before they gate a deployment (the target is in gates/pytest.ini)."
        )
    return "Gate a deployment on a load test" + (" (the target is in gates/pytest.ini). " if target_in_ini else ". ")


def _comment(text: str) -> str:
    return textwrap.fill(text, _WIDTH, initial_indent="# ", subsequent_indent="# ") + "\n"


# GitHub Actions -------------------------------------------------------------------------------

_GITHUB_NEEDS = {
    "aks_scoring_uri": f"Needs the repository secret {DEFAULT_KEY_ENV}, the endpoint's key.",
    "aks_service": "Needs the repository variables AZURE_SUBSCRIPTION_ID, AML_RESOURCE_GROUP and AML_WORKSPACE, "
    "and a service principal's secrets AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET.",
    "aml_endpoint": "Needs the repository variables AZURE_SUBSCRIPTION_ID, AML_RESOURCE_GROUP and AML_WORKSPACE, "
    "and the secrets AZURE_TENANT_ID and AZURE_CLIENT_ID of an identity with a federated credential for this "
    "repository (OpenID Connect: no stored password).",
}

_GITHUB_HEAD = """\
# Run it by hand (Actions > Load gate > Run workflow), or call it from the workflow that deploys,
# after the deployment job:
#   load-gate:
#     needs: deploy
#     uses: ./.github/workflows/load-gate.yml
#     secrets: inherit
name: Load gate
on:
  workflow_dispatch:
  workflow_call:

jobs:
  load-gate:
    runs-on: ubuntu-latest
"""

# SDK v2 signs in with OpenID Connect (no stored secret): DefaultAzureCredential then uses the
# az login session azure/login leaves behind.
_GITHUB_OIDC_PERMISSIONS = """\
    permissions:
      id-token: write   # for azure/login with OIDC
      contents: read
"""

_GITHUB_OIDC_LOGIN = """\
      - uses: azure/login@v2   # DefaultAzureCredential then uses this az login session
        with:
          client-id: ${{ secrets.AZURE_CLIENT_ID }}
          tenant-id: ${{ secrets.AZURE_TENANT_ID }}
          subscription-id: ${{ vars.AZURE_SUBSCRIPTION_ID }}
"""

_GITHUB_WORKSPACE = """\
      - name: Workspace config
        run: >
          echo '{"subscription_id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
          "resource_group": "${{ vars.AML_RESOURCE_GROUP }}",
          "workspace_name": "${{ vars.AML_WORKSPACE }}"}' > config.json
"""

_GITHUB_UPLOAD = f"""\
      - uses: actions/upload-artifact@v4
        if: always()   # the results are read when the gate failed
        with:
          name: load-gate
          path: |
            {JUNIT}
            {REPORT}
"""


def github_actions(target: GateTarget, gates_dir: str = "gates") -> str:
    """`.github/workflows/load-gate.yml` running the gates in `gates_dir` against `target`."""
    oidc = target.option == "aml_endpoint"  # SDK v2 signs in with OIDC instead of a stored secret
    gate = f"      - name: Load-test gate\n        run: {_gate_command(gates_dir)}\n"
    secrets = {} if oidc else _SECRET_ENV[target.option]
    if secrets:
        gate += "        env:   # repository secrets reach the gate through its environment only\n"
        gate += "".join(f"          {name}: ${{{{ secrets.{source} }}}}\n" for name, source in secrets.items())
    return "".join(
        [
            _comment(_purpose(target) + _GITHUB_NEEDS.get(target.option, "")),
            _GITHUB_HEAD,
            _GITHUB_OIDC_PERMISSIONS if oidc else "",
            "    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-python@v5\n        with:\n",
            f'          python-version: "{_python(target)}"{_PYTHON_NOTE.get(target.option, "")}\n',
            _GITHUB_OIDC_LOGIN if oidc else "",
            f'      - run: pip install "{target.package}"\n',
            _GITHUB_WORKSPACE if target.azure else "",
            gate,
            _GITHUB_UPLOAD,
        ]
    )
