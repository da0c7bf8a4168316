"""Latency histograms: a thin layer over the `hdrhistogram` package (module `hdrh`).

Both processes use it: the Locust child records into histograms, the pytest process decodes,
merges and reads percentiles from them. It imports neither locust nor gevent.

Conventions (they are part of the result-file format):

* Values are integer MICROSECONDS. The trackable range is 1 µs .. 1 hour at 3 significant
  digits, so every recorded value lands in a bucket no wider than 1/1024 of its value (below
  2.048 ms buckets are 1 µs wide, i.e. exact). Values outside the range are clamped to it and
  counted, never dropped: a request that took longer than an hour still failed the user.
* A percentile `q` is the nearest-rank value: the smallest recorded value `v` such that at
  least `q` % of the values are `<= v` (rank `ceil(q/100 * n)`). `hdrh`'s own
  `get_value_at_percentile` rounds the rank and then reports the HIGHEST value equivalent to
  that bucket, which biases every percentile upwards by up to a whole bucket (0.1 %). Here a
  percentile reports the bucket's MIDPOINT, clamped to the exact min/max when they are known,
  so the error is at most half a bucket: <= 0.05 % of the value, and 0 below 2.048 ms.
* Histograms travel as `hdrh`'s standard compressed, base64 "HISTFAAA..." text; that is what
  makes them mergeable across processes (and readable by any HdrHistogram implementation).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_FIGURES = 3


def new_histogram() -> HdrHistogram:
    """An empty latency histogram (µs, 1 µs .. 1 hour, 3 significant digits)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


# The recorder's hot path records every request twice (its endpoint and its time window).
# hdrh finds a value's counter through four method calls per record; `counts_index`
# is the same arithmetic inlined (`bit_length` is hdrh's 64 - clz), computed once per request,
# and `record_at` adds to a histogram at that index. Valid for `new_histogram()`'s layout only;
# tests/unit/test_histograms_fast.py checks it against hdrh for every value class.
_LAYOUT = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
_UNIT = _LAYOUT.unit_magnitude
_MASK = _LAYOUT.sub_bucket_mask
_HALF_MAGNITUDE = _LAYOUT.sub_bucket_half_count_magnitude
_HALF = _LAYOUT.sub_bucket_half_count


def counts_index(us: int) -> int:
    """hdrh's counts index of `us` (an int within LOWEST_US..HIGHEST_US) in a `new_histogram()`."""
    bucket = (us | _MASK).bit_length() - _UNIT - (_HALF_MAGNITUDE + 1)
    return ((bucket + 1) << _HALF_MAGNITUDE) + (us >> (bucket + _UNIT)) - _HALF


def record_at(histogram: HdrHistogram, index: int, us: int) -> None:
    """`histogram.record_value(us)` given `index == counts_index(us)`."""
    histogram.counts[index] += 1
    histogram.total_count += 1
    if us < histogram.min_value:
        histogram.min_value = us
    if us > histogram.max_value:
        histogram.max_value = us


def ms_to_us(ms: float) -> int:
    """Locust reports milliseconds as a float measured with `perf_counter`: keep that precision."""
    return round(ms * 1000.0)


def clamp_us(us: int) -> tuple[int, bool]:
    """`us` forced into the trackable range, and whether it had to be."""
    if us < LOWEST_US:
        return LOWEST_US, True
    if us > HIGHEST_US:
        return HIGHEST_US, True
    return us, False


def encode(histogram: HdrHistogram) -> str:
    """Compressed base64 text of `histogram` (what result files and reports store)."""
    return histogram.encode().decode("ascii")


