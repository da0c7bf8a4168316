"""Relative, per-endpoint and agreement objectives: the grammar, its one-line errors, round trips,
and the collection-time checks that need another side (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aksload.config.objectives import Slo, SloError, parse_slo, parse_slos
from pytest_aksload.config.profile import ProfileError, profile_from_marker, require_other_side
from pytest_aksload.config.settings import Settings

RATIO_HINT = "a ratio to the other side (x) is for p<q>, mean, rps and rows_per_s, e.g. 'p95 <= 1.10x'"
PP_HINT = (
    "a difference from the other side in percentage points (pp) is for failure_rate and mismatch_rate, "
    "e.g. 'failure_rate <= +0.5pp'"
)
SCOPED_HINT = "per-endpoint objectives are for p<q>, mean, max, failure_rate, rps and requests"


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold", "relative", "endpoint", "canonical"),
    [
        ("p95 <= 1.10x", "p95", "<=", 1.10, "x", None, "p95 <= 1.10x"),
        ("P99.9<1.5X", "p99.9", "<", 1.5, "x", None, "p99.9 < 1.50x"),
        ("mean <= 1.05x", "mean", "<=", 1.05, "x", None, "mean <= 1.05x"),
        ("rps >= 0.95x", "rps", ">=", 0.95, "x", None, "rps >= 0.95x"),
        ("rows_per_s >= 0.9x", "rows_per_s", ">=", 0.9, "x", None, "rows_per_s >= 0.90x"),
        ("p95 <= 1.125x", "p95", "<=", 1.125, "x", None, "p95 <= 1.125x"),  # more places when they matter
        ("failure_rate <= +0.5pp", "failure_rate", "<=", 0.005, "pp", None, "failure_rate <= +0.5pp"),
        ("failure_rate <= 0.5pp", "failure_rate", "<=", 0.005, "pp", None, "failure_rate <= +0.5pp"),
        ("mismatch_rate <= +0.1pp", "mismatch_rate", "<=", 0.001, "pp", None, "mismatch_rate <= +0.1pp"),
        ("failure_rate < -1PP", "failure_rate", "<", -0.01, "pp", None, "failure_rate < -1pp"),  # better by 1pp
        ("agreement >= 99.9%", "agreement", ">=", 0.999, None, None, "agreement >= 99.9%"),
        ("agreement >= 0.999", "agreement", ">=", 0.999, None, None, "agreement >= 99.9%"),
        ("p95[POST score] < 300ms", "p95", "<", 300.0, None, "POST score", "p95[POST score] < 300ms"),
        ("p95[ POST score ]<=1.2x", "p95", "<=", 1.2, "x", "POST score", "p95[POST score] <= 1.20x"),
        ("failure_rate[GET /health] < 1%", "failure_rate", "<", 0.01, None, "GET /health", None),
        ("failure_rate[GET /h] <= +1pp", "failure_rate", "<=", 0.01, "pp", "GET /h", "failure_rate[GET /h] <= +1pp"),
        ("rps[POST score] >= 50", "rps", ">=", 50.0, None, "POST score", "rps[POST score] >= 50"),
        ("requests[POST score] >= 100", "requests", ">=", 100.0, None, "POST score", None),
        ("max[POST score] < 2s", "max", "<", 2000.0, None, "POST score", None),
    ],
)
def test_relative_scoped_and_agreement_forms(
    text: str, metric: str, op: str, threshold: float, relative: str | None, endpoint: str | None, canonical: str | None
) -> None:
    slo = parse_slo(text)
    assert (slo.metric, slo.op, slo.relative, slo.endpoint) == (metric, op, relative, endpoint)
    assert slo.threshold == pytest.approx(threshold, abs=1e-15)
    assert slo.compares is (relative is not None or metric == "agreement")
    if canonical is not None:
        assert str(slo) == canonical
    assert parse_slo(str(slo)) == slo


def test_scope_and_relative_form_are_part_of_the_objective() -> None:
    assert parse_slo("p95 <= 1.1x") != parse_slo("p95[POST score] <= 1.1x")
    assert parse_slo("failure_rate <= 1%") != parse_slo("failure_rate <= +1pp")
    assert parse_slo("p95 <= 1.1x").objective == "<= 1.10x"
    assert parse_slo("rps >= 0.95x").objective == ">= 0.95x"  # a ratio, not a rate: no /s
    assert parse_slo("failure_rate <= +0.5pp").objective == "<= +0.5pp"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("failure_rate <= 1.1x", f"failure_rate has no ratio form; {RATIO_HINT}"),
        ("max <= 1.1x", f"max has no ratio form; {RATIO_HINT}"),
        ("auc >= 0.9x", f"auc has no ratio form; {RATIO_HINT}"),
        ("agreement >= 1x", f"agreement has no ratio form; {RATIO_HINT}"),
        ("p95 <= +10pp", f"p95 has no pp form; {PP_HINT}"),
        ("rps >= -5pp", f"rps has no pp form; {PP_HINT}"),
        (
            "p95 < +300ms",
            "a sign (+/-) is only for a difference in pp, e.g. 'failure_rate <= +0.5pp'; "
            "latency metrics take ms or s (e.g. 'p95 < 300ms')",
        ),
        ("p95 <= +1.1x", f"a ratio takes no sign (a sign is only for pp); {RATIO_HINT}"),
        ("p95 <= 0x", f"a ratio must be above 0; {RATIO_HINT}"),
        ("failure_rate <= +101pp", f"a difference of rates cannot exceed 100pp; {PP_HINT}"),
        ("p95 <= 1.1x over 10s windows", "relative objectives are judged on the whole run; drop 'over ...'"),
        ("agreement >= 99% over 10s windows", "agreement is judged on the whole run; drop 'over ...'"),
        (
            "p95[POST a] < 1s over 10s windows",
            "per-endpoint objectives are judged on the whole run; drop 'over ...'",
        ),
        ("p95[] < 300ms", "empty endpoint in '[]': name one as in result.endpoints, e.g. 'p95[POST score] < 300ms'"),
        ("p95[  ] < 300ms", "empty endpoint in '[]': name one as in result.endpoints, e.g. 'p95[POST score] < 300ms'"),
        ("p95[POST score < 300ms", "unterminated '[': write the endpoint like 'p95[POST score] < 300ms'"),
        ("mismatch_rate[POST a] < 1%", f"mismatch_rate has no per-endpoint form; {SCOPED_HINT}"),
        ("agreement[POST a] >= 99%", f"agreement has no per-endpoint form; {SCOPED_HINT}"),
        ("agreement >= 101%", "agreement cannot exceed 100%"),
        ("agreement >= 2", "a bare agreement is a fraction 0..1; for a percentage write 2%"),
        (
            "agreement >= 99ms",
            "unknown unit 'ms'; agreement takes % or a bare fraction 0..1 (e.g. 'agreement >= 99.9%')",
        ),
    ],
)
def test_bad_forms_get_one_line_naming_the_accepted_form(text: str, message: str) -> None:
    with pytest.raises(SloError) as info:
        parse_slo(text)
    assert str(info.value) == f"slo {text!r}: {message}"
    assert "\n" not in str(info.value)


def test_dict_form_takes_scoped_keys_and_the_usual_direction() -> None:
    slos = parse_slos({"p95[POST score]": "1.1x", "rps[GET /a]": "0.9x", "agreement": "99.9%"})
    assert [str(slo) for slo in slos] == ["p95[POST score] < 1.10x", "rps[GET /a] >= 0.90x", "agreement >= 99.9%"]


# ---------------------------------------------------------------- round trips

_ENDPOINTS = st.sampled_from(["", "[POST score]", "[GET /health]", "[POST /v1/models/m:predict]"])


@st.composite
def _relative_texts(draw: st.DrawFn) -> str:
    form = draw(st.sampled_from(["ratio", "pp", "agreement"]))
    op = draw(st.sampled_from(["<", "<=", ">", ">="]))
    number = draw(st.from_regex(r"\A(?:[0-9]{1,3}(?:\.[0-9]{1,4})?|\.[0-9]{1,4})\Z"))
    if form == "ratio":
        metric = draw(st.sampled_from(["p95", "p99.9", "p50", "mean", "rps", "rows_per_s"]))
        scope = "" if metric == "rows_per_s" else draw(_ENDPOINTS)
        return f"{metric}{scope} {op} {number}{draw(st.sampled_from(['x', 'X']))}"
    if form == "pp":
        metric = draw(st.sampled_from(["failure_rate", "mismatch_rate"]))
        scope = draw(_ENDPOINTS) if metric == "failure_rate" else ""
        sign = draw(st.sampled_from(["", "+", "-"]))
        return f"{metric}{scope} {op} {sign}{number}pp"
    return f"agreement {op} {number}{draw(st.sampled_from(['%', '']))}"


@given(_relative_texts())
def test_relative_texts_parse_or_refuse_in_one_line_and_round_trip(text: str) -> None:
    try:
        slo = parse_slo(text)
    except SloError as error:  # a ratio of 0, a difference or agreement over 100 %
        assert "\n" not in str(error)
        assert any(word in str(error) for word in ("above 0", "exceed", "fraction 0..1"))
        return
    again = parse_slo(str(slo))
    assert again == slo and str(again) == str(slo)


@given(
    st.sampled_from(["p95", "mean", "rps", "rows_per_s", "failure_rate", "mismatch_rate"]),
    st.sampled_from(["<", "<=", ">", ">="]),
    st.floats(min_value=1e-6, max_value=1e6, allow_nan=False),
    st.sampled_from([None, "POST score"]),
)
def test_any_relative_threshold_round_trips(metric: str, op: str, threshold: float, endpoint: str | None) -> None:
    pp = metric.endswith("_rate")
    if pp:
        threshold = min(threshold, 1.0) * (-1 if threshold > 500 else 1)
    if metric in ("rows_per_s", "mismatch_rate"):
        endpoint = None
    quantile = 95.0 if metric == "p95" else None
    slo = Slo(
        text="", metric=metric, op=op, threshold=threshold, quantile=quantile, endpoint=endpoint,
        relative="pp" if pp else "x",
    )  # fmt: skip
    assert parse_slo(str(slo)) == slo


# ---------------------------------------------------------------- collection-time checks


def test_an_objective_that_compares_needs_another_side() -> None:
    slos = tuple(parse_slos(["p95 < 300ms", "p95 <= 1.10x"]))
    require_other_side(slos, has_other_side=True)
    require_other_side(tuple(parse_slos(["p95 < 300ms", "p95[POST a] < 1s"])), has_other_side=False)
    with pytest.raises(ProfileError) as info:
        require_other_side(slos, has_other_side=False)
    assert str(info.value) == (
        "slo 'p95 <= 1.10x' compares with another deployment: pass --aks-against NAME, "
        "--aks-against-uri URL or the marker's against="
    )
    with pytest.raises(ProfileError, match="^slo 'agreement >= 99.9%' compares with another deployment"):
        require_other_side(tuple(parse_slos("agreement >= 0.999")), has_other_side=False)


@pytest.mark.parametrize("rule", ["p95 <= 1.10x", "agreement < 90%", "p95[POST a] > 1s"])
def test_abort_rules_refuse_what_the_candidates_recent_windows_cannot_show(rule: str) -> None:
    with pytest.raises(ProfileError) as info:
        profile_from_marker((), {"abort_on": rule}, Settings(), Path.cwd())
    assert str(info.value) == (
        f"abort_on: {rule!r} needs the whole run; abort rules watch the candidate's recent windows, "
        "e.g. 'failure_rate > 50% over 10s windows'"
    )


def test_relative_objectives_are_accepted_in_the_marker_with_another_side() -> None:
    slos = ["p95 <= 1.10x", "failure_rate <= +0.5pp"]
    profile = profile_from_marker((), {"slo": slos, "against": "blue"}, Settings(), Path.cwd())
    assert [slo.compares for slo in profile.slos] == [True, True] and profile.against == "blue"
    settings = Settings(aks_against_uri="http://127.0.0.1:9/score")
    assert profile_from_marker((), {"slo": slos}, settings, Path.cwd()).against is None
    with pytest.raises(ProfileError, match="compares with another deployment"):
        profile_from_marker((), {"slo": slos}, Settings(), Path.cwd())
