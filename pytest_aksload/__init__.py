"""pytest-aksload: gate a model deployment on load-test SLOs measured with Locust.

The public API for tests and conftests: import these names from ``pytest_aksload`` (where they
live inside the package may change). A custom locustfile imports from ``pytest_aksload.child``, a
contract of your own from ``pytest_aksload.contracts``, the Criteo demo helpers come from
``pytest_aksload.data.criteo``; each lists its public names in ``__all__`` (docs/reference.md,
"Public API"). The package root must stay import-light: pytest loads the plugin in every session
of an environment where it is installed, and the Locust child imports parts of the package, so
each name is imported on first use (PEP 562), not when the package is.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "LoadResult": "pytest_aksload.stats.result",
    "GatedResult": "pytest_aksload.verdicts.gated",  # what the load_result fixture gives a test
    "ErrorGroup": "pytest_aksload.stats.result",
    "Target": "pytest_aksload.targets.target",
    "AuthHeaders": "pytest_aksload.targets.target",
    "Deployment": "pytest_aksload.targets.deployment",  # aks_target.deployment
    "Slo": "pytest_aksload.config.objectives",
    "SloError": "pytest_aksload.config.objectives",
    "parse_slo": "pytest_aksload.config.objectives",
    "parse_slos": "pytest_aksload.config.objectives",
    "SloVerdict": "pytest_aksload.verdicts.slo",
    "SloViolation": "pytest_aksload.verdicts.slo",
    "PASS": "pytest_aksload.verdicts.slo",
    "FAIL": "pytest_aksload.verdicts.slo",
    "INCONCLUSIVE": "pytest_aksload.verdicts.slo",
    "evaluate": "pytest_aksload.verdicts.slo",
    "assert_slos": "pytest_aksload.verdicts.slo",
}

# Names the root exported before; each still works for this release, with a warning naming its home.
_MOVED = {
    "load_sample": "pytest_aksload.data.criteo",
    "payload_from_row": "pytest_aksload.data.criteo",
}

__all__ = [  # the keys of _EXPORTS and the version (tests/unit/test_public_api.py checks they agree)
    "FAIL",
    "INCONCLUSIVE",
    "PASS",
    "AuthHeaders",
    "Deployment",
    "ErrorGroup",
    "GatedResult",
    "LoadResult",
    "Slo",
    "SloError",
    "SloVerdict",
    "SloViolation",
    "Target",
    "__version__",
    "assert_slos",
    "evaluate",
    "parse_slo",
    "parse_slos",
]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports on first use
    from pytest_aksload.config.objectives import Slo, SloError, parse_slo, parse_slos
    from pytest_aksload.stats.result import ErrorGroup, LoadResult
    from pytest_aksload.targets.deployment import Deployment
    from pytest_aksload.targets.target import AuthHeaders, Target
    from pytest_aksload.verdicts.gated import GatedResult
    from pytest_aksload.verdicts.slo import (
        FAIL,
        INCONCLUSIVE,
        PASS,
        SloVerdict,
        SloViolation,
        assert_slos,
        evaluate,
    )


def __getattr__(name: str) -> Any:
    if name in _MOVED:  # not cached: each place that still imports it from here is warned
        home = _MOVED[name]
        warnings.warn(
            f"pytest_aksload.{name} is deprecated: use `from {home} import {name}`", DeprecationWarning, stacklevel=2
        )
        return getattr(importlib.import_module(home), name)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_aksload' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
