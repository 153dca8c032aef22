"""The action spaces of the learned allocation policy and their mapping onto the GPU pool.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024), whose agent splits the GPU pool
between estimation and training every hour. Here a step's split may also *release* GPUs
(returned or powered down: 0 W, no work; :class:`~cenas.engine.policy_api.Allocation`).
Four action kinds, with ``n = n_gpus`` and ``round(x) = floor(x + 0.5)`` (half up):

* ``discrete``: ``k`` levels (default 10, as in CE-NAS); level ``i`` trains a share
  ``i / (k − 1)`` of the pool; the rest estimate;
* ``continuous``: a share in [0, 1] trains; the rest estimate;
* ``discrete-release``: a pair of levels ``(i, j)`` (gymnasium ``MultiDiscrete([k, m])``,
  default ``m = 5``): ``train = round(i / (k − 1) · n)``; of the ``rest = n − train`` GPUs
  not training, ``release = round(j / (m − 1) · rest)`` are released and the others
  estimate;
* ``continuous-release``: a pair of shares ``(a, b)`` in [0, 1]² (a ``Box`` of shape
  ``(2,)``, each clipped into [0, 1]): ``train = round(a · n)``, ``release = round(b · rest)``,
  the others estimate.

So every kind covers "all train" (``i = k − 1`` or ``a = 1``: nothing left to release), and
the release kinds cover "all release" (``i = 0, j = m − 1`` or ``a = 0, b = 1``); releasing
never takes a training GPU. :func:`action_to_allocation` is the one mapping; the old
:func:`action_to_gpus` is its number of training GPUs (for the two original kinds the rest
estimate). Both the inference side (:class:`cenas.policy.rl.RLPolicy`) and the training
environment (:class:`cenas.rl.AllocationEnv`) map actions through it, and
:func:`allocation_to_action` is its inverse (up to rounding) that turns a teacher rule's
allocation into an action for behaviour cloning.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from cenas.errors import ConfigError
from cenas.policy.base import Allocation

ActionKind = Literal["discrete", "continuous", "discrete-release", "continuous-release"]
ACTION_KINDS: tuple[str, ...] = (
    "discrete",
    "continuous",
    "discrete-release",
    "continuous-release",
)
RELEASE_KINDS: tuple[str, ...] = ("discrete-release", "continuous-release")
"""Kinds whose action also releases GPUs."""
DISCRETE_KINDS: tuple[str, ...] = ("discrete", "discrete-release")
"""Kinds whose network outputs logits over levels."""
DEFAULT_LEVELS = 10
"""Training-share levels of the discrete kinds."""
DEFAULT_RELEASE_LEVELS = 5
"""Release-share levels of ``discrete-release`` (0, 1/4, 1/2, 3/4, all of the rest)."""


def _check_kind(kind: str) -> None:
    if kind not in ACTION_KINDS:
        raise ConfigError(f"action: must be one of {', '.join(ACTION_KINDS)}, got {kind!r}")


def _round_share(share: float, n: int) -> int:
    """``floor(share · n + 0.5)`` clipped into ``[0, n]``."""
    return int(min(max(math.floor(share * n + 0.5), 0), n))


def _entries(action: Any, count: int, dtype: type) -> NDArray[Any]:
    """The first ``count`` entries of an action (a scalar, a sequence or an array)."""
    flat: NDArray[Any] = np.asarray(action, dtype=dtype).reshape(-1)
    if flat.size < count:
        raise ConfigError(f"action: expected {count} entries, got {flat.size}")
    return flat[:count]


def _level_share(level: Any, n_levels: int) -> float:
    level = min(max(int(level), 0), n_levels - 1)
    return level / (n_levels - 1)


def action_to_allocation(
    action: Any,
    kind: str,
    n_gpus: int,
    n_levels: int = DEFAULT_LEVELS,
    n_release_levels: int = DEFAULT_RELEASE_LEVELS,
) -> Allocation:
    """Map an action onto the pool (see the module docstring for each kind).

    Args:
        action: A level (``discrete``), a share (``continuous``), a pair of levels
            (``discrete-release``) or a pair of shares (``continuous-release``); scalars,
            sequences or numpy arrays. Levels are clipped into their range, shares into
            [0, 1].
        kind: One of :data:`ACTION_KINDS`.
        n_gpus: GPUs in the pool.
        n_levels: Training levels of the discrete kinds (``k``).
        n_release_levels: Release levels of ``discrete-release`` (``m``).

    Returns:
        An allocation of exactly ``n_gpus`` GPUs.

    Raises:
        ConfigError: For an unknown kind or an action with too few entries.
    """
    _check_kind(kind)
    if kind in DISCRETE_KINDS:
        levels = _entries(action, 2 if kind == "discrete-release" else 1, np.int64)
        train_share = _level_share(levels[0], n_levels)
        release_share = (
            _level_share(levels[1], n_release_levels) if kind == "discrete-release" else 0.0
        )
    else:
        shares = np.clip(
            _entries(action, 2 if kind == "continuous-release" else 1, np.float64), 0.0, 1.0
        )
        train_share = float(shares[0])
        release_share = float(shares[1]) if kind == "continuous-release" else 0.0
    train = _round_share(train_share, n_gpus)
    rest = n_gpus - train
    release = _round_share(release_share, rest)
    return Allocation(train=train, estimate=rest - release, release=release)


def action_to_gpus(action: Any, kind: str, n_gpus: int, n_levels: int = DEFAULT_LEVELS) -> int:
    """Map an action to a number of training GPUs (the train count of
    :func:`action_to_allocation`).

    Args:
        action: A level in ``[0, n_levels)`` (discrete) or a share (continuous; a scalar or
            a length-1 array, clipped into [0, 1]); for the release kinds, their pair.
        kind: One of :data:`ACTION_KINDS`.
        n_gpus: GPUs in the pool.
        n_levels: Levels of the discrete space.

    Returns:
        ``floor(share · n_gpus + 0.5)``, in ``[0, n_gpus]``.
    """
    return action_to_allocation(action, kind, n_gpus, n_levels).train


def action_width(
    kind: str, n_levels: int = DEFAULT_LEVELS, n_release_levels: int = DEFAULT_RELEASE_LEVELS
) -> int:
    """Outputs of the actor network for ``kind``: logits of every level, or the shares."""
    _check_kind(kind)
    return {
        "discrete": n_levels,
        "continuous": 1,
        "discrete-release": n_levels + n_release_levels,
        "continuous-release": 2,
    }[kind]


def _nearest_level(share: float, n: int, n_levels: int) -> int:
    """The level whose rounded GPU count is closest to ``share · n`` (lowest on ties)."""
    counts = np.array([_round_share(i / (n_levels - 1), n) for i in range(n_levels)])
    target = share * n
    return int(np.argmin(np.abs(counts - target) + 1e-3 * np.arange(n_levels)))


def allocation_to_action(
    alloc: Allocation,
    kind: str,
    n_levels: int = DEFAULT_LEVELS,
    n_release_levels: int = DEFAULT_RELEASE_LEVELS,
) -> NDArray[np.float32]:
    """The action of ``kind`` closest to ``alloc`` (the teacher's target when cloning).

    Discrete kinds take the level whose GPU count is nearest (the lowest level on a tie);
    continuous kinds the exact shares. A kind that cannot release maps only the training
    count.

    Returns:
        A float32 vector: one entry (``discrete``, ``continuous``) or two.
    """
    _check_kind(kind)
    n = alloc.n_gpus
    rest = n - alloc.train
    if kind == "discrete":
        return np.array([_nearest_level(alloc.train / max(n, 1), n, n_levels)], np.float32)
    if kind == "continuous":
        return np.array([alloc.train / max(n, 1)], np.float32)
    if kind == "discrete-release":
        i = _nearest_level(alloc.train / max(n, 1), n, n_levels)
        rest = n - _round_share(i / (n_levels - 1), n)
        j = _nearest_level(alloc.release / rest if rest else 0.0, rest, n_release_levels)
        return np.array([i, j], np.float32)
    return np.array([alloc.train / max(n, 1), alloc.release / rest if rest else 0.0], np.float32)


__all__ = [
    "ACTION_KINDS",
    "DEFAULT_LEVELS",
    "DEFAULT_RELEASE_LEVELS",
    "DISCRETE_KINDS",
    "RELEASE_KINDS",
    "ActionKind",
    "action_to_allocation",
    "action_to_gpus",
    "action_width",
    "allocation_to_action",
]
