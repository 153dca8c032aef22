"""Train the allocation policy with PPO (stable-baselines3) and export it without pickle.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024), which trains its GPU-allocation
agent with PPO on historical carbon traces. Training here:

* runs ``n_envs`` :class:`~cenas.rl._env.AllocationEnv` copies, each seeded from
  ``seed``: in one process (``DummyVecEnv``, one torch thread) or, with ``parallel``, one
  subprocess each (``SubprocVecEnv``), which spreads the engine — most of the run time —
  over the cores; the result is the same either way;
* warm-starts the actor and the critic by behaviour cloning a rule-based teacher (default:
  the half/half static split, the best rule with LaMOO on the training years) on
  ``warm_episodes`` episodes of the training years — maximum likelihood of the teacher's
  action plus regression of the critic on the teacher's discounted
  returns — so PPO starts from a sensible carbon-aware policy instead of spending its
  small sample budget (the engine simulates a few dozen hours per second) on
  rediscovering it; the validation run at timestep 0 scores the warm start itself;
* uses plain PPO, not MaskablePPO: every split of the pool is a valid action in every
  state (the engine simply idles GPUs that find no work), so there is nothing to mask;
* works with every action kind of :mod:`cenas.policy.rl._action`: SB3 builds a
  ``Discrete``, ``MultiDiscrete`` (``discrete-release``) or diagonal-Gaussian ``Box``
  (``continuous``, ``continuous-release``) head, always one linear layer on the actor's
  last hidden layer, which :func:`export_policy` copies; the teacher's allocations become
  actions through :func:`~cenas.policy.rl.allocation_to_action`;
* saves resumable SB3 checkpoints every ``checkpoint_every`` timesteps, and every
  ``eval_every`` timesteps exports the actor and evaluates it deterministically on fixed
  validation episodes drawn from the *training* years (2023 stays unseen), keeping the
  best export;
* writes ``<out>/policy.{json,npz}`` (the final actor), ``<out>/best.{json,npz}`` (the best
  on validation) and ``<out>/eval.csv`` (the validation curve).

Only the exported ``.json``/``.npz`` files are meant to be shipped or shared; the SB3
checkpoint zips are training artefacts.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cenas.engine.policy_api import Allocation, as_allocation
from cenas.errors import ConfigError
from cenas.policy.rl._action import (
    ACTION_KINDS,
    DEFAULT_LEVELS,
    DEFAULT_RELEASE_LEVELS,
    DISCRETE_KINDS,
    RELEASE_KINDS,
    action_to_allocation,
    allocation_to_action,
)
from cenas.policy.rl._model import RLPolicy
from cenas.policy.rl._obs import observation
from cenas.rl._env import (
    AllocationEnv,
    EnvConfig,
    Episode,
    EpisodeScorer,
    episodes,
    make_engine,
    observe,
)
from cenas.rl._evaluate import run_episode, summarise


@dataclass(frozen=True)
class PPOSettings:
    """PPO hyper-parameters (stable-baselines3 names).

    Attributes:
        n_envs: Environments stepped together (``DummyVecEnv``).
        n_steps: Rollout length per environment between updates.
        batch_size: Minibatch size.
        n_epochs: Passes over each rollout.
        learning_rate: Adam step size.
        gamma: Discount (episodes are 80 steps: close to 1).
        gae_lambda: GAE parameter.
        ent_coef: Entropy bonus (exploration).
        clip_range: PPO clip range.
        hidden: Width of each hidden layer of the actor and the critic.
        log_std_init: Initial log standard deviation of the continuous head.
        warm_start: Rule-based teacher to clone before PPO (``None``: start from scratch).
        warm_episodes: Teacher episodes.
        warm_steps: Gradient steps of the cloning.
        warm_entropy: Entropy bonus during cloning (keeps the policy exploratory).
    """

    n_envs: int = 4
    n_steps: int = 128
    batch_size: int = 128
    n_epochs: int = 10
    learning_rate: float = 3e-4
    gamma: float = 0.995
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    clip_range: float = 0.2
    hidden: tuple[int, ...] = (64, 64)
    log_std_init: float = -1.0
    warm_start: str | None = "static"
    warm_episodes: int = 40
    warm_steps: int = 1500
    warm_entropy: float = 0.02


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_policy` produced.

    Attributes:
        policy: The final exported policy.
        best: The best policy on the validation episodes (the final one if never evaluated).
        out_dir: Output folder.
        timesteps: Environment steps taken.
        seconds: Wall-clock training time.
    """

    policy: RLPolicy
    best: RLPolicy
    out_dir: Path
    timesteps: int
    seconds: float


