"""The built wheel carries everything the plugin needs at run time (sample, model, score.py, child package)."""

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # tests/live/ -> the checkout

SMOKE_TEST = """
import pytest, pytest_aksload, requests

def test_local_service_from_the_wheel(aks_scoring_uri, aks_auth_headers, criteo_payload):
    assert "site-packages" in pytest_aksload.__file__, pytest_aksload.__file__
    answer = requests.post(aks_scoring_uri, json=criteo_payload, headers=dict(aks_auth_headers), timeout=30)
    assert answer.status_code == 200, answer.text
    assert 0.0 <= answer.json()["result"] <= 1.0

@pytest.mark.load_test(users=2, spawn_rate=2, duration="2s", slo="failure_rate < 1%")
def test_load_from_the_wheel(load_result):
    assert load_result.requests > 0
"""


def test_wheel_installed_outside_the_checkout_runs_a_local_gate(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        check=True,
    )
    wheel = next(wheels.glob("pytest_aksload-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # Reuse this environment's dependencies without its (editable) copy of the plugin:
    # a path line in a .pth adds the directory but not the .pth files inside it.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], check=True
    )
    work = tmp_path / "outside"
    work.mkdir()
    (work / "test_smoke.py").write_text(SMOKE_TEST)
    run = subprocess.run(
        # 2 s cannot prove "< 1%" (an INCONCLUSIVE verdict): this test is about the wheel, not statistics.
        [python, "-m", "pytest", "-p", "no:cacheprovider", "--aks-local", "-q"]
        + ["--aks-inconclusive=pass", "test_smoke.py"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout
