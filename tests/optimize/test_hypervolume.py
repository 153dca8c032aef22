"""Hypervolume helpers against closed-form cases."""

from __future__ import annotations

import numpy as np
import pytest

from cenas.optimize import (
    dominance_number,
    hypervolume,
    log_hv_difference,
    nondominated_mask,
    pareto_front,
)
from cenas.optimize._lamoo import dominance_matrix
from cenas.optimize._qnehvi import hv_improvement_2d


def test_single_point_is_a_box() -> None:
    assert hypervolume([[1.0, 2.0]], [3.0, 5.0]) == pytest.approx(2.0 * 3.0)
    assert hypervolume([[-90.0, 2.0]], [0.0, 10.0]) == pytest.approx(90.0 * 8.0)


def test_two_points_union_of_boxes() -> None:
    # boxes [1,4]x[3,4] (area 3) and [2,4]x[1,4] (area 6) overlap on [2,4]x[3,4] (area 2)
    assert hypervolume([[1.0, 3.0], [2.0, 1.0]], [4.0, 4.0]) == pytest.approx(7.0)


def test_dominated_and_duplicate_points_add_nothing() -> None:
    base = hypervolume([[1.0, 3.0], [2.0, 1.0]], [4.0, 4.0])
    more = [[1.0, 3.0], [2.0, 1.0], [3.0, 3.0], [2.0, 1.0]]
    assert hypervolume(more, [4.0, 4.0]) == pytest.approx(base)


def test_points_outside_or_on_the_reference_count_zero() -> None:
    ref = [4.0, 4.0]
    assert hypervolume([[5.0, 1.0]], ref) == 0.0
    assert hypervolume([[1.0, 4.0]], ref) == 0.0  # on the boundary: no volume
    assert hypervolume([[5.0, 1.0], [1.0, 3.0]], ref) == pytest.approx(3.0)
    assert hypervolume(np.empty((0, 2)), ref) == 0.0


def test_three_objectives() -> None:
    assert hypervolume([[0.0, 0.0, 0.0]], [1.0, 2.0, 3.0]) == pytest.approx(6.0)


def test_mismatched_dimensions_raise() -> None:
    with pytest.raises(ValueError):
        hypervolume([[1.0, 2.0, 3.0]], [4.0, 4.0])


def test_front_and_mask() -> None:
    pts = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [3.0, 3.0], [1.0, 3.0]])
    np.testing.assert_array_equal(nondominated_mask(pts), [True, True, True, False, True])
    np.testing.assert_array_equal(
        pareto_front(pts), [[1.0, 3.0], [1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]
    )


def test_dominance_number_on_crafted_set() -> None:
    pts = np.array(
        [
            [1.0, 1.0],  # dominates everything else
            [2.0, 2.0],  # dominated by a
            [3.0, 1.0],  # dominated by a only
            [1.0, 3.0],  # dominated by a only
            [2.0, 2.0],  # duplicate of b: equal points do not dominate each other
            [3.0, 3.0],  # dominated by a, b, c, d, e
        ]
    )
    np.testing.assert_array_equal(dominance_number(pts), [0, 1, 1, 1, 1, 5])
    np.testing.assert_array_equal(dominance_matrix(pts).sum(axis=1), [0, 1, 1, 1, 1, 5])


def test_dominance_matrix_matches_dominance_number() -> None:
    rng = np.random.default_rng(0)
    pts = rng.integers(0, 6, size=(300, 2)).astype(float)  # many ties
    d = dominance_matrix(pts)
    np.testing.assert_array_equal(d.sum(axis=1), dominance_number(pts))
    sub = rng.choice(300, 40, replace=False)
    np.testing.assert_array_equal(d[np.ix_(sub, sub)].sum(axis=1), dominance_number(pts[sub]))


def test_hv_improvement_2d_matches_hypervolume_difference() -> None:
    rng = np.random.default_rng(1)
    ref = np.array([1.0, 1.0])
    front = rng.uniform(0.0, 1.2, size=(12, 2))
    cands = rng.uniform(-0.1, 1.1, size=(50, 2))
    got = hv_improvement_2d(cands, front, ref)
    base = hypervolume(front, ref)
    want = [hypervolume(np.vstack([front, c]), ref) - base for c in cands]
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(
        hv_improvement_2d(cands, np.empty((0, 2)), ref),
        [hypervolume(c[None], ref) for c in cands],
        atol=1e-12,
    )


def test_log_hv_difference() -> None:
    assert log_hv_difference(90.0, 100.0) == pytest.approx(1.0)
    assert log_hv_difference(100.0, 100.0) == pytest.approx(-12.0)
