"""The embedded local scoring service behind ``--aks-local`` and ``aksload-local serve``.

Import-light on purpose: the server's own dependencies (azmlinfsrv, LightGBM) load only in the
server process.
"""

from pytest_aksload.local.service import LocalService, LocalServiceError

__all__ = ["LocalService", "LocalServiceError"]
