"""A conftest.py to copy next to your load gates (rename it to conftest.py).

Session defaults go in your ini file, so every marker that omits a value gets them
(command line > environment variable AKSLOAD_<OPTION> > ini > built-in default):

    # pytest.ini / tox.ini: [pytest]     setup.cfg: [tool:pytest]
    [pytest]
    aks_service = lightgbm-criteo        # or aks_scoring_uri = https://.../score (key in $AKSLOAD_KEY)
    aks_users = 50
    aks_spawn_rate = 10
    aks_duration = 1m
    aks_request_timeout = 10s
    criteo_sample_path = data/dac_sample.txt

This file shows the two hooks a team usually wants on top: its own request body, and a cheap
smoke check that fails fast before any load test spends minutes.
"""

import pytest
import requests

from pytest_aksload.data.criteo import payload_from_row


@pytest.fixture
def criteo_payload(criteo_sample):
    """Override: send a row you know, e.g. one your model team checked by hand.

    The load test posts this body first (pre-flight) and cycles through `rows=` sample rows
    after it; override `aks_payloads` instead to replace every body the load sends.
    """
    return payload_from_row(criteo_sample.iloc[42])


@pytest.fixture(scope="session")
def smoke_check(aks_target, criteo_sample):
    """One scoring request per session, before the first gate spends minutes on load.

    Use it from gate modules with `pytestmark = pytest.mark.usefixtures("smoke_check")`;
    like every target fixture it skips when no target option was given.
    """
    response = requests.post(
        aks_target.scoring_uri,
        json=payload_from_row(criteo_sample.iloc[0]),
        headers=dict(aks_target.headers()),
        timeout=30,
    )
    assert response.status_code == 200, f"smoke check: {aks_target.name} answered HTTP {response.status_code}"
