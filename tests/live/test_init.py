"""The quick start as a user types it, in an empty folder: `aksload init --local`, then
`pytest gates --aks-local` against the real embedded service (real Locust child). About 20 s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_init_local_then_pytest_gates_passes(tmp_path: Path) -> None:
    # The environment of a fresh shell: no target or CI variables a developer's shell may carry.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AKSLOAD_", "AKS_", "AML_")) and name not in ("TF_BUILD", "GITHUB_STEP_SUMMARY")
    }
    # A project config that would break the run if pytest used it instead of gates/pytest.ini.
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\n")

    init = subprocess.run(
        [sys.executable, "-m", "pytest_aksload", "init", "--local"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    assert init.stdout.splitlines()[-1] == "Next: pytest gates"

    gate = subprocess.run(
        [sys.executable, "-m", "pytest", "gates", "--aks-local"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    out = gate.stdout + gate.stderr
    assert gate.returncode == 0, out[-4000:]
    assert f"rootdir: {tmp_path / 'gates'}" in out and "configfile: pytest.ini" in out
    assert "1 passed" in out
    (row,) = [line for line in out.splitlines() if line.startswith("test_load_gate.py::test_load_gate ")]
    assert row.split()[-1] == "PASS", out[-4000:]
