"""The action space of the learned allocation policy and its mapping onto the GPU pool.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024), whose agent splits the GPU pool
between estimation and training every hour. Two action kinds:

* ``discrete``: ``k`` levels (default 10, as in CE-NAS); level ``i`` trains a share
  ``i / (k − 1)`` of the pool;
* ``continuous``: a share in [0, 1].

Either way the share becomes ``floor(share · n_gpus + 0.5)`` training GPUs. Both the
inference side (:class:`cenas.policy.rl.RLPolicy`) and the training environment
(:class:`cenas.rl.AllocationEnv`) map actions through :func:`action_to_gpus`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from cenas.errors import ConfigError

ActionKind = Literal["discrete", "continuous"]
ACTION_KINDS: tuple[str, ...] = ("discrete", "continuous")


def action_to_gpus(action: Any, kind: str, n_gpus: int, n_levels: int = 10) -> int:
    """Map an action to a number of training GPUs.

    Args:
        action: A level in ``[0, n_levels)`` (discrete) or a share (continuous; a scalar or
            a length-1 array, clipped into [0, 1]).
        kind: ``discrete`` or ``continuous``.
        n_gpus: GPUs in the pool.
        n_levels: Levels of the discrete space.

    Returns:
        ``floor(share · n_gpus + 0.5)``, in ``[0, n_gpus]``.
    """
    if kind == "discrete":
        level = int(np.asarray(action).reshape(-1)[0])
        level = min(max(level, 0), n_levels - 1)
        share = level / (n_levels - 1)
    elif kind == "continuous":
        share = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], 0.0, 1.0))
    else:
        raise ConfigError(f"action: must be one of {', '.join(ACTION_KINDS)}, got {kind!r}")
    return int(min(max(math.floor(share * n_gpus + 0.5), 0), n_gpus))


__all__ = ["ACTION_KINDS", "ActionKind", "action_to_gpus"]
