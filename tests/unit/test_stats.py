"""tools.stats.percentile: the nearest-rank percentile every bench and fault report prints."""

import math

from tools.stats import percentile


def test_nearest_rank_of_unsorted_values():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.95) == 5.0
    assert percentile(values, 0.0) == 1.0
    assert percentile(range(1, 101), 0.95) == 96


def test_no_values_is_nan():
    assert math.isnan(percentile([], 0.95))
