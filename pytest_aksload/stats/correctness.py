"""Are the predictions under load the right ones? Mergeable tallies of predictions against the
expected predictions and the labels of the sample rows.

The Locust child keeps `CorrectnessTally`s per time window (two: answers to requests started in
the warm-up and after it, each answer in one) and merges them for the window and for the run
(like the latency histograms), so windowed objectives see a model that goes wrong after a
minute. Pure Python, no numpy: the child adds every new decoded answer (`add_batch`), and an
answer it has seen match before once per window with its count (`times`).

- **mismatch_rate**: the fraction of checked rows (rows with an expected prediction) whose
  prediction is off by more than `tolerance` (absolute). `DEFAULT_TOLERANCE` = 1e-6 absorbs a
  float32 model or a float32 JSON round trip (relative error <= 6e-8, so <= 6e-8 for any
  probability and below 1e-6 for values up to about 16) and decimal printing with 7 or more
  significant digits; a regression model with large outputs needs its own `tolerance=`.
  Interval: Wilson's.
- **max_abs_error**: the largest |prediction - expected| over checked rows (no interval: it is
  what was seen).
- **auc**: area under the ROC curve of the predictions against binary labels (label >= 0.5 is
  positive), from per-label counts in `AUC_BINS` fixed bins over [0, 1] (values outside are
  clipped into the end bins), ties counted half as in the Mann-Whitney statistic. It is exact
  when no bin holds two different predictions; otherwise `auc_error_bound` (half the
  positive-negative pairs that share such a bin, over all pairs) bounds its error and widens
  its interval. Interval: Hanley & McNeil (Radiology, 1982) standard error.
- **logloss**: mean binary cross-entropy of the labelled rows, predictions clipped to
  [1e-15, 1 - 1e-15]; undefined (NaN) when a prediction is not a probability. Interval: normal
  approximation of the mean.

A load test sends the same sample rows many times, so the rows are not independent draws: give
the intervals `distinct_rows` (the sample size) and they use at most that many observations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import cycle, islice
from statistics import NormalDist
from typing import Any

from pytest_aksload.defaults import DEFAULT_TOLERANCE
from pytest_aksload.stats.confidence import DEFAULT_CONFIDENCE, wilson_interval

__all__ = ["DEFAULT_TOLERANCE", "CorrectnessTally", "Mismatch"]
AUC_BINS = 4096
MAX_EXAMPLES = 5
LOGLOSS_EPSILON = 1e-15
_LOGLOSS_TOP = 1.0 - LOGLOSS_EPSILON


@dataclass(frozen=True)
class Mismatch:
    """One wrong prediction: the sample row, what was expected, what the service answered."""

    row: int
    expected: float
    got: float


class CorrectnessTally:
    """Counts of predictions against expectations; `add` per prediction, `merge` per window."""

    def __init__(self, tolerance: float = DEFAULT_TOLERANCE, max_examples: int = MAX_EXAMPLES) -> None:
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < math.inf:
            raise ValueError(f"tolerance must be a finite number >= 0 (e.g. 1e-6), not {tolerance!r}")
        self.tolerance = float(tolerance)
        self.max_examples = max_examples
        self.predicted = 0
        self.checked = 0
        self.mismatches = 0
        self.max_abs_error = math.nan
        self.examples: list[Mismatch] = []
        self.labelled = 0
        self.non_probabilities = 0
        self._loss_sum = 0.0
        self._loss_sum_squares = 0.0
        # bin -> [negatives, positives, the bin's one prediction or NaN once it holds two]
        self._bins: dict[int, list[Any]] = {}

    def add(self, row: int, prediction: float, expected: float | None = None, label: float | None = None) -> bool:
        """Count one prediction for sample row `row`; True when it mismatches `expected`."""
        return self.add_batch((row,), (prediction,), {row: expected}, {row: label}) > 0

    def add_batch(
        self,
        rows: Sequence[int],
        predictions: Sequence[float],
        expected: Sequence[float | None] | Mapping[int, float | None] | None = None,
        labels: Sequence[float | None] | Mapping[int, float | None] | None = None,
        times: int = 1,
    ) -> int:
        """Count each of `rows` (indices into the sample) with its prediction, `times` times (the
        same answer seen that often); `expected` and `labels` are the whole sample's, indexed by
        row. Returns the number of mismatches.

        The Locust child calls this for every new answer, so each part (expectations here, labels
        in `_add_labelled`) is one inlined loop over the rows (a helper call per row cost as much
        as the arithmetic); the sums grow in row order, as `add` would."""
        if len(rows) != len(predictions):
            raise ValueError(f"{len(rows)} rows but {len(predictions)} predictions")
        self.predicted += len(rows) * times
        mismatches = 0
        if expected is not None:
            wrong: list[Mismatch] = []  # this answer's first mismatches: the examples `times` answers would give
            for row, prediction in zip(rows, predictions, strict=False):  # lengths checked above
                if (value := expected[row]) is None:
                    continue
                self.checked += times
                error = abs(prediction - value)
                if not error <= self.max_abs_error:  # also true while max_abs_error is NaN
                    self.max_abs_error = error
                if error > self.tolerance:
                    mismatches += times
                    if len(wrong) < self.max_examples:
                        wrong.append(Mismatch(row, value, prediction))
            self.mismatches += mismatches
            if wrong and len(self.examples) < self.max_examples:
                room = self.max_examples - len(self.examples)
                self.examples.extend(islice(cycle(wrong), min(len(wrong) * times, room)))
        if labels is not None:
            self._add_labelled(rows, predictions, labels, times)
        return mismatches

    def _add_labelled(
        self,
        rows: Sequence[int],
        predictions: Sequence[float],
        labels: Sequence[float | None] | Mapping[int, float | None],
        times: int,
    ) -> None:
        """Predictions against the labels: the log loss sums and the AUC bins."""
        bins = self._bins
        for row, prediction in zip(rows, predictions, strict=False):  # lengths checked by add_batch
            if (label := labels[row]) is None:
                continue
            self.labelled += times
            positive = label >= 0.5
            if 0.0 <= prediction <= 1.0:
                p = prediction  # clipped to [LOGLOSS_EPSILON, 1 - LOGLOSS_EPSILON]
                if p < LOGLOSS_EPSILON:
                    p = LOGLOSS_EPSILON
                elif p > _LOGLOSS_TOP:
                    p = _LOGLOSS_TOP
                loss = -math.log(p if positive else 1.0 - p)
                self._loss_sum += loss * times
                self._loss_sum_squares += loss * loss * times
                index = int(prediction * AUC_BINS)
                if index == AUC_BINS:  # prediction 1.0
                    index -= 1
            else:
                self.non_probabilities += times
                index = min(max(int(prediction * AUC_BINS), 0), AUC_BINS - 1)
            counts = bins.get(index)  # [negatives, positives, the bin's one prediction or NaN]
            if counts is None:
                bins[index] = [0, times, prediction] if positive else [times, 0, prediction]
            else:
                counts[positive] += times
                if counts[2] != prediction:  # NaN never equals: a mixed bin stays mixed
                    counts[2] = math.nan

    def merge(self, other: CorrectnessTally) -> None:
        """Add `other`'s counts into this tally (same tolerance)."""
        if other.tolerance != self.tolerance:
            raise ValueError(f"cannot merge tallies with tolerances {self.tolerance} and {other.tolerance}")
        self.predicted += other.predicted
        self.checked += other.checked
        self.mismatches += other.mismatches
        if math.isnan(self.max_abs_error) or other.max_abs_error > self.max_abs_error:
            self.max_abs_error = other.max_abs_error
        self.examples.extend(other.examples[: max(0, self.max_examples - len(self.examples))])
        self.labelled += other.labelled
        self.non_probabilities += other.non_probabilities
        self._loss_sum += other._loss_sum
        self._loss_sum_squares += other._loss_sum_squares
        for index, (negatives, positives, value) in other._bins.items():
            counts = self._bins.get(index)
            if counts is None:
                self._bins[index] = [negatives, positives, value]
                continue
            counts[0] += negatives
            counts[1] += positives
            if counts[2] != value:
                counts[2] = math.nan

    @classmethod
    def merged(cls, tallies: Sequence[CorrectnessTally], tolerance: float = DEFAULT_TOLERANCE) -> CorrectnessTally:
        """One tally of all `tallies` (an empty one with `tolerance` when there are none)."""
        total = cls(tallies[0].tolerance if tallies else tolerance)
        for tally in tallies:
            total.merge(tally)
        return total

    @property
    def mismatch_rate(self) -> float:
        """Mismatched / checked rows, NaN when no row was checked."""
        return self.mismatches / self.checked if self.checked else math.nan

    @property
    def auc(self) -> float:
        """ROC AUC of the labelled predictions, NaN without both a positive and a negative."""
        positives, negatives, area, _ = self._auc_sums()
        return area / (positives * negatives) if positives and negatives else math.nan

    @property
    def auc_error_bound(self) -> float:
        """The most `auc` can differ from the exact AUC because of binning (0 when exact)."""
        positives, negatives, _, unsure = self._auc_sums()
        return unsure / (positives * negatives) if positives and negatives else math.nan

    def _auc_sums(self) -> tuple[int, int, float, float]:
        # Bins in ascending order: each positive beats every negative in lower bins, ties half.
        positives = negatives = 0
        area = unsure = 0.0
        for index in sorted(self._bins):
            bin_negatives, bin_positives, value = self._bins[index]
            tied = bin_positives * bin_negatives
            area += bin_positives * negatives + 0.5 * tied
            if tied and math.isnan(value):
                unsure += 0.5 * tied
            positives += bin_positives
            negatives += bin_negatives
        return positives, negatives, area, unsure

    @property
    def logloss(self) -> float:
        """Mean log loss of the labelled rows; NaN when none, or when a prediction is not in [0, 1]."""
        if not self.labelled or self.non_probabilities:
            return math.nan
        return self._loss_sum / self.labelled

    def mismatch_rate_interval(self, confidence: float | None = None) -> tuple[float, float]:
        """Wilson interval of `mismatch_rate`; (0, 1) when no row was checked."""
        return wilson_interval(self.mismatches, self.checked, DEFAULT_CONFIDENCE if confidence is None else confidence)

    def auc_interval(self, confidence: float | None = None, distinct_rows: int | None = None) -> tuple[float, float]:
        """Hanley-McNeil interval of `auc`, widened by `auc_error_bound`; (0, 1) when undefined."""
        positives, negatives, area, unsure = self._auc_sums()
        if not positives or not negatives:
            return 0.0, 1.0
        auc, bound = area / (positives * negatives), unsure / (positives * negatives)
        share = _independent_share(self.labelled, distinct_rows)
        n_pos, n_neg = max(positives * share, 1.0), max(negatives * share, 1.0)
        q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
        variance = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
        half = _z(confidence) * math.sqrt(max(variance, 0.0)) + bound
        return max(0.0, auc - half), min(1.0, auc + half)

    def logloss_interval(
        self, confidence: float | None = None, distinct_rows: int | None = None
    ) -> tuple[float, float]:
        """Normal interval of the mean `logloss`; (0, inf) when undefined or from one row."""
        loss = self.logloss
        if math.isnan(loss) or self.labelled < 2:
            return 0.0, math.inf
        n = self.labelled
        variance = max(0.0, (self._loss_sum_squares - n * loss * loss) / (n - 1))
        half = _z(confidence) * math.sqrt(variance / max(n * _independent_share(n, distinct_rows), 1.0))
        return max(0.0, loss - half), loss + half

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts (NaN as null) that `from_dict` reads back exactly."""
        return {
            "tolerance": self.tolerance,
            "predicted": self.predicted,
            "checked": self.checked,
            "mismatches": self.mismatches,
            "max_abs_error": None if math.isnan(self.max_abs_error) else self.max_abs_error,
            "examples": [[m.row, m.expected, m.got] for m in self.examples],
            "labelled": self.labelled,
            "non_probabilities": self.non_probabilities,
            "loss_sum": self._loss_sum,
            "loss_sum_squares": self._loss_sum_squares,
            "auc_bins": [
                [index, negatives, positives, None if math.isnan(value) else value]
                for index, (negatives, positives, value) in sorted(self._bins.items())
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CorrectnessTally:
        """The tally `to_dict` wrote; `ValueError` naming the field when it is malformed."""
        try:
            tally = cls(data["tolerance"])
            tally.predicted, tally.checked = int(data["predicted"]), int(data["checked"])
            tally.mismatches, tally.labelled = int(data["mismatches"]), int(data["labelled"])
            tally.non_probabilities = int(data["non_probabilities"])
            error = data["max_abs_error"]
            tally.max_abs_error = math.nan if error is None else float(error)
            tally.examples = [Mismatch(int(r), float(e), float(g)) for r, e, g in data["examples"]]
            tally._loss_sum, tally._loss_sum_squares = float(data["loss_sum"]), float(data["loss_sum_squares"])
            tally._bins = {
                int(i): [int(n), int(p), math.nan if v is None else float(v)] for i, n, p, v in data["auc_bins"]
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed correctness tally ({type(exc).__name__}: {exc})") from None
        return tally


def _independent_share(observations: int, distinct_rows: int | None) -> float:
    if not distinct_rows or observations <= distinct_rows:
        return 1.0
    return distinct_rows / observations


def _z(confidence: float | None) -> float:
    level = DEFAULT_CONFIDENCE if confidence is None else confidence
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"confidence must be a fraction between 0 and 1 (e.g. 0.95), not {confidence!r}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)