def decode(encoded: str | bytes) -> HdrHistogram:
    """The histogram `encode` produced; `ValueError` (one line) if the text is not one."""
    try:
        histogram = HdrHistogram.decode(encoded)
    except Exception as exc:  # hdrh raises binascii, zlib, ctypes and its own errors alike
        raise ValueError(f"not an encoded HdrHistogram ({type(exc).__name__}: {exc})") from None
    if histogram.highest_trackable_value > HIGHEST_US or histogram.lowest_trackable_value < LOWEST_US:
        raise ValueError("encoded HdrHistogram has a range other than 1 µs .. 1 hour")
    return histogram


def merge(encoded_list: Iterable[str | bytes]) -> HdrHistogram:
    """One histogram holding every value of the encoded ones (e.g. windows, workers)."""
    merged = new_histogram()
    for encoded in encoded_list:
        merged.add(decode(encoded))
    return merged


def _bucket_midpoint_us(histogram: HdrHistogram, index: int) -> float:
    """Midpoint of the integer values that counts index `index` stands for."""
    lowest = histogram.get_value_from_index(index)
    highest = histogram.get_highest_equivalent_value(lowest)
    return (lowest + highest) / 2.0


def percentiles_us(
    histogram: HdrHistogram,
    quantiles: Sequence[float],
    *,
    exact_min_us: int | None = None,
    exact_max_us: int | None = None,
) -> dict[float, float]:
    """Nearest-rank percentiles (q in 0..100) in µs, in one pass over the counts.

    An empty histogram gives NaN for every q: "no data" must not compare as fast.
    `exact_min_us`/`exact_max_us` (tracked beside the histogram) pin q=0/q=100 and clamp the
    bucket midpoints so no percentile lies outside what was actually recorded.
    """
    for q in quantiles:
        check_quantile(q)
    total = histogram.get_total_count()
    if total == 0:
        return {q: math.nan for q in quantiles}
    # hdrh tracks min/max as values; their counts indices bound the scan (often a few
    # thousand of the 23,552 counters), and accumulate/bisect keep it in C.
    low = histogram.get_counts_array_index(histogram.min_value)
    high = histogram.get_counts_array_index(histogram.max_value)
    cumulative = list(accumulate(histogram.counts[low : high + 1]))
    lo_us = float(exact_min_us) if exact_min_us is not None else None
    hi_us = float(exact_max_us) if exact_max_us is not None else None
    result: dict[float, float] = {}
    for q in quantiles:
        rank = min(max(1, math.ceil(q / 100.0 * total - 1e-9)), total)
        index = low + bisect_left(cumulative, rank)
        value = _bucket_midpoint_us(histogram, index)
        if q == 0 and lo_us is not None:
            value = lo_us
        elif q == 100 and hi_us is not None:
            value = hi_us
        if lo_us is not None:
            value = max(value, lo_us)
        if hi_us is not None:
            value = min(value, hi_us)
        result[q] = value
    return result


def moments_us(histogram: HdrHistogram) -> tuple[float, float]:
    """(mean, standard deviation) in µs from bucket midpoints; NaN for an empty histogram.

    `hdrh`'s own `get_mean_value`/`get_stddev` walk all 23,552 counters in Python; this scans
    only the occupied range, which matters for hundreds of windows.
    """
    total = histogram.get_total_count()
    if total == 0:
        return math.nan, math.nan
    low = histogram.get_counts_array_index(histogram.min_value)
    high = histogram.get_counts_array_index(histogram.max_value)
    counts = histogram.counts
    occupied = [(i, counts[i]) for i in range(low, high + 1) if counts[i]]
    mids = [(_bucket_midpoint_us(histogram, i), c) for i, c in occupied]
    mean = sum(v * c for v, c in mids) / total
    variance = sum(c * (v - mean) ** 2 for v, c in mids) / total
    return mean, math.sqrt(variance)


def percentile_ms(histogram: HdrHistogram, q: float) -> float:
    """Nearest-rank percentile `q` (0..100) in milliseconds; NaN for an empty histogram."""
    return percentiles_us(histogram, [q])[q] / 1000.0


