"""Optional dependencies: which extra installs the SDK a target option needs, and whether it is there.

Settings check this when they are read, so a missing SDK is a usage error naming the extra to
install, before any test runs; nothing here imports an SDK.
"""

from __future__ import annotations

import importlib.util

__all__ = ["SDK_EXTRAS", "installed"]

# Target option -> (module its resolver imports, extra that installs it).
SDK_EXTRAS = {
    "aks_service": ("azureml.core", "azureml"),
    "aml_endpoint": ("azure.ai.ml", "azureml-v2"),
    "aks_local": ("azureml_inference_server_http", "local"),
}


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (find_spec raises ImportError when a
    parent is absent, ValueError when a loaded module has no spec)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
