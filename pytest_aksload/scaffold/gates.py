"""What `aksload init` writes into `gates/`: the target it gates, a first gate and the ini file.

The texts are Python strings next to the code that picks them rather than package data: each is
assembled per target (the gate's profile and objectives, the ini keys, the notes on keys and
sign-in), so a template file would be mostly placeholders; and strings need nothing in the wheel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from pytest_aksload.config.extras import SDK_EXTRAS
from pytest_aksload.config.options import DEFAULT_KEY_ENV, OPTIONS_BY_NAME

GATE_FILE = "test_load_gate.py"
INI_FILE = "pytest.ini"

# Azure's rule for AKS web service and online endpoint names (SDK v1 wants them lowercase too; the
# SDK says so when it meets one). The name goes into the ini file and the gate's docstring as is.
_AZURE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{2,31}")
AZURE_NAME_FORM = "letters, digits and '-', starting with a letter, 3 to 32 characters"

# Query parameters that carry a credential in URLs of HTTP-triggered functions and signed URLs.
_SECRET_QUERY = re.compile(r"key|code|sig|token|secret|password", re.I)


class ScaffoldError(ValueError):
    """A target value `aksload init` cannot write; the message is one line naming it."""


@dataclass(frozen=True)
class GateTarget:
    """The target the gates are written for: a target option's ini key and its value."""

    option: str  # "aks_local", "aks_scoring_uri", "aks_service" or "aml_endpoint"
    value: str | None = None  # the URL or name; None for aks_local

    @property
    def extra(self) -> str | None:
        """The extra that installs what this target needs, if any."""
        return SDK_EXTRAS[self.option][1] if self.option in SDK_EXTRAS else None

    @property
    def package(self) -> str:
        """The pip requirement that runs this target's gate."""
        return f"pytest-aksload[{self.extra}]" if self.extra else "pytest-aksload"

    @property
    def azure(self) -> bool:
        """Whether the target is resolved through an Azure ML workspace (and needs a sign-in)."""
        return self.option in ("aks_service", "aml_endpoint")


def checked_target(option: str, value: str | None) -> GateTarget:
    """The target as `aksload init` was given it, refused when it cannot go into a file."""
    if option == "aks_scoring_uri":
        assert value is not None
        _check_scoring_uri(value)
    elif option in ("aks_service", "aml_endpoint"):
        assert value is not None
        if not _AZURE_NAME.fullmatch(value):
            flag = "--aks-service" if option == "aks_service" else "--aml-endpoint"
            raise ScaffoldError(f"{flag} {value!r}: an Azure ML name is {AZURE_NAME_FORM}")
    return GateTarget(option, value)


def _check_scoring_uri(value: str) -> None:
    uri = OPTIONS_BY_NAME["aks_scoring_uri"]
    try:
        uri.parse(value)
    except ValueError:
        raise ScaffoldError(f"--scoring-uri {value!r}: expected {uri.accepted}") from None
    parts = urlsplit(value)
    # The URL is written into gates/pytest.ini, which is committed: a credential in it would be too.
    if parts.password is not None or any(_SECRET_QUERY.search(name) for name, _ in parse_qsl(parts.query)):
        raise ScaffoldError(
            "--scoring-uri: the URL carries a credential, which would be written into gates/pytest.ini; "
            f"give the URL without it and put the key in the environment variable {DEFAULT_KEY_ENV}"
        )


def gate(target: GateTarget) -> str:
    """The first gate, `gates/test_load_gate.py`."""
    if target.option == "aks_local":
        return _gate(_LOCAL_DOC, _LOCAL_LOAD)
    where = {
        "aks_scoring_uri": f"the scoring endpoint {target.value}",
        "aks_service": f"the Azure ML AKS web service {target.value} (SDK v1)",
        "aml_endpoint": f"the Azure ML online endpoint {target.value} (SDK v2)",
    }[target.option]
    return _gate(_DEPLOYED_DOC.replace("@WHERE@", where), _DEPLOYED_LOAD)


def _gate(doc: str, load: dict[str, str]) -> str:
    arguments = "".join(f"    {name}={value},\n" for name, value in load.items())
    return _GATE.replace("@DOC@", doc).replace("@ARGUMENTS@", arguments)


_GATE = '''\
"""@DOC@
    pytest gates
"""

import pytest


@pytest.mark.load_test(
@ARGUMENTS@)
def test_load_gate(load_result):
    # The marker's objectives are judged after this body; here, checks on the exact result.
    assert not load_result.errors, load_result.errors
'''

