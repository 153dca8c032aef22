"""The allocation-policy interface, re-exported from the engine layer.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024): a policy maps the observed :class:`State` to
an :class:`Allocation` of the pool (training, estimating and released GPUs) or to a number
of training GPUs. The definitions live in :mod:`cenas.engine.policy_api`, where the step loop
that calls them can import them without importing :mod:`cenas.policy`.
"""

from __future__ import annotations

from cenas.engine.policy_api import (
    Allocation,
    Decision,
    Policy,
    State,
    as_allocation,
    clip_gpus,
    with_cap,
)

__all__ = ["Allocation", "Decision", "Policy", "State", "as_allocation", "clip_gpus", "with_cap"]
