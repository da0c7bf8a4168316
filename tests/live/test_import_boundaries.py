"""Modules the Locust child (or a light caller) imports stay free of heavy or pytest imports:
checked in a fresh interpreter, where nothing else has imported them yet."""

from __future__ import annotations

import subprocess
import sys


def test_criteo_module_stays_free_of_pytest_and_locust() -> None:
    # The Locust child imports this module; it must not drag pytest (or locust) along.
    code = "import sys, pytest_aksload.data.criteo; print(sorted({'pytest', 'locust', 'gevent'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_slo_and_units_modules_stay_stdlib_only() -> None:
    code = (
        "import sys, pytest_aksload.verdicts.slo, pytest_aksload.config.units; "
        "bad = {'pytest', 'locust', 'gevent', 'pandas'} & set(sys.modules); "
        "sys.exit(sorted(bad) or 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
