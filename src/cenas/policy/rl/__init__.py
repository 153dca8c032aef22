"""Learned GPU allocation for CE-NAS: environment, reward, policy, training, evaluation.

Reference: Zhao, Liu, Jiang, Guo, "CE-NAS: An End-to-End Carbon-Efficient Neural
Architecture Search Framework", NeurIPS 2024. Each hour an agent splits the GPU pool
between cheap estimation and expensive training from the search state and the carbon
forecast; here it is trained with PPO on historical traces of 2021-2022 and evaluated on
the unseen 2023 traces.

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

Loading a policy never unpickles: weights are a plain ``.npz`` read with
``allow_pickle=False`` and the architecture is JSON.
"""

from __future__ import annotations

from cenas.policy.rl._env import (
    ACTION_KINDS,
    TRAIN_YEARS,
    AllocationEnv,
    EnvConfig,
    Episode,
    EpisodeScorer,
    action_to_gpus,
    episodes,
    make_engine,
    sample_episode,
)
from cenas.policy.rl._evaluate import (
    EVAL_YEARS,
    EpisodeResult,
    PolicySummary,
    evaluate_policy,
    run_episode,
)
from cenas.policy.rl._model import RLPolicy, load_default_policy
from cenas.policy.rl._obs import FEATURES, feature_names, obs_size, observation
from cenas.policy.rl._reward import RewardTerms, RewardWeights, carbon_normaliser, step_reward
from cenas.policy.rl._train import PPOSettings, TrainResult, export_policy, train_policy

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
