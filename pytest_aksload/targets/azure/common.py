"""What the Azure ML SDK v1 and v2 resolvers share: importing an optional SDK, locating the workspace
config file, and turning SDK errors into one line a user can act on and nobody can mine for secrets.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from pytest_aksload.redact import SECRETS
from pytest_aksload.targets.target import TargetError

CONFIG_HINT = (
    "download config.json from Azure ML studio (workspace menu > Download config file) and pass "
    "--aks-workspace-config PATH, or put it in the working directory, its .azureml/ folder or a parent directory"
)

# azureml-core pastes whole response headers into its errors; they are noise in a one-line message.
_RESPONSE_HEADERS = re.compile(r"Headers:\s*\{.*?\}\s*(?=Content:|$)", re.DOTALL)


def import_sdk(module: str, *, extra: str, option: str) -> ModuleType:
    """Import an optional SDK, or explain which extra installs it.

    The plugin imports the resolver modules unconditionally, so the SDKs are imported here, on
    first use, and only by a user who asked for that target.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = exc.name or ""
        install = f'pip install "pytest-aksload[{extra}]"'
        if missing and (module == missing or module.startswith(missing + ".")):
            raise TargetError(f"{option} needs the Azure ML SDK ({module}), not installed: {install}") from None
        # Installed but broken (typically a dependency pinned by another package): say so rather
        # than claim it is missing.
        detail = one_line(str(exc))
        raise TargetError(f"{option}: {module} is installed but fails to import ({detail}); {install}") from None


def workspace_config(path: str | None) -> str | None:
    """The `--aks-workspace-config` value, checked: both SDKs silently treat a missing file as a
    directory to search from and then blame a config.json the user never mentioned."""
    if path is None:
        return None
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise TargetError(f"--aks-workspace-config {path}: no such file or directory; {CONFIG_HINT}")
    return str(resolved)


def sdk_message(exc: BaseException) -> str:
    """The informative part of an SDK exception: azureml-core's `message` and azure-core's `message`
    leave out the multi-line envelopes (`InnerException`, `ErrorResponse`) their `str()` adds."""
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) and message.strip() else str(exc)
    return text or type(exc).__name__


def one_line(text: str, *secrets: str | None, limit: int = 300) -> str:
    """`text` fit for a one-line error: `secrets` (remembered for the rest of the session), every
    other secret the session held and anything token-shaped redacted (`pytest_aksload.redact`),
    response headers dropped, whitespace folded, length bounded."""
    for secret in secrets:
        SECRETS.remember(secret)
    text = SECRETS(_RESPONSE_HEADERS.sub("", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def name_list(names: Iterable[str], limit: int = 20) -> str:
    """`a, b, c` (sorted, bounded) for "these exist instead" hints."""
    unique = sorted(set(names))
    if not unique:
        return "none"
    shown = ", ".join(unique[:limit])
    return shown if len(unique) <= limit else f"{shown}, ... ({len(unique) - limit} more)"


def sdk_number(value: object) -> float | None:
    """A deployment setting the SDK read as a number; anything else (missing, malformed) is unknown."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value
