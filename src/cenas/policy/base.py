"""The allocation-policy interface, re-exported from the engine layer.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024): a policy maps the observed :class:`State` to
the number of training GPUs. The definitions live in :mod:`cenas.engine.policy_api`, where
the step loop that calls them can import them without importing :mod:`cenas.policy`.
"""

from __future__ import annotations

from cenas.engine.policy_api import Policy, State, clip_gpus

__all__ = ["Policy", "State", "clip_gpus"]