def export_policy(model: Any, config: EnvConfig, meta: dict[str, Any] | None = None) -> RLPolicy:
    """Copy the actor of an SB3 ``MlpPolicy`` PPO model into an :class:`RLPolicy`.

    The head (``action_net``) is one linear layer for every action space: the logits of a
    ``Discrete`` space, the logits of each ``MultiDiscrete`` dimension one after the other
    (what :meth:`RLPolicy.act` splits), or the Gaussian means of a ``Box``.

    Raises:
        ConfigError: If the model's policy is not the plain MLP actor this expects.
    """
    import torch

    net = model.policy
    layers: list[tuple[Any, Any]] = []
    activation = "tanh"
    for module in net.mlp_extractor.policy_net:
        if isinstance(module, torch.nn.Linear):
            layers.append(
                (module.weight.detach().cpu().numpy(), module.bias.detach().cpu().numpy())
            )
        elif isinstance(module, torch.nn.ReLU):
            activation = "relu"
        elif not isinstance(module, torch.nn.Tanh):
            raise ConfigError(f"cannot export policy layer {type(module).__name__}")
    head = net.action_net
    layers.append((head.weight.detach().cpu().numpy(), head.bias.detach().cpu().numpy()))
    return RLPolicy(
        [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers],
        action=config.action,
        n_levels=config.n_levels,
        horizon=config.horizon,
        activation=activation,
        meta=meta,
        n_release_levels=config.n_release_levels,
        release_obs=config.release_obs,
    )


