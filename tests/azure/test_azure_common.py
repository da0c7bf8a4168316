"""The helpers both Azure resolvers share: secret scrubbing, config checks, name lists."""

from __future__ import annotations

import pytest

from pytest_aksload.targets.azure import common as _azure
from pytest_aksload.targets.target import TargetError

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tLyJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        (f"token was {JWT}, rejected", JWT),
        ('Content: b\'{"primaryKey": "k-123abc", "secondaryKey": "k-456def"}\'', "k-123abc"),
        ('{"accessToken": "opaque-aks-token-1", "tokenType": "Bearer"}', "opaque-aks-token-1"),
        ("client_id=app&client_secret=s3cr3t-value&scope=x", "s3cr3t-value"),
        ("https://st.blob.core.windows.net/c/f?sv=2021&sig=AbC%2Bdef", "AbC%2Bdef"),
    ],
)
def test_one_line_redacts_token_shaped_values(text, secret):
    cleaned = _azure.one_line(text)
    assert secret not in cleaned
    assert "***" in cleaned


def test_one_line_redacts_known_secrets_folds_whitespace_and_drops_response_headers():
    text = (
        "Received bad response from Model Management Service:\nResponse Code: 403\n"
        "Headers: {'x-ms-request-id': 'abc', 'Set-Cookie': 'x=y'}\nContent: b'denied for hunter2'"
    )
    cleaned = _azure.one_line(text, "hunter2", None)
    assert cleaned == (
        "Received bad response from Model Management Service: Response Code: 403 Content: b'denied for ***'"
    )


def test_one_line_bounds_the_length():
    assert len(_azure.one_line("x" * 5000, limit=100)) == 100


def test_workspace_config_must_exist(tmp_path):
    existing = tmp_path / "config.json"
    existing.write_text("{}")
    assert _azure.workspace_config(str(existing)) == str(existing)
    assert _azure.workspace_config(None) is None
    with pytest.raises(TargetError, match=r"no such file or directory; download config\.json"):
        _azure.workspace_config(str(tmp_path / "missing.json"))


def test_name_list_is_sorted_unique_and_bounded():
    assert _azure.name_list([]) == "none"
    assert _azure.name_list(["b", "a", "b"]) == "a, b"
    assert _azure.name_list([f"s{i:02d}" for i in range(25)], limit=3) == "s00, s01, s02, ... (22 more)"


def test_import_sdk_tells_missing_from_broken(monkeypatch, tmp_path):
    with pytest.raises(TargetError, match=r'not installed: pip install "pytest-aksload\[x\]"'):
        _azure.import_sdk("surely_not_installed_pkg.sub", extra="x", option="--opt")

    # Installed, but one of its own dependencies is missing: not "install the extra" but "broken".
    (tmp_path / "broken_sdk.py").write_text("import surely_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TargetError, match=r"broken_sdk is installed but fails to import .*surely_missing_dependency"):
        _azure.import_sdk("broken_sdk", extra="x", option="--opt")
