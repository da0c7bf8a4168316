"""Correctness of predictions under load: mismatches within a tolerance, max abs error, binned
AUC with its error bound, logloss; merged per window; hand-computed values."""

from __future__ import annotations

import json
import math
import random
import struct

import pytest

from pytest_aksload.stats.confidence import wilson_interval
from pytest_aksload.stats.correctness import AUC_BINS, DEFAULT_TOLERANCE, CorrectnessTally, Mismatch


def test_mismatches_beyond_the_tolerance_with_examples() -> None:
    tally = CorrectnessTally(max_examples=2)
    flags = [
        tally.add(0, 0.5, expected=0.5),
        tally.add(1, 0.5 + 0.9 * DEFAULT_TOLERANCE, expected=0.5),  # a float32 round trip: not a mismatch
        tally.add(2, 0.51, expected=0.5),
        tally.add(3, 0.2, expected=0.7),
        tally.add(4, 0.9, expected=0.1),
        tally.add(5, 0.3),  # no expectation: predicted, not checked
    ]
    assert flags == [False, False, True, True, True, False]
    assert (tally.predicted, tally.checked, tally.mismatches) == (6, 5, 3)
    assert tally.mismatch_rate == pytest.approx(0.6)
    assert tally.max_abs_error == pytest.approx(0.8)
    assert tally.examples == [Mismatch(2, 0.5, 0.51), Mismatch(3, 0.7, 0.2)]
    assert tally.mismatch_rate_interval() == wilson_interval(3, 5)


def test_float32_round_trips_are_within_the_default_tolerance() -> None:
    for value in (0.123456789, 0.999999, 1e-9, 0.5, 7.123456):
        float32 = struct.unpack("f", struct.pack("f", value))[0]
        assert abs(float32 - value) <= DEFAULT_TOLERANCE
        assert abs(float(f"{value:.7g}") - value) <= DEFAULT_TOLERANCE


def test_nothing_checked_is_nan_not_zero() -> None:
    tally = CorrectnessTally()
    assert math.isnan(tally.mismatch_rate) and math.isnan(tally.max_abs_error)
    assert math.isnan(tally.auc) and math.isnan(tally.logloss)
    assert tally.mismatch_rate_interval() == (0.0, 1.0) and tally.auc_interval() == (0.0, 1.0)
    assert tally.logloss_interval() == (0.0, math.inf)


def test_auc_and_logloss_by_hand() -> None:
    tally = CorrectnessTally()
    # positives 0.9, 0.4; negatives 0.3, 0.5: 3 of 4 pairs ordered right
    for row, (prediction, label) in enumerate([(0.9, 1), (0.4, 1), (0.3, 0), (0.5, 0)]):
        tally.add(row, prediction, label=label)
    assert tally.auc == pytest.approx(0.75) and tally.auc_error_bound == 0.0
    expected_loss = (-math.log(0.9) - math.log(0.4) - math.log(0.7) - math.log(0.5)) / 4
    assert tally.logloss == pytest.approx(expected_loss)
    # Hanley-McNeil: A=0.75, P=N=2 -> Q1=0.6, Q2=0.642857, SE=0.276295
    low, high = tally.auc_interval(0.95)
    assert low == pytest.approx(0.75 - 1.959964 * 0.276295, abs=1e-5) and high == 1.0


def test_equal_predictions_are_exact_ties_and_close_ones_are_bounded() -> None:
    tie = CorrectnessTally()
    tie.add(0, 0.5, label=1)
    tie.add(1, 0.5, label=0)
    assert (tie.auc, tie.auc_error_bound) == (0.5, 0.0)
    close = CorrectnessTally()  # different values in one bin: the order is unknown
    close.add(0, 0.50001, label=1)
    close.add(1, 0.50002, label=0)
    assert int(0.50001 * AUC_BINS) == int(0.50002 * AUC_BINS)
    assert (close.auc, close.auc_error_bound) == (0.5, 0.5)  # exact is 0: within the bound
    assert close.auc_interval()[0] == 0.0


def test_binned_auc_matches_mann_whitney_within_its_bound() -> None:
    rng = random.Random(7)
    pairs = [(rng.betavariate(2, 5) + 0.3 * label, label) for label in (rng.random() < 0.3 for _ in range(3000))]
    tally = CorrectnessTally()
    for row, (prediction, label) in enumerate(pairs):
        tally.add(row, min(prediction, 1.0), label=int(label))
    positives = [min(p, 1.0) for p, y in pairs if y]
    negatives = [min(p, 1.0) for p, y in pairs if not y]
    exact = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives) / (len(positives) * len(negatives))
    assert abs(tally.auc - exact) <= tally.auc_error_bound
    assert tally.auc_error_bound < 1e-3


