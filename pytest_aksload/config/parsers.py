"""How an option's text reads: one parser per kind of value, each raising ValueError (or
UnitError) on a bad one; `settings.resolve` turns that into a one-line usage error."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pytest_aksload.config.tolerances import Tolerance, parse_tolerances
from pytest_aksload.config.units import parse_duration
from pytest_aksload.contracts import resolve_spec


def text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("empty")
    return value


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


def positive_int(value: str) -> int:
    number = int(str(value).strip())
    if number < 1:
        raise ValueError(value)
    return number


def positive_float(value: str) -> float:
    number = float(str(value).strip())
    if not number > 0 or number == float("inf"):
        raise ValueError(value)
    return number


INCONCLUSIVE_POLICIES = ("fail", "pass", "extend")


def inconclusive(value: str) -> str:
    value = value.strip().lower()
    if value not in INCONCLUSIVE_POLICIES:
        raise ValueError(value)
    return value


def duration(value: str) -> float:
    return parse_duration(value)


def count(value: str) -> int:
    number = int(str(value).strip())
    if number < 0:
        raise ValueError(value)
    return number


def host_port(value: str) -> tuple[str, int]:
    host, _, port = value.strip().rpartition(":")
    number = int(port)
    if not host or not 0 < number < 65536:
        raise ValueError(value)
    return host.strip("[]"), number


def scoring_uri(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(value)
    return value


def user_path(value: str) -> Path:
    """`~` expanded; an unknown `~user` is a bad value (pathlib raises RuntimeError for it)."""
    try:
        return Path(value.strip()).expanduser()
    except RuntimeError:
        raise ValueError(value) from None


def existing_file(value: str) -> str:
    path = user_path(value)
    if not path.is_file():
        raise ValueError(value)
    return str(path)


def contract_spec(value: str) -> str:
    # A file path is read against the directory pytest was started in; the child gets it absolute.
    return resolve_spec(text(value), Path.cwd())


def sample_file(value: str) -> str:
    path = user_path(value)
    if not path.is_file():
        raise ValueError(value)
    return str(path.resolve())


def tolerances(value: str) -> tuple[Tolerance, ...]:
    return tuple(parse_tolerances(value).values())


def env_name(value: str) -> str:
    value = value.strip()
    if not value.replace("_", "").isalnum() or value[0].isdigit():
        raise ValueError(value)
    return value
