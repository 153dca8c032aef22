"""Hypervolume helpers on moocore (all objectives minimised).

Everything in :mod:`cenas.optimize` works on *minimisation* arrays of shape ``(n, m)``;
a task converts its natural objectives (e.g. accuracy to maximise) with
``to_minimization``. The hypervolume itself is computed by moocore (López-Ibáñez et al.),
never by hand.
"""

from __future__ import annotations

import math

import moocore
import numpy as np
from numpy.typing import ArrayLike, NDArray


def _as_2d(points: ArrayLike, ref: ArrayLike | None = None) -> NDArray[np.float64]:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1:
        m = arr.shape[0] if ref is None else np.asarray(ref).shape[0]
        arr = arr.reshape(-1, m) if arr.size else np.empty((0, m))
    if arr.ndim != 2:
        raise ValueError(f"points must be a 2-D array (n, m), got shape {arr.shape}")
    return arr


def hypervolume(points: ArrayLike, ref: ArrayLike) -> float:
    """Hypervolume dominated by ``points`` and bounded by the reference point ``ref``.

    Points that do not strictly dominate ``ref`` contribute nothing.

    Args:
        points: Minimisation objectives, ``(n, m)``.
        ref: Reference point, ``(m,)``.

    Returns:
        The hypervolume (0.0 for an empty set).
    """
    ref_arr = np.asarray(ref, dtype=np.float64)
    arr = _as_2d(points, ref_arr)
    if arr.shape[0] == 0:
        return 0.0
    if arr.shape[1] != ref_arr.shape[0]:
        raise ValueError(f"points have {arr.shape[1]} objectives, ref has {ref_arr.shape[0]}")
    inside = np.all(arr < ref_arr, axis=1)
    if not inside.any():
        return 0.0
    return float(moocore.hypervolume(arr[inside], ref=ref_arr))


def nondominated_mask(points: ArrayLike) -> NDArray[np.bool_]:
    """Boolean mask of the non-dominated rows of ``points`` (minimisation).

    Duplicated non-dominated points are all kept.
    """
    arr = _as_2d(points)
    if arr.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(moocore.is_nondominated(arr, keep_weakly=True), dtype=bool)


def pareto_front(points: ArrayLike) -> NDArray[np.float64]:
    """The non-dominated rows of ``points``, sorted by the first objective."""
    arr = _as_2d(points)
    front = arr[nondominated_mask(arr)]
    return front[np.lexsort(front.T[::-1])]


def dominance_number(points: ArrayLike) -> NDArray[np.int64]:
    """For each point, how many other points dominate it (0 on the Pareto front).

    A point ``a`` dominates ``b`` when ``a <= b`` in every objective and ``a < b`` in one.
    This is the ranking LaMOO uses to label good and bad samples.
    """
    arr = _as_2d(points)
    n = arr.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    # Blocked to keep memory at O(block * n); one 2-D comparison per objective is much
    # faster than reducing a (block, n, m) array over its short last axis.
    block = 1024
    for start in range(0, n, block):
        sub = arr[start : start + block]
        le = np.ones((sub.shape[0], n), dtype=bool)
        lt = np.zeros((sub.shape[0], n), dtype=bool)
        for j in range(arr.shape[1]):
            col, mine = arr[:, j], sub[:, j : j + 1]
            le &= col[None, :] <= mine
            lt |= col[None, :] < mine
        counts[start : start + block] = np.sum(le & lt, axis=1)
    return counts


def log_hv_difference(hv: float, hv_max: float, floor: float = 1e-12) -> float:
    """``log10(HV_max - HV)``, the regret measure of CE-NAS and LaMOO.

    Args:
        hv: Hypervolume reached.
        hv_max: Hypervolume of the true Pareto front.
        floor: Smallest difference taken, so that reaching the optimum gives a finite value.
    """
    return math.log10(max(hv_max - hv, floor))


def hypervolume_gains(
    front: ArrayLike, points: ArrayLike, ref_point: ArrayLike
) -> NDArray[np.float64]:
    """Hypervolume each of ``points`` would add to ``front`` on its own, ``(n,)``.

    The reference point is ``ref_point`` pushed out to cover every point and the front (plus
    1e-6); a point weakly dominated by the front adds nothing and is not computed.
    """
    f, p = _as_2d(front), _as_2d(points)
    ref = np.maximum(np.maximum(p.max(axis=0), f.max(axis=0)), np.asarray(ref_point)) + 1e-6
    covered = np.all(f[None, :, :] <= p[:, None, :], axis=2).any(axis=1)
    gains = np.zeros(p.shape[0])
    if covered.all():
        return gains
    base = hypervolume(f, ref)
    for i in np.flatnonzero(~covered):
        gains[i] = hypervolume(np.vstack([f, p[i][None, :]]), ref) - base
    return gains


__all__ = [
    "dominance_number",
    "hypervolume",
    "hypervolume_gains",
    "log_hv_difference",
    "nondominated_mask",
    "pareto_front",
]