def test_logloss_is_undefined_for_non_probabilities() -> None:
    tally = CorrectnessTally()
    tally.add(0, 1.5, label=1)
    tally.add(1, 0.2, label=0)
    assert math.isnan(tally.logloss) and tally.non_probabilities == 1
    assert tally.auc == 1.0  # ranks still count: 1.5 sits in the last bin
    assert tally.logloss_interval() == (0.0, math.inf)


def test_logloss_clips_certain_wrong_answers() -> None:
    tally = CorrectnessTally()
    tally.add(0, 0.0, label=1)
    assert tally.logloss == pytest.approx(-math.log(1e-15))


def test_repeated_rows_widen_intervals_with_distinct_rows() -> None:
    tally = CorrectnessTally()
    for _ in range(50):
        for row, (prediction, label) in enumerate([(0.9, 1), (0.6, 1), (0.3, 0), (0.7, 0), (0.2, 0), (0.8, 1)]):
            tally.add(row, prediction, label=label)
    narrow, wide = tally.auc_interval(), tally.auc_interval(distinct_rows=6)
    assert wide[0] < narrow[0] <= tally.auc <= narrow[1] <= wide[1]
    loss_narrow, loss_wide = tally.logloss_interval(), tally.logloss_interval(distinct_rows=6)
    assert loss_wide[0] < loss_narrow[0] < tally.logloss < loss_narrow[1] < loss_wide[1]


def test_windows_merge_into_the_run() -> None:
    rng = random.Random(3)
    events = [
        (row % 40, rng.random(), rng.choice([None, rng.random()]), rng.choice([None, 0, 1])) for row in range(400)
    ]
    whole = CorrectnessTally()
    windows = [CorrectnessTally() for _ in range(4)]
    for i, (row, prediction, expected, label) in enumerate(events):
        whole.add(row, prediction, expected, label)
        windows[i // 100].add(row, prediction, expected, label)
    merged = CorrectnessTally.merged(windows)
    mine, theirs = merged.to_dict(), whole.to_dict()
    for key in ("loss_sum", "loss_sum_squares"):
        assert mine.pop(key) == pytest.approx(theirs.pop(key))
    assert mine == theirs
    assert CorrectnessTally.merged([]).predicted == 0
    with pytest.raises(ValueError, match="tolerances"):
        CorrectnessTally(1e-6).merge(CorrectnessTally(1e-3))


def test_add_batch_indexes_the_sample() -> None:
    tally = CorrectnessTally()
    assert tally.add_batch([2, 0], [0.7, 0.1], expected=[0.1, None, 0.2], labels=[0, 1, 1]) == 1
    assert tally.examples == [Mismatch(2, 0.2, 0.7)] and tally.labelled == 2 and tally.checked == 2


def test_an_answer_added_n_times_at_once_counts_as_n_answers() -> None:
    expected, labels = [0.1, None, 0.2, 0.9], [0, 1, 1, None]
    rows, predictions = [2, 0, 3, 1], [0.7, 0.1, 2.5, 0.4]  # two mismatches (one not a probability), no label
    once, each = CorrectnessTally(max_examples=3), CorrectnessTally(max_examples=3)
    assert once.add_batch(rows, predictions, expected, labels, times=4) == 8
    for _ in range(4):
        each.add_batch(rows, predictions, expected, labels)
    got, want = once.to_dict(), each.to_dict()
    for key in ("loss_sum", "loss_sum_squares"):  # n * x, not x + x + ... : the last bit may differ
        assert got.pop(key) == pytest.approx(want.pop(key), rel=1e-15)
    assert got == want and once.examples == [Mismatch(2, 0.2, 0.7), Mismatch(3, 0.9, 2.5), Mismatch(2, 0.2, 0.7)]


def test_to_dict_is_strict_json_and_reads_back() -> None:
    tally = CorrectnessTally(tolerance=0.01)
    tally.add(0, 0.2, expected=0.5, label=1)
    tally.add(1, 0.3, label=0)
    tally.add(2, 0.30001, label=1)
    text = json.dumps(tally.to_dict(), allow_nan=False)
    again = CorrectnessTally.from_dict(json.loads(text))
    assert again.to_dict() == tally.to_dict() and again.auc == tally.auc
    assert json.dumps(CorrectnessTally().to_dict(), allow_nan=False)
    with pytest.raises(ValueError, match=r"^malformed correctness tally \(KeyError: 'checked'\)$"):
        CorrectnessTally.from_dict({"tolerance": 0.1, "predicted": 1})


@pytest.mark.parametrize("tolerance", [-1, math.nan, math.inf, True, "0.1"])
def test_bad_tolerance_is_a_one_line_error(tolerance: object) -> None:
    with pytest.raises(ValueError, match=r"^tolerance must be a finite number >= 0 \(e\.g\. 1e-6\), not "):
        CorrectnessTally(tolerance)  # type: ignore[arg-type]
