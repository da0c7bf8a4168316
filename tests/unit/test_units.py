"""Durations and exact numbers: what users may type, and the one-line errors for everything else."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aksload.config.units import UnitError, exact_float, format_duration, parse_duration, plain_number

HINT = "use seconds (90) or a duration like 90s, 1m, 1h30m"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        (2.5, 2.5),
        ("90", 90.0),
        ("2.5", 2.5),
        (".5", 0.5),
        ("90s", 90.0),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1h 30m 10s", 5410.0),
        ("500ms", 0.5),
        ("1m30ms", 60.03),
        ("1.5h", 5400.0),
        ("  1H30M\t", 5400.0),
        ("90 s", 90.0),
        ("2S", 2.0),
        ("+5", 5.0),
        ("1h30m0.1s", 5400.1),
    ],
)
def test_parse_duration_accepts(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", f"duration: cannot read 'abc'; {HINT}"),
        ("", f"duration: cannot read ''; {HINT}"),
        ("   ", f"duration: cannot read '   '; {HINT}"),
        ("1m1h", f"duration: cannot read '1m1h'; {HINT}"),
        ("1m 1m", f"duration: cannot read '1m 1m'; {HINT}"),
        ("1h30", f"duration: cannot read '1h30'; {HINT}"),
        ("5 parsecs", f"duration: cannot read '5 parsecs'; {HINT}"),
        ("1d", f"duration: cannot read '1d'; {HINT}"),
        ("1e3", f"duration: cannot read '1e3'; {HINT}"),
        ("1_000", f"duration: cannot read '1_000'; {HINT}"),
        ("nan", f"duration: cannot read 'nan'; {HINT}"),
        ("inf", f"duration: cannot read 'inf'; {HINT}"),
        ("٣s", f"duration: cannot read '٣s'; {HINT}"),  # non-ASCII digit
        ("1ſ", f"duration: cannot read '1ſ'; {HINT}"),  # long s must not match "s"
        (True, f"duration: cannot read True; {HINT}"),
        (None, f"duration: cannot read None; {HINT}"),
        ([90], f"duration: cannot read [90]; {HINT}"),
        (-5, f"duration: -5 is negative; {HINT}"),
        ("-5", f"duration: '-5' is negative; {HINT}"),
        ("-1m", f"duration: '-1m' is negative; {HINT}"),
        (math.nan, f"duration: nan is not a finite number of seconds; {HINT}"),
        (math.inf, f"duration: inf is not a finite number of seconds; {HINT}"),
        (0, "duration: must be longer than 0 seconds, got 0"),
        ("0s", "duration: must be longer than 0 seconds, got '0s'"),
    ],
)
def test_parse_duration_rejects_with_one_line(value: object, message: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_duration(value)
    assert str(info.value) == message


def test_parse_duration_names_the_setting() -> None:
    with pytest.raises(UnitError, match=r"^--aks-duration: cannot read 'soon'"):
        parse_duration("soon", what="--aks-duration")


def test_unit_error_is_a_value_error() -> None:
    assert issubclass(UnitError, ValueError)


@pytest.mark.parametrize("value", [0, 0.0, "0", "0s", "0ms", "-0"])
def test_allow_zero(value: object) -> None:
    seconds = parse_duration(value, allow_zero=True)
    assert seconds == 0 and math.copysign(1, seconds) == 1


@pytest.mark.parametrize("value", ["9" * 400, "9" * 400 + "h", 10**400, "1" * 5000 + "s"])
def test_huge_values_are_a_unit_error(value: object) -> None:
    with pytest.raises(UnitError, match="is too large"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "0.5s"),
        (0.001, "0.001s"),
        (1, "1s"),
        (59.999, "59.999s"),
        (60, "1m"),
        (90, "1m30s"),
        (90.25, "1m30.25s"),
        (3600, "1h"),
        (3660, "1h1m"),
        (5400, "1h30m"),
        (3601.5, "1h1.5s"),
        (90000, "25h"),
        (0.0004, "0s"),  # rounded to the millisecond
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [-1, math.nan, math.inf, True, "90"])
def test_format_duration_rejects(seconds: object) -> None:
    with pytest.raises(UnitError):
        format_duration(seconds)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**12))
def test_format_then_parse_round_trips_whole_milliseconds(millis: int) -> None:
    seconds = millis / 1000
    assert parse_duration(format_duration(seconds), allow_zero=True) == seconds


@given(
    st.integers(0, 200),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999),
    st.sampled_from(["", " ", "  "]),
)
def test_unit_strings_sum(hours: int, minutes: int, secs: int, millis: int, gap: str) -> None:
    parts = [f"{n}{unit}" for n, unit in [(hours, "h"), (minutes, "m"), (secs, "s"), (millis, "ms")] if n]
    if not parts:
        return
    expected = (hours * 3_600_000 + minutes * 60_000 + secs * 1000 + millis) / 1000
    assert parse_duration(gap.join(parts)) == expected


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789.+-hmsMHS \t"),
        st.integers(),
        st.floats(),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_anything_parses_or_raises_unit_error(value: object) -> None:
    try:
        seconds = parse_duration(value)
    except UnitError as exc:
        assert len(str(exc).splitlines()) == 1
    else:
        assert math.isfinite(seconds) and seconds > 0


@given(st.floats(min_value=0, allow_nan=False, allow_infinity=False), st.integers(-5, 5))
def test_plain_number_reads_back_exactly(value: float, shift: int) -> None:
    text = plain_number(value, shift)
    assert "e" not in text.lower() and "-" not in text
    assert exact_float(text, Fraction(10) ** -shift) == value


@pytest.mark.parametrize(
    ("value", "shift", "text"),
    [(300.0, 0, "300"), (1500.0, -3, "1.5"), (0.01, 2, "1"), (0.07, 2, "7"), (1e-05, 0, "0.00001"), (-0.0, 0, "0")],
)
def test_plain_number(value: float, shift: int, text: str) -> None:
    assert plain_number(value, shift) == text
