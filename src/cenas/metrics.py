"""Carbon to a hypervolume target, the ratios between policies, and the floor.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024), which reports how many times less
carbon its allocator needs than vanilla NAS to reach a hypervolume target. This module is
the one home of those measures, shared by :mod:`cenas.compare`, the RL evaluation
(:mod:`cenas.rl`) and ``benchmarks/rl.py``:

* :func:`carbon_to_target`: the carbon spent when ``log10(HV_max − HV)`` first reaches a
  target;
* :func:`paired_ratio`: the one definition of "× less carbon than": the **geometric mean
  of per-run ratios** over the runs (seeds or windows) where both sides reached the
  target, paired by seed or window;
* :func:`median_with_misses`: the median carbon to target, a run that never reaches it
  counting as infinite;
* :func:`cheapest_front_subset`: the exact minimum training cost of a subset of Pareto-front
  points whose 2-D hypervolume reaches a threshold (the *floor*), by a label-setting
  search over the front's chain structure, not a greedy bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from cenas.optimize.hypervolume import hypervolume

RATIO_DEFINITION = (
    "geometric mean over paired runs (same seed and window) of per-run carbon ratios, "
    "over the runs where both reached the target"
)
"""What every "× less carbon" figure of cenas means (stored beside the ratios)."""


def carbon_to_target(
    cum_carbon_g: Iterable[float], log_hv_diff: Iterable[float], target: float
) -> tuple[float, int] | None:
    """Carbon spent when ``log10(HV_max − HV)`` first reached ``target``.

    Args:
        cum_carbon_g: Cumulative carbon after each step (grams).
        log_hv_diff: ``log10(HV_max − HV)`` after each step, aligned with ``cum_carbon_g``.
        target: The target ``log10(HV_max − HV)``.

    Returns:
        ``(carbon_g, steps)`` at the first step whose value is ``<= target`` (``steps``
        counts that step), or ``None`` if no step reached it.
    """
    for i, (carbon, diff) in enumerate(zip(cum_carbon_g, log_hv_diff, strict=True)):
        if diff <= target:
            return float(carbon), i + 1
    return None


def median_with_misses(values: Sequence[float | None]) -> float | None:
    """Median over runs where a miss (``None``) counts as infinite carbon.

    Returns:
        The median, or ``None`` when at least half the runs missed (the median would be
        infinite or undefined) or there are no runs.
    """
    got = [v for v in values if v is not None]
    if len(got) * 2 <= len(values):
        return None
    arr = np.array([math.inf if v is None else v for v in values], dtype=np.float64)
    return float(np.median(arr))


def paired_ratio(
    numerators: Sequence[float | None], denominators: Sequence[float | None]
) -> tuple[float | None, int]:
    """Geometric mean of ``numerator / denominator`` over the pairs where both are positive.

    Args:
        numerators: Per-run values (``None``: that run missed the target).
        denominators: Per-run values paired with ``numerators`` (same seed or window).

    Returns:
        ``(geometric mean or None, number of pairs)``.

    Raises:
        ValueError: If the sequences differ in length.
    """
    if len(numerators) != len(denominators):
        raise ValueError(f"unpaired runs: {len(numerators)} against {len(denominators)}")
    logs = [
        math.log(a / b)
        for a, b in zip(numerators, denominators, strict=True)
        if a is not None and b is not None and a > 0 and b > 0
    ]
    if not logs:
        return None, 0
    return float(math.exp(sum(logs) / len(logs))), len(logs)


def cheapest_front_subset(
    points: ArrayLike, costs: ArrayLike, ref: ArrayLike, need: float
) -> float | None:
    """Exact minimum total cost of a subset of 2-D points whose hypervolume reaches ``need``.

    An optimal subset never holds a point that another chosen point dominates (dropping it
    keeps the hypervolume and lowers the cost), so it is a chain of mutually non-dominated
    points. Sorted by the first objective (the second then decreases), the hypervolume of a
    chain ``p_1 … p_m`` is ``Σ_k (r_1 − y_k)(x_{k+1} − x_k)`` with ``x_{m+1} = r_0``: each
    point's share depends only on the next chosen one. The search walks the points in that
    order keeping, at each, the labels (cost so far, hypervolume closed so far) that no
    other label beats on both, and drops labels that cost at least the best complete
    subset found. This is exact: a label beaten on both cannot lead to a cheaper subset
    than the one that beats it, and no other label is dropped.

    Args:
        points: Minimisation objectives ``(n, 2)``; points outside the reference box
            contribute nothing and are never chosen.
        costs: Non-negative cost of each point.
        ref: Reference point ``(2,)``.
        need: Hypervolume to reach.

    Returns:
        The minimum cost, or ``None`` if even all points together fall short of ``need``.

    Raises:
        ValueError: For other than two objectives or mismatched shapes.
    """
    ys = np.asarray(points, dtype=np.float64)
    cs = np.asarray(costs, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    if ys.ndim != 2 or ys.shape[1] != 2 or r.shape != (2,):
        raise ValueError(f"the floor is defined for two objectives, got points {ys.shape}")
    if cs.shape != (ys.shape[0],):
        raise ValueError(f"{cs.shape[0]} costs for {ys.shape[0]} points")
    if need <= 0:
        return 0.0
    inside = np.all(ys < r, axis=1)
    ys, cs = ys[inside], cs[inside]
    # identical points: only the cheapest can be worth choosing
    best_of: dict[tuple[float, float], float] = {}
    for (x, y), c in zip(map(tuple, ys), cs, strict=True):
        best_of[(x, y)] = min(float(c), best_of.get((x, y), math.inf))
    pts = sorted(best_of)
    n = len(pts)
    if not n or hypervolume(np.array(pts), r) < need:
        return None
    best = math.inf
    labels: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    for j, (xj, yj) in enumerate(pts):
        cj = best_of[(xj, yj)]
        cand: list[tuple[float, float]] = [(cj, 0.0)]
        for i in range(j):
            xi, yi = pts[i]
            if not (xi < xj and yi > yj):
                continue  # an optimal subset never holds a point another one dominates
            gain = (r[1] - yi) * (xj - xi)
            cand.extend((c + cj, h + gain) for c, h in labels[i])
        kept: list[tuple[float, float]] = []
        for c, h in sorted(cand, key=lambda t: (t[0], -t[1])):
            if c >= best:
                break
            if kept and kept[-1][1] >= h:
                continue  # a cheaper (or equal) label already closes as much
            kept.append((c, h))
            if h + (r[1] - yj) * (r[0] - xj) >= need:
                best = c  # complete here; costlier labels cannot beat it
                break
        labels[j] = kept
    return None if math.isinf(best) else best


__all__ = [
    "RATIO_DEFINITION",
    "carbon_to_target",
    "cheapest_front_subset",
    "median_with_misses",
    "paired_ratio",
]
