"""The recorder's inlined HDR index arithmetic must agree with hdrh's own for every value."""

from __future__ import annotations

import random

from pytest_aksload.stats import histograms


def test_counts_index_and_record_at_match_hdrh() -> None:
    # Every bucket boundary (powers of two and their neighbours) plus a random spread over the range.
    rng = random.Random(7)
    values = {histograms.LOWEST_US, histograms.HIGHEST_US}
    for power in range(33):
        values.update(
            v for v in (2**power - 1, 2**power, 2**power + 1) if histograms.LOWEST_US <= v <= histograms.HIGHEST_US
        )
    values.update(rng.randint(histograms.LOWEST_US, histograms.HIGHEST_US) for _ in range(20_000))
    values.update(range(1, 5000))
    ours, theirs = histograms.new_histogram(), histograms.new_histogram()
    for us in sorted(values):
        assert histograms.counts_index(us) == theirs._counts_index_for(us), us
        histograms.record_at(ours, histograms.counts_index(us), us)
        theirs.record_value(us)
    assert histograms.encode(ours) == histograms.encode(theirs)
    assert (ours.min_value, ours.max_value, ours.get_total_count()) == (
        theirs.min_value,
        theirs.max_value,
        theirs.get_total_count(),
    )
