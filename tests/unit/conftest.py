"""The unit tests' Hypothesis profiles. Here, not in tests/conftest.py: the property tests are all
unit tests, and the model-server environments of .ci/run (which run only their live tests) install
no Hypothesis."""

import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis profiles (docs/development.md, "Randomised tests"). A landing must not depend on the
# examples a run happens to draw or on how busy the host is: in CI every property test draws the
# same examples each run (derandomize, no example database) and no timing check applies (the
# deadline and the too_slow health check measure the host, not the code). Local runs draw fresh
# examples to keep finding bugs, with a deadline a busy 2-core host does not trip.
settings.register_profile(
    "ci",
    parent=settings.get_profile("default"),
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", parent=settings.get_profile("default"), deadline=timedelta(seconds=2))


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_configure(config: pytest.Config) -> None:
    # --hypothesis-profile NAME wins (Hypothesis's plugin loads it).
    if not config.getoption("--hypothesis-profile", None):
        settings.load_profile("ci" if _in_ci() else "dev")
