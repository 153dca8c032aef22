"""Training the learned GPU allocation of CE-NAS: environment, reward, PPO, evaluation.

Reference: Zhao, Liu, Jiang, Guo, "CE-NAS: An End-to-End Carbon-Efficient Neural
Architecture Search Framework", NeurIPS 2024. Each hour an agent splits the GPU pool
between cheap estimation and expensive training from the search state and the carbon
forecast; here it is trained with PPO on historical traces of 2021-2022 and evaluated on
the unseen 2023 traces.

This package sits above :mod:`cenas.study`: every episode's engine is built by
:func:`cenas.study.build_engine`, so the policy trains on the engine it is deployed on. What
running a trained policy needs (observation, action mapping, :class:`RLPolicy`) is
:mod:`cenas.policy.rl`, re-exported here for convenience.

Four action kinds (:mod:`cenas.policy.rl._action`): ``discrete`` and ``continuous`` split
the pool between training and estimation; ``discrete-release`` and ``continuous-release``
also release GPUs (0 W) and see the release observation. Train them with
``cenas policy train --action discrete-release`` (or ``continuous-release``).

The shipped policies (``cenas/data/policy/rl-{discrete,continuous}.{json,npz}``) are
reproduced with::

    cenas policy train --action discrete --timesteps 20000 --seed 0 --out rl-discrete
    cenas policy train --action continuous --timesteps 20000 --seed 0 --out rl-continuous

(defaults: all bundled zones, years 2021-2022, 80-hour episodes on LaMOO with the shipped
transformer's forecasts, 4 environments stepped in subprocesses, the static half split as
behaviour-cloning warm start, validation every 4000 timesteps), then copying
``<out>/best.json`` and ``<out>/best.npz`` — the best export on the validation episodes —
to ``src/cenas/data/policy/rl-<action>.{json,npz}``. Measured times are in
``benchmarks/results/rl-notes.txt`` and in the shipped JSON (``meta.train_seconds``).
"""

from __future__ import annotations

from cenas.policy.rl import (
    ACTION_KINDS,
    FEATURES,
    RLPolicy,
    action_to_gpus,
    feature_names,
    load_default_policy,
    obs_size,
    observation,
)
from cenas.rl._env import (
    TRAIN_YEARS,
    AllocationEnv,
    EnvConfig,
    Episode,
    EpisodeScorer,
    episodes,
    make_engine,
    sample_episode,
)
from cenas.rl._evaluate import (
    EVAL_YEARS,
    EpisodeResult,
    PolicySummary,
    evaluate_policy,
    run_episode,
)
from cenas.rl._reward import RewardTerms, RewardWeights, carbon_normaliser, step_reward
from cenas.rl._train import PPOSettings, TrainResult, export_policy, train_policy

__all__ = [
    "ACTION_KINDS",
    "EVAL_YEARS",
    "FEATURES",
    "TRAIN_YEARS",
    "AllocationEnv",
    "EnvConfig",
    "Episode",
    "EpisodeResult",
    "EpisodeScorer",
    "PPOSettings",
    "PolicySummary",
    "RLPolicy",
    "RewardTerms",
    "RewardWeights",
    "TrainResult",
    "action_to_gpus",
    "carbon_normaliser",
    "episodes",
    "evaluate_policy",
    "export_policy",
    "feature_names",
    "load_default_policy",
    "make_engine",
    "obs_size",
    "observation",
    "run_episode",
    "sample_episode",
    "step_reward",
    "train_policy",
]