def teacher_data(
    config: EnvConfig, teacher: str, n_episodes: int, seed: int, gamma: float
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Observations, actions (in the config's action space) and discounted returns of a teacher.

    The teacher's allocation each step becomes the nearest action of the config's kind
    (:func:`~cenas.policy.rl.allocation_to_action`) and the episode runs on with the
    allocation that action maps to, so the states are those the cloned policy would see.
    Actions are a vector for the original kinds and an ``(n, 2)`` array for the release
    kinds.

    Args:
        config: Episodes and reward.
        teacher: Registry name of a rule-based policy.
        n_episodes: Episodes to roll out (drawn from ``seed``).
        seed: Seed of the episode draw.
        gamma: Discount of the returns.
    """
    obs: list[NDArray[np.float32]] = []
    acts: list[NDArray[np.float32]] = []
    rets: list[float] = []
    for ep in episodes(config, n_episodes, seed):
        engine = make_engine(ep, config, policy=teacher)
        scorer = EpisodeScorer(engine, config.reward)
        rewards: list[float] = []
        while not engine.done:
            state = observe(engine)
            alloc = as_allocation(engine.policy.decide(state), config.gpus)
            obs.append(observation(state, config.horizon, config.release_obs))
            act = allocation_to_action(
                alloc, config.action, config.n_levels, config.n_release_levels
            )
            acts.append(act)
            mapped = action_to_allocation(
                act, config.action, config.gpus, config.n_levels, config.n_release_levels
            )
            if config.action not in RELEASE_KINDS:
                mapped = Allocation(alloc.train, config.gpus - alloc.train)
            terms, _ = scorer.step(mapped)
            rewards.append(terms.total)
        g, back = 0.0, []
        for r in reversed(rewards):
            g = r + gamma * g
            back.append(g)
        rets.extend(reversed(back))
    act_array = np.asarray(acts, dtype=np.float32)
    if config.action not in RELEASE_KINDS:
        act_array = act_array.reshape(-1)
    return (
        np.asarray(obs, dtype=np.float32),
        act_array,
        np.asarray(rets, dtype=np.float32),
    )


def warm_start(
    model: Any,
    data: tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]],
    steps: int,
    entropy: float,
    seed: int,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
) -> float:
    """Behaviour-clone ``data`` into an SB3 actor-critic (in place); returns the last loss."""
    import gymnasium as gym
    import torch

    obs, acts, rets = data
    policy = model.policy
    gen = torch.Generator().manual_seed(seed)
    o = torch.as_tensor(obs)
    a = torch.as_tensor(acts)
    space = model.action_space
    if isinstance(space, gym.spaces.Discrete):
        a = a.reshape(-1).long()
    elif isinstance(space, gym.spaces.MultiDiscrete):
        a = a.reshape(-1, len(space.nvec)).long()
    else:
        a = a.reshape(-1, int(np.prod(space.shape)))
    r = torch.as_tensor(rets)
    log_std = getattr(policy, "log_std", None)
    saved_log_std = log_std.detach().clone() if log_std is not None else None
    opt = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    loss_value = float("nan")
    policy.set_training_mode(True)
    for _ in range(steps):
        idx = torch.randint(0, o.shape[0], (min(batch_size, o.shape[0]),), generator=gen)
        values, log_prob, ent = policy.evaluate_actions(o[idx], a[idx])
        loss = -log_prob.mean() + 0.5 * torch.mean((values.flatten() - r[idx]) ** 2)
        if ent is not None:
            loss = loss - entropy * ent.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_value = float(loss.detach())
    if log_std is not None and saved_log_std is not None:
        with torch.no_grad():
            log_std.copy_(saved_log_std)  # keep PPO's exploration noise
    policy.set_training_mode(False)
    return loss_value


def train_command(
    action: str,
    timesteps: int,
    seed: int,
    zones: Sequence[str],
    years: Sequence[int],
    warm_start: str | None = "static",
    optimizer: str = "lamoo",
    signal: str = "forecast",
    n_levels: int = DEFAULT_LEVELS,
    n_release_levels: int = DEFAULT_RELEASE_LEVELS,
    extra: Sequence[str] = (),
) -> str:
    """The ``cenas policy train`` command line that reproduces a training run.

    Level counts appear only where they differ from the defaults (or, for
    ``discrete-release``, always), and ``extra`` options are appended as given, so the
    commands of the original kinds read as before.
    """
    levels: list[str] = []
    if action in DISCRETE_KINDS and (n_levels != DEFAULT_LEVELS or action in RELEASE_KINDS):
        levels.append(f"--levels {n_levels}")
    if action == "discrete-release":
        levels.append(f"--release-levels {n_release_levels}")
    parts = [
        "cenas policy train",
        f"--action {action}",
        f"--timesteps {timesteps}",
        f"--seed {seed}",
        *(f"--zones {z}" for z in zones),
        *(f"--years {y}" for y in years),
        f"--warm-start {warm_start or 'none'}",
        f"--optimizer {optimizer}",
        f"--signal {signal}",
        *levels,
        *extra,
    ]
    return " ".join(parts)


def train_policy(
    action: str = "discrete",
    timesteps: int = 20_000,
    seed: int = 0,
    out_dir: str | Path = "rl-policy",
    *,
    config: EnvConfig | None = None,
    zones: Sequence[str] | None = None,
    years: Sequence[int] | None = None,
    hours: int | None = None,
    ppo: PPOSettings | None = None,
    eval_every: int = 4_000,
    eval_episodes: int = 8,
    checkpoint_every: int = 8_000,
    progress_bar: bool = True,
    verbose: int = 0,
    parallel: bool = False,
    command_extra: Sequence[str] = (),
) -> TrainResult:
    """Train an allocation policy with PPO and export it without pickle.

    The steps: build the environments and the PPO model (:func:`make_model`), clone the
    teacher (:func:`teacher_data`, :func:`warm_start`), learn with periodic validation
    (:class:`Validation`) and checkpoints, then export the final and the best actor.

    Args:
        action: One of :data:`~cenas.policy.rl.ACTION_KINDS`.
        timesteps: Environment steps to train for.
        seed: Seed of the model, the environments and the episode draws.
        out_dir: Output folder (created).
        config: Episode and reward settings (default :class:`EnvConfig`).
        zones: Override the config's zones.
        years: Override the config's years (never include the held-out 2023 for a policy
            you evaluate on 2023).
        hours: Override the episode length.
        ppo: PPO hyper-parameters.
        eval_every: Timesteps between validation runs (0: never).
        eval_episodes: Validation episodes per run.
        checkpoint_every: Timesteps between SB3 checkpoints (0: never).
        progress_bar: Show a progress bar.
        verbose: SB3 verbosity.
        parallel: Step each environment in its own subprocess (the same seed gives the
            same policy either way).
        command_extra: Further ``cenas policy train`` options to record in the
            reproduction command (those the caller set beyond :func:`train_command`'s).

    Returns:
        The final and best exported policies and where they were written.

    Raises:
        ConfigError: For bad arguments.
    """
    import torch

    if timesteps <= 0:
        raise ConfigError(f"timesteps: must be positive, got {timesteps}")
    cfg = training_config(action, config, zones, years, hours)
    settings = ppo or PPOSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    model = make_model(cfg, settings, seed, parallel=parallel, verbose=verbose)
    t0 = time.perf_counter()
    if settings.warm_start is not None:
        data = teacher_data(
            cfg, settings.warm_start, settings.warm_episodes, seed + 20_000, settings.gamma
        )
        warm_start(model, data, settings.warm_steps, settings.warm_entropy, seed)
    command = train_command(
        action,
        timesteps,
        seed,
        cfg.zones,
        cfg.years,
        settings.warm_start,
        optimizer=cfg.optimizer,
        signal=cfg.signal,
        n_levels=cfg.n_levels,
        n_release_levels=cfg.n_release_levels,
        extra=command_extra,
    )
    meta: dict[str, Any] = {
        "command": command,
        "seed": seed,
        "env": _jsonable(cfg.to_dict()),
        "ppo": _jsonable(settings.__dict__),
    }
    val_eps = episodes(cfg, eval_episodes, seed + 10_000) if eval_every > 0 else []
    validation = Validation(model, cfg, meta, val_eps, out)
    if eval_every > 0:
        validation(0)
    model.learn(
        total_timesteps=timesteps,
        callback=_callbacks(validation, eval_every, checkpoint_every, settings.n_envs, out),
        progress_bar=progress_bar,
    )
    seconds = time.perf_counter() - t0
    meta["train_seconds"] = round(seconds, 1)
    meta["timesteps"] = int(model.num_timesteps)
    if eval_every > 0:
        validation(int(model.num_timesteps))
    final = export_policy(model, cfg, meta)
    final.save(out / "policy")
    best = validation.best if validation.best is not None else final
    best.meta.update(meta)
    best.meta["exported_at_timesteps"] = (
        int(model.num_timesteps) if validation.best_step is None else validation.best_step
    )
    best.meta["validation_return"] = validation.best_return
    best.save(out / "best")
    model.get_env().close()
    return TrainResult(
        policy=final, best=best, out_dir=out, timesteps=int(model.num_timesteps), seconds=seconds
    )


def training_config(
    action: str,
    config: EnvConfig | None = None,
    zones: Sequence[str] | None = None,
    years: Sequence[int] | None = None,
    hours: int | None = None,
) -> EnvConfig:
    """The validated episode config of a training run: ``config`` with the overrides
    (``action`` replaces the config's action kind; its level counts stay the config's).

    Raises:
        ConfigError: For an unknown action kind or an invalid config.
    """
    if action not in ACTION_KINDS:
        raise ConfigError(f"action: must be one of {', '.join(ACTION_KINDS)}, got {action!r}")
    changes: dict[str, Any] = {"action": action}
    if zones:
        changes["zones"] = tuple(zones)
    if years:
        changes["years"] = tuple(int(y) for y in years)
    if hours is not None:
        changes["hours"] = hours
    return (config or EnvConfig()).replace(**changes).validate()


def make_model(
    cfg: EnvConfig, settings: PPOSettings, seed: int, parallel: bool = False, verbose: int = 0
) -> Any:
    """The SB3 PPO model over ``settings.n_envs`` seeded environments.

    Environment ``i`` is reset and its action space seeded with ``seed * 1000 + i``; with
    ``parallel`` (and more than one environment) each runs in its own subprocess.
    """
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

    def make(i: int) -> Any:
        def thunk() -> Any:
            env = Monitor(AllocationEnv(cfg))
            env.reset(seed=seed * 1000 + i)
            env.action_space.seed(seed * 1000 + i)
            return env

        return thunk

    thunks = [make(i) for i in range(settings.n_envs)]
    venv: VecEnv
    if parallel and settings.n_envs > 1:
        venv = SubprocVecEnv(thunks, start_method="forkserver")
    else:
        venv = DummyVecEnv(thunks)
    venv.seed(seed)
    policy_kwargs: dict[str, Any] = {
        "net_arch": {"pi": list(settings.hidden), "vf": list(settings.hidden)},
    }
    if cfg.action not in DISCRETE_KINDS:
        policy_kwargs["log_std_init"] = settings.log_std_init
    return PPO(
        "MlpPolicy",
        venv,
        n_steps=settings.n_steps,
        batch_size=settings.batch_size,
        n_epochs=settings.n_epochs,
        learning_rate=settings.learning_rate,
        gamma=settings.gamma,
        gae_lambda=settings.gae_lambda,
        ent_coef=settings.ent_coef,
        clip_range=settings.clip_range,
        policy_kwargs=policy_kwargs,
        seed=seed,
        device="cpu",
        verbose=verbose,
    )


class Validation:
    """Export the actor and score it deterministically on fixed validation episodes.

    Each call appends a row to ``<out>/eval.csv`` and keeps (and saves as
    ``<out>/best``) the export with the highest mean return so far.
    """

    def __init__(
        self,
        model: Any,
        cfg: EnvConfig,
        meta: dict[str, Any],
        val_eps: Sequence[Episode],
        out: Path,
    ) -> None:
        self.model, self.cfg, self.meta, self.val_eps = model, cfg, meta, list(val_eps)
        self.out = out
        self.log_path = out / "eval.csv"
        self.best: RLPolicy | None = None
        self.best_return = -np.inf
        self.best_step: int | None = None
        if self.log_path.exists():
            self.log_path.unlink()

    def __call__(self, step: int, logger: Any | None = None) -> None:
        """Validate the actor as it is at ``step`` timesteps."""
        pol = export_policy(self.model, self.cfg, {**self.meta, "timesteps": step})
        res = summarise([run_episode(pol, ep, self.cfg) for ep in self.val_eps])
        if logger is not None:
            logger.record("eval/mean_return", res.mean_return)
            logger.record("eval/mean_hv_ratio", res.mean_hv_ratio)
            logger.record("eval/mean_carbon_g", res.mean_carbon_g)
        new = not self.log_path.exists()
        with self.log_path.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(["timesteps", "mean_return", "mean_hv_ratio", "mean_carbon_g"])
            writer.writerow(
                [
                    step,
                    f"{res.mean_return:.5f}",
                    f"{res.mean_hv_ratio:.5f}",
                    f"{res.mean_carbon_g:.1f}",
                ]
            )
        if res.mean_return > self.best_return:
            self.best_return = float(res.mean_return)
            self.best_step = step
            self.best = pol
            pol.save(self.out / "best")


def _callbacks(
    validation: Validation, eval_every: int, checkpoint_every: int, n_envs: int, out: Path
) -> Any:
    """SB3 callbacks: validation every ``eval_every`` timesteps, checkpoints."""
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback

    class PeriodicEval(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.last = 0

        def _on_step(self) -> bool:
            if eval_every > 0 and self.num_timesteps - self.last >= eval_every:
                self.last = self.num_timesteps
                validation(self.num_timesteps, self.logger)
            return True

    callbacks: list[BaseCallback] = [PeriodicEval()]
    if checkpoint_every > 0:
        callbacks.append(
            CheckpointCallback(
                save_freq=max(checkpoint_every // n_envs, 1),
                save_path=str(out / "checkpoints"),
                name_prefix=f"ppo-{validation.cfg.action}",
            )
        )
    return CallbackList(callbacks)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


__all__ = [
    "PPOSettings",
    "TrainResult",
    "Validation",
    "export_policy",
    "make_model",
    "teacher_data",
    "train_command",
    "train_policy",
    "training_config",
    "warm_start",
]