def mean_ms(histogram: HdrHistogram) -> float:
    """Mean from bucket midpoints (within 0.05 %); NaN for an empty histogram."""
    if histogram.get_total_count() == 0:
        return math.nan
    return histogram.get_mean_value() / 1000.0


def check_quantile(q: float) -> None:
    """`ValueError` unless 0 <= q <= 100 (a percentile, not a fraction)."""
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 100:
        raise ValueError(f"percentile must be a number from 0 to 100, not {q!r}")


class Latencies:
    """A histogram plus the exact facts a histogram rounds: count, sum, min, max, clamped.

    The recorder keeps one per total and per endpoint; `to_dict`/`from_dict` is the
    result-file form (`{"requests", "sum_us", "min_us", "max_us", "clamped", "histogram"}`:
    every value is one request's latency) and
    `add` merges another one in (the hook for distributed workers).
    """

    __slots__ = ("histogram", "count", "sum_us", "min_us", "max_us", "clamped")

    def __init__(self, histogram: HdrHistogram | None = None) -> None:
        self.histogram = histogram if histogram is not None else new_histogram()
        self.count = 0
        self.sum_us = 0
        self.min_us: int | None = None
        self.max_us: int | None = None
        self.clamped = 0

    def record(self, us: int, index: int | None = None) -> None:
        """Record one latency in µs (clamped to the trackable range, and counted if so);
        `index`: `counts_index` of the clamped value, when the caller already has it."""
        if us < LOWEST_US or us > HIGHEST_US:
            us = LOWEST_US if us < LOWEST_US else HIGHEST_US
            self.clamped += 1
        record_at(self.histogram, counts_index(us) if index is None else index, us)
        self.count += 1
        self.sum_us += us
        if self.min_us is None or us < self.min_us:
            self.min_us = us
        if self.max_us is None or us > self.max_us:
            self.max_us = us

    def add(self, other: Latencies) -> None:
        self.histogram.add(other.histogram)
        self.count += other.count
        self.sum_us += other.sum_us
        self.clamped += other.clamped
        if other.min_us is not None and (self.min_us is None or other.min_us < self.min_us):
            self.min_us = other.min_us
        if other.max_us is not None and (self.max_us is None or other.max_us > self.max_us):
            self.max_us = other.max_us

    def percentiles_ms(self, quantiles: Sequence[float]) -> dict[float, float]:
        values = percentiles_us(self.histogram, quantiles, exact_min_us=self.min_us, exact_max_us=self.max_us)
        return {q: v / 1000.0 for q, v in values.items()}

    def mean_ms(self) -> float:
        """Exact mean (from the exact sum), NaN when empty."""
        return self.sum_us / self.count / 1000.0 if self.count else math.nan

    def max_ms(self) -> float:
        return self.max_us / 1000.0 if self.max_us is not None else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.count,
            "sum_us": self.sum_us,
            "min_us": self.min_us,
            "max_us": self.max_us,
            "clamped": self.clamped,
            "histogram": encode(self.histogram),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Latencies:
        """Inverse of `to_dict`; `ValueError` when fields are missing or inconsistent."""
        if not isinstance(data, dict):
            raise ValueError(f"latencies must be an object, not {type(data).__name__}")
        latencies = cls(decode(_field(data, "histogram", str)))
        latencies.count = _field(data, "requests", int)
        latencies.sum_us = _field(data, "sum_us", int)
        latencies.clamped = _field(data, "clamped", int)
        latencies.min_us = _field(data, "min_us", int, optional=True)
        latencies.max_us = _field(data, "max_us", int, optional=True)
        if latencies.histogram.get_total_count() != latencies.count:
            raise ValueError(
                f"histogram holds {latencies.histogram.get_total_count()} values but requests says {latencies.count}"
            )
        return latencies


def _field(data: dict[str, Any], name: str, kind: type, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"field {name!r} must be {kind.__name__}, not {value!r:.40}")
    return value
