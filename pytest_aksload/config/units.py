"""Durations as people write them ("90s", "1m", "1h30m") and exact decimal numbers.

Durations are read once, when settings and markers are validated, so a typo fails the run
before any load is sent. Numbers go through ``Fraction`` rather than ``float()`` so that
text -> float -> text is lossless: a threshold printed in a report parses back to exactly
the value that was checked, and ``float()``'s extras ("1e3", "1_000", "nan", non-ASCII
digits) never sneak into the accepted syntax.

Plain stdlib only: both the pytest process and the Locust child import this module.
"""

from __future__ import annotations

import math
import numbers
import re
from decimal import Decimal
from fractions import Fraction

__all__ = [
    "NUMBER",
    "UnitError",
    "exact_float",
    "exact_fraction",
    "format_duration",
    "parse_duration",
    "plain_number",
]

# Digits with an optional fraction. No sign, exponent or "_": what a user may write is
# exactly what plain_number() prints back.
NUMBER = r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"

_DURATION_HINT = "use seconds (90) or a duration like 90s, 1m, 1h30m"

# Units largest first and each at most once, so "1m1h" or "1m 1m" is an error rather than a
# silent sum. "m(?!s)" keeps "500ms" from being read as minutes. re.ASCII stops
# IGNORECASE from matching look-alikes such as the long s ("ſ") as "s".
_DURATION_RE = re.compile(
    rf"(?:(?P<h>{NUMBER})\s*h)?\s*"
    rf"(?:(?P<m>{NUMBER})\s*m(?!s))?\s*"
    rf"(?:(?P<s>{NUMBER})\s*s)?\s*"
    rf"(?:(?P<ms>{NUMBER})\s*ms)?",
    re.IGNORECASE | re.ASCII,
)
_SECONDS_PER_UNIT = {"h": 3600, "m": 60, "s": 1, "ms": Fraction(1, 1000)}
_SIGNED_RE = re.compile(r"(?P<sign>[+-]?)(?P<body>.*)", re.DOTALL)


class UnitError(ValueError):
    """A value with a unit (a duration, a number) could not be read; the message is one line."""


def exact_float(text: str, scale: int | Fraction = 1) -> float:
    """``text`` (matching ``NUMBER``) times ``scale``, rounded once to the nearest float.

    Raises ``OverflowError`` when the result does not fit a float or the text has more
    digits than Python will convert; callers turn that into their own one-line error.
    """
    return float(exact_fraction(text) * scale)


def exact_fraction(text: str) -> Fraction:
    """``text`` (matching ``NUMBER``) as an exact fraction; ``OverflowError`` if it has too many digits."""
    try:
        return Fraction(text)
    except ValueError as exc:  # beyond sys.get_int_max_str_digits()
        raise OverflowError(f"{text!r} has too many digits") from exc


def plain_number(value: float, shift: int = 0) -> str:
    """The shortest decimal text of ``value * 10**shift`` that reads back exactly, no exponent.

    ``repr`` gives the shortest round-tripping digits; shifting them in ``Decimal`` is
    exact, so ``exact_float(plain_number(x, k), 10**-k) == x`` for every finite float.
    """
    text = format(Decimal(repr(float(value))).scaleb(shift), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def parse_duration(value: object, *, what: str = "duration", allow_zero: bool = False) -> float:
    """Seconds from ``90``, ``2.5``, ``"90"``, ``"90s"``, ``"1m"``, ``"1h30m"``, ``"1h 30m 10s"``, ``"500ms"``.

    ``what`` names the setting in the error message (e.g. ``"--aks-duration"``).
    Zero is rejected unless ``allow_zero`` (a warm-up may be 0, a run may not).
    """
    # bool is an int subclass; True seconds is always a mistake.
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Real)):
        raise UnitError(f"{what}: cannot read {value!r}; {_DURATION_HINT}")
    try:
        seconds = _duration_text_seconds(value, what) if isinstance(value, str) else float(value)
    except OverflowError:
        raise UnitError(f"{what}: {value!r} is too large; {_DURATION_HINT}") from None
    if not math.isfinite(seconds):
        raise UnitError(f"{what}: {value!r} is not a finite number of seconds; {_DURATION_HINT}")
    if seconds < 0:
        raise UnitError(f"{what}: {value!r} is negative; {_DURATION_HINT}")
    if seconds == 0 and not allow_zero:
        raise UnitError(f"{what}: must be longer than 0 seconds, got {value!r}")
    return seconds if seconds else 0.0  # never hand out -0.0


def _duration_text_seconds(text: str, what: str) -> float:
    signed = _SIGNED_RE.fullmatch(text.strip())
    assert signed is not None  # the pattern matches any string
    body, sign = signed["body"], -1 if signed["sign"] == "-" else 1
    if re.fullmatch(NUMBER, body):
        return exact_float(body, sign)
    parts = _DURATION_RE.fullmatch(body) if body else None
    if parts is None or not any(parts.groupdict().values()):
        raise UnitError(f"{what}: cannot read {text!r}; {_DURATION_HINT}")
    # Sum exactly, round once: "1h30m0.1s" must give the same float as 5400.1.
    total = sum(
        (exact_fraction(number) * _SECONDS_PER_UNIT[unit] for unit, number in parts.groupdict().items() if number),
        Fraction(0),
    )
    return float(total) * sign


def format_duration(seconds: float) -> str:
    """Canonical short form: ``5400 -> "1h30m"``, ``90 -> "1m30s"``, ``0.5 -> "0.5s"``, ``0 -> "0s"``.

    Rounded to the millisecond; for whole-millisecond values
    ``parse_duration(format_duration(x), allow_zero=True) == x``.
    """
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, numbers.Real)
        or not (math.isfinite(seconds) and seconds >= 0)
    ):
        raise UnitError(f"cannot format {seconds!r} as a duration; it must be a finite number of seconds, 0 or more")
    # Fraction(float) is exact, so this is the nearest whole millisecond with no double rounding.
    millis = round(Fraction(seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    parts = [f"{hours}h"] if hours else []
    if minutes:
        parts.append(f"{minutes}m")
    if rest or not parts:
        whole, frac = divmod(rest, 1000)
        parts.append(f"{whole}.{frac:03d}".rstrip("0").rstrip(".") + "s")
    return "".join(parts)