# Against the embedded service the gate checks every answer too: its expected predictions are the
# shipped model's. Short (10 s) yet decided on a busy machine: ~100 requests/s of 16 rows give far
# more than the ~4,000 checked predictions that show "mismatch_rate < 0.1%" with none wrong, and
# more than the ~380 requests that show "failure_rate < 1%"; a slower host extends the run
# (ini aks_inconclusive = extend) instead of failing it undecided.
_LOCAL_DOC = """A first load-test gate, against the embedded local scoring service (`--aks-local`).

The service is the real Azure ML inference server with a LightGBM Criteo model, on 127.0.0.1
(`pip install "pytest-aksload[local]"`). 20 users send batches of 16 rows for 10 s; the first 2 s
of ramp-up are cut as warm-up, so the objectives judge the steady state. `mismatch_rate` compares
every prediction made under load with the shipped model's own: a wrong answer fails the gate as
surely as a slow or failed request. An objective the run cannot decide yet (its confidence
interval straddles the threshold) keeps the load going, up to `max_duration`
(`aks_inconclusive = extend` in pytest.ini); still undecided then, the gate fails.
"""
_LOCAL_LOAD = {
    "users": "20",
    "spawn_rate": "20",
    "duration": '"10s"',
    "max_duration": '"40s"',
    "wait": "(0.05, 0.2)",
    "warmup": '"2s"',
    "batch": "16",
    "slo": '["failure_rate < 1%", "p95 < 500ms", "mismatch_rate < 0.1%"]',
}

# The seed notebook's think time (1-2 s) with a quarter of its 200 users: a first run should not
# surprise the service's owners. One minute at ~30 requests/s decides both objectives.
_DEPLOYED_DOC = """A first load-test gate, against @WHERE@.

The target is set in gates/pytest.ini. 50 users, started 10 per second, each waiting 1-2 s
between requests, load it for 1 minute; the first 10 s of ramp-up are cut as warm-up, so the
objectives judge the steady state. Set them to your service's objectives (the seed notebook's
AKS service, 200 users: p95 530 ms, 104 requests/s). An objective the run cannot decide yet (its
confidence interval straddles the threshold) keeps the load going, up to `max_duration`
(`aks_inconclusive = extend` in pytest.ini); still undecided then, the gate fails.

To check the answers too, give the predictions your model should make for the sample rows (a
conftest fixture `aks_expected_predictions`, or an `expected` column in `--aks-sample`) and add
the objective "mismatch_rate < 0.1%".
"""
_DEPLOYED_LOAD = {
    "users": "50",
    "spawn_rate": "10",
    "duration": '"1m"',
    "max_duration": '"3m"',
    "wait": "(1, 2)",
    "warmup": '"10s"',
    "slo": '["failure_rate < 1%", "p95 < 500ms"]',
}


def ini(target: GateTarget) -> str:
    """`gates/pytest.ini`: the target and how the gates decide."""
    return _INI_HEAD + _TARGET_SETTINGS[target.option].replace("@VALUE@", target.value or "")


# Why gates/ gets an ini file of its own, in the file itself (its reader is the one who asks).
_INI_HEAD = """\
# pytest-aksload gates. Run them from the folder above with `pytest gates` (or `pytest` from here).
#
# Why this file is here and not in the project's pytest.ini / pyproject.toml / setup.cfg: pytest
# looks for its ini file from the folder of the paths it is given upwards, so `pytest gates`
# finds this one first and makes gates/ the rootdir. The gates get these settings and none of the
# unit tests' (an addopts such as --cov or -n does not belong under load), and the project's own
# config is left alone. Run the gates on their own: `pytest gates tests` starts from the common
# folder and reads the project's ini file instead.
[pytest]
# An objective a run cannot decide yet keeps the load going, up to the marker's max_duration=.
aks_inconclusive = extend
# The target. A target option on the command line adds to this one, and two targets are an
# error: to gate another endpoint, change it here.
"""

# Keys are read from the environment or the Azure SDK when the gate runs: never written here.
_TARGET_SETTINGS = {
    "aks_local": """\
aks_local = true
""",
    "aks_scoring_uri": """\
aks_scoring_uri = @VALUE@
# The key is read from the environment variable AKSLOAD_KEY when the gates run (never write it here);
# to read another variable instead:
# aks_key_env = MY_ENDPOINT_KEY
""",
    "aks_service": """\
aks_service = @VALUE@
# The workspace: a config.json in the working directory or a folder above it, or
# aks_workspace_config = path/to/config.json
# Sign-in: the service principal in AZUREML_SERVICE_PRINCIPAL_TENANT_ID, AZUREML_SERVICE_PRINCIPAL_ID
# and AZUREML_SERVICE_PRINCIPAL_PASSWORD (environment variables, never written here), or `az login`.
""",
    "aml_endpoint": """\
aml_endpoint = @VALUE@
# Gate one deployment of the endpoint (at 0 % traffic, before traffic is switched to it):
# aml_deployment = green
# The workspace: a config.json in the working directory or a folder above it, or
# aks_workspace_config = path/to/config.json
# Sign-in: DefaultAzureCredential, e.g. AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET
# (environment variables, never written here), workload identity, or `az login`.
""",
}
