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


def test_the_pytest_process_does_not_import_the_child_api() -> None:
    """The pytest side talks to the child through protocol.py only: child.py (the locustfile API)
    is not imported by the plugin, the runner or the result parser."""
    code = (
        "import sys, pytest_aksload.plugin, pytest_aksload.run.runner, pytest_aksload.stats.result, "
        "pytest_aksload.reports.terminal; "
        "print(sorted(m for m in sys.modules if m == 'pytest_aksload.child' or m.startswith('pytest_aksload._locust')"
        " or m in ('locust', 'gevent')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_protocol_is_stdlib_only() -> None:
    code = (
        "import sys; before = set(sys.modules); import pytest_aksload.protocol, pytest_aksload.redact; "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] not in sys.stdlib_module_names "
        "and m.split('.')[0] != 'pytest_aksload'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
