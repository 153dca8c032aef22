"""The shared measures: carbon to target, paired ratios, the median with misses, the floor."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from cenas.metrics import (
    carbon_to_target,
    cheapest_front_subset,
    median_with_misses,
    paired_ratio,
)
from cenas.optimize.hypervolume import hypervolume


def test_carbon_to_target_is_the_first_step_at_or_below_the_target() -> None:
    carbon = [10.0, 25.0, 40.0, 60.0]
    diff = [2.0, 0.6, 0.5, 0.1]
    assert carbon_to_target(carbon, diff, 0.5) == (40.0, 3)
    assert carbon_to_target(carbon, diff, 2.0) == (10.0, 1)
    assert carbon_to_target(carbon, diff, 0.05) is None


def test_median_counts_a_miss_as_infinite_and_refuses_half_misses() -> None:
    assert median_with_misses([1.0, 2.0, None]) == 2.0  # median of (1, 2, inf)
    assert median_with_misses([4.0, 1.0, None, 3.0]) == 3.5  # median of (1, 3, 4, inf)
    assert median_with_misses([1.0, None]) is None
    assert median_with_misses([]) is None


def test_paired_ratio_is_the_geometric_mean_over_seeds_both_reached() -> None:
    ratio, pairs = paired_ratio([400.0, 900.0, None, 50.0], [100.0, 300.0, 450.0, None])
    assert pairs == 2
    assert ratio == pytest.approx(math.sqrt(4.0 * 3.0), rel=1e-12)
    assert paired_ratio([None], [1.0]) == (None, 0)
    with pytest.raises(ValueError, match="unpaired"):
        paired_ratio([1.0], [1.0, 2.0])


def test_floor_beats_the_cheapest_first_greedy() -> None:
    # A and C are cheap but cover little; B alone covers 0.25 at cost 3. Taking cells
    # cheapest first (A, C: hypervolume 0.17; then B) costs 5.
    points = np.array([[0.1, 0.9], [0.5, 0.5], [0.9, 0.1]])
    costs = np.array([1.0, 3.0, 1.0])
    ref = np.array([1.0, 1.0])
    assert cheapest_front_subset(points, costs, ref, 0.25) == 3.0
    assert cheapest_front_subset(points, costs, ref, 0.169) == 2.0  # A and C: 0.17
    assert cheapest_front_subset(points, costs, ref, 0.30) == 5.0  # all three (0.33)
    assert cheapest_front_subset(points, costs, ref, 0.34) is None
    assert cheapest_front_subset(points, costs, ref, 0.0) == 0.0


def test_floor_matches_exhaustive_search_on_random_sets() -> None:
    rng = np.random.default_rng(7)
    ref = np.array([1.0, 1.0])
    for trial in range(60):
        n = int(rng.integers(1, 8))
        if trial % 2:  # a front: x rises, y falls
            points = np.c_[np.sort(rng.random(n)), np.sort(rng.random(n))[::-1]]
        else:  # any points, dominated and outside the box included
            points = rng.random((n, 2)) * 1.1
        costs = rng.random(n)
        need = hypervolume(points, ref) * float(rng.random())
        best = math.inf
        for k in range(1, n + 1):
            for sel in map(list, itertools.combinations(range(n), k)):
                if hypervolume(points[sel], ref) >= need:
                    best = min(best, float(costs[sel].sum()))
        got = cheapest_front_subset(points, costs, ref, need)
        if math.isinf(best):
            assert got is None
        else:
            assert got == pytest.approx(best, abs=1e-12)
