"""The learned GPU allocation of CE-NAS at inference: observation, actions, the policy.

Reference: Zhao, Liu, Jiang, Guo, "CE-NAS: An End-to-End Carbon-Efficient Neural
Architecture Search Framework", NeurIPS 2024. Each hour an agent splits the GPU pool
between cheap estimation and expensive training from the search state and the carbon
forecast.

This package holds only what running a trained policy needs — the observation vector
(:func:`observation`), the action mapping (:func:`action_to_allocation`, and
:func:`action_to_gpus` for its training count) and :class:`RLPolicy`,
a plain numpy network loaded from ``.json`` + ``.npz`` — so that
:mod:`cenas.policy.registry` serves ``rl`` and ``rl-continuous`` without importing the
study layer, gymnasium or torch. Training (the gymnasium environment, the reward, PPO and
evaluation, which build engines through :mod:`cenas.study`) is :mod:`cenas.rl`.

The shipped policies are ``cenas/data/policy/rl-{discrete,continuous}.{json,npz}``
(how they are reproduced: :mod:`cenas.rl`). Loading a policy never unpickles: weights are
a plain ``.npz`` read with ``allow_pickle=False`` and the architecture is JSON.
"""

from __future__ import annotations

from cenas.policy.rl._action import (
    ACTION_KINDS,
    RELEASE_KINDS,
    ActionKind,
    action_to_allocation,
    action_to_gpus,
    allocation_to_action,
)
from cenas.policy.rl._model import (
    FORMAT,
    POLICY_NAMES,
    RLPolicy,
    default_policy_stem,
    load_default_policy,
)
from cenas.policy.rl._obs import FEATURES, feature_names, obs_size, observation

__all__ = [
    "ACTION_KINDS",
    "FEATURES",
    "FORMAT",
    "POLICY_NAMES",
    "RELEASE_KINDS",
    "ActionKind",
    "RLPolicy",
    "action_to_allocation",
    "action_to_gpus",
    "allocation_to_action",
    "default_policy_stem",
    "feature_names",
    "load_default_policy",
    "obs_size",
    "observation",
]
