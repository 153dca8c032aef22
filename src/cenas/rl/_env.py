"""A gymnasium environment over the CE-NAS engine: one env step is one scheduling step.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024), which learns the split of the GPU
pool between estimation and training with reinforcement learning. Every ``reset`` draws an
episode — a task seed, a window of a bundled carbon trace (zone and start hour) and a
carbon budget — and builds a fresh :class:`~cenas.engine.loop.Engine` through
:func:`cenas.study.build_engine`; every ``step`` runs one hour with the chosen number of
training GPUs (and, with a release kind, released GPUs) and returns the reward of
:mod:`cenas.rl._reward`.

Actions (see :func:`cenas.policy.rl.action_to_allocation`, whose docstring has the exact
rounding):

* ``discrete``: ``k`` levels (default 10, as in CE-NAS); level ``i`` trains a share
  ``i / (k − 1)`` of the pool, the rest estimate (``Discrete(k)``);
* ``continuous``: a share in [0, 1] (a ``Box`` of shape ``(1,)``);
* ``discrete-release``: ``MultiDiscrete([k, m])`` (default ``m = 5``): a training level as
  above and a release level ``j``: a share ``j / (m − 1)`` of the GPUs not training is
  released (0 W, no work), the others estimate;
* ``continuous-release``: a ``Box`` of shape ``(2,)`` in [0, 1]²: the training share and the
  released share of the rest.

The release kinds observe the release observation (:mod:`cenas.policy.rl._obs`: the
original features plus the GPUs released in the previous step and the release delay).

The forecast in the observation is either the trace's own future (``signal="actual"``) or,
as CE-NAS deploys it, the shipped transformer forecaster of the zone (``signal="forecast"``):
each hour's forecast is issued from the data before that hour only, over the zone's whole
bundled history, so windows early in a year see the end of the year before. Episodes then
start no earlier than the forecaster's input window allows.

Every kind's training share becomes ``floor(share · n_gpus + 0.5)`` training GPUs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from cenas.carbon import BUNDLED_ZONES, CarbonTrace, load_bundled
from cenas.engine.energy import PowerModel
from cenas.engine.loop import Engine
from cenas.engine.signal import CarbonSignal, NextHoursForecast
from cenas.errors import CenasError, ConfigError
from cenas.policy.base import Allocation, Decision, State
from cenas.policy.rl._action import (
    ACTION_KINDS,
    DEFAULT_RELEASE_LEVELS,
    RELEASE_KINDS,
    action_to_allocation,
)
from cenas.policy.rl._obs import DEFAULT_HORIZON, obs_bounds, observation
from cenas.rl._reward import (
    RewardTerms,
    RewardWeights,
    carbon_normaliser,
    step_reward,
)

SIGNALS: tuple[str, ...] = ("actual", "forecast")

TRAIN_YEARS: tuple[int, ...] = (2021, 2022)
"""Years episodes are drawn from by default; 2023 is held out for evaluation."""


@dataclass(frozen=True)
class EnvConfig:
    """What episodes an :class:`AllocationEnv` draws and how it scores them.

    Attributes:
        zones: Bundled zones to draw windows from.
        years: Bundled years to draw windows from (each window lies within one year).
        hours: Episode length (time budget) in hours.
        gpus: GPUs in the pool.
        budget_range_g: Carbon budgets are drawn log-uniformly from this range (grams).
        task: Benchmark task.
        optimizer: Optimiser name (LaMOO by default: the engine the policy is deployed on).
        estimator: Estimator name.
        action: One of :data:`~cenas.policy.rl.ACTION_KINDS`.
        n_levels: Training levels of the discrete kinds.
        n_release_levels: Release levels of ``discrete-release``.
        horizon: Forecast hours in the observation.
        signal: ``actual`` (the trace's future is the forecast) or ``forecast`` (the shipped
            transformer of the zone, issued hour by hour without look-ahead).
        reward: Reward weights.
        power: GPU power model.
        study: Further :class:`~cenas.config.StudyConfig` fields for every episode's engine
            (e.g. ``{"queue_policy": "block"}``); by default the study defaults apply, so
            the policy trains on the engine it will be deployed on.
    """

    zones: tuple[str, ...] = BUNDLED_ZONES
    years: tuple[int, ...] = TRAIN_YEARS
    hours: int = 80
    gpus: int = 8
    budget_range_g: tuple[float, float] = (4_000.0, 24_000.0)
    task: str = "nb201-cifar10-fpga"
    optimizer: str = "lamoo"
    estimator: str = "low-fidelity"
    action: str = "discrete"
    n_levels: int = 10
    n_release_levels: int = DEFAULT_RELEASE_LEVELS
    horizon: int = DEFAULT_HORIZON
    signal: str = "forecast"
    reward: RewardWeights = field(default_factory=RewardWeights)
    power: PowerModel = field(default_factory=PowerModel)
    study: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> EnvConfig:
        """Check the fields; raise :class:`ConfigError` with a one-line message."""
        if not self.zones:
            raise ConfigError("zones: give at least one zone")
        unknown = [z for z in self.zones if z not in BUNDLED_ZONES]
        if unknown:
            raise ConfigError(
                f"zones: unknown {unknown[0]!r}; bundled zones are {', '.join(BUNDLED_ZONES)}"
            )
        if not self.years:
            raise ConfigError("years: give at least one year")
        if self.hours <= 0:
            raise ConfigError(f"hours: must be positive, got {self.hours}")
        if self.gpus <= 0:
            raise ConfigError(f"gpus: must be positive, got {self.gpus}")
        lo, hi = self.budget_range_g
        if not 0 < lo <= hi:
            raise ConfigError(f"budget range: need 0 < low <= high, got {lo}..{hi}")
        if self.action not in ACTION_KINDS:
            raise ConfigError(
                f"action: must be one of {', '.join(ACTION_KINDS)}, got {self.action!r}"
            )
        if self.n_levels < 2:
            raise ConfigError(f"levels: need at least 2, got {self.n_levels}")
        if self.n_release_levels < 2:
            raise ConfigError(f"release levels: need at least 2, got {self.n_release_levels}")
        if self.horizon < 1:
            raise ConfigError(f"horizon: must be positive, got {self.horizon}")
        if self.signal not in SIGNALS:
            raise ConfigError(f"signal: must be one of {', '.join(SIGNALS)}, got {self.signal!r}")
        if self.signal == "forecast":
            for zone in self.zones:
                _zone_forecast(zone, self.horizon)
        for zone in self.zones:
            for year in self.years:
                trace = _trace(zone, year)
                if len(trace) < self.hours + self.horizon:
                    raise ConfigError(
                        f"hours: {zone} {year} has {len(trace)} hours, too few for "
                        f"{self.hours}-hour episodes"
                    )
        return self

    @property
    def release_obs(self) -> bool:
        """Whether the observation is the release layout (the release kinds see it)."""
        return self.action in RELEASE_KINDS

    def replace(self, **changes: Any) -> EnvConfig:
        """A copy with fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


def _trace(zone: str, year: int) -> CarbonTrace:
    """A bundled trace (cached by :func:`load_bundled`); user errors become ConfigError."""
    try:
        return load_bundled(zone, year)
    except CenasError as exc:
        raise ConfigError(f"years: {exc}") from None


_FORECASTS: dict[tuple[str, int], Any] = {}


def _zone_forecast(zone: str, horizon: int) -> Any:
    """A forecast signal over the zone's whole bundled trace, built once per process.

    The signal (the shipped transformer, hour-by-hour issues) caches every forecast it
    issues, so episodes drawn from overlapping windows share the work.
    """
    key = (zone, horizon)
    if key not in _FORECASTS:
        from cenas.carbon.forecast import ForecastSignal, load_pretrained

        try:
            model = load_pretrained(zone)
            full = load_bundled(zone)
            signal = ForecastSignal(full, model, horizon, window_start=full.start, batch=48)
        except CenasError as exc:
            raise ConfigError(f"signal: {exc}") from None
        _FORECASTS[key] = signal
    return _FORECASTS[key]


def _history_before(zone: str, year: int) -> int:
    """Hours of the zone's bundled data before ``year`` starts."""
    from cenas.carbon.forecast._base import hours_between

    return hours_between(load_bundled(zone).start, _trace(zone, year).start)


def _min_offset(config: EnvConfig, zone: str, year: int) -> int:
    """First window hour (within the year) an episode may start at."""
    if config.signal != "forecast":
        return 0
    signal = _zone_forecast(zone, config.horizon)
    need = int(signal.forecaster.min_history) + 1
    return max(0, need - _history_before(zone, year))


@dataclass(frozen=True)
class Episode:
    """One drawn episode: everything that makes it reproducible.

    Attributes:
        zone: Bundled zone.
        year: Bundled year.
        offset: First hour of the window within that year's trace.
        budget_g: Carbon budget in grams.
        seed: Seed of the optimiser and estimator.
    """

    zone: str
    year: int
    offset: int
    budget_g: float
    seed: int

    @property
    def start(self) -> str:
        """First hour of the window, ISO 8601 UTC."""
        trace = _trace(self.zone, self.year)
        return str((trace.start + np.timedelta64(self.offset, "h")).isoformat())


def sample_episode(config: EnvConfig, rng: np.random.Generator) -> Episode:
    """Draw an episode: zone, year, window start, budget (log-uniform) and task seed."""
    zone = str(config.zones[int(rng.integers(len(config.zones)))])
    year = int(config.years[int(rng.integers(len(config.years)))])
    n = len(_trace(zone, year))
    offset = int(
        rng.integers(_min_offset(config, zone, year), n - config.hours - config.horizon + 1)
    )
    lo, hi = config.budget_range_g
    budget = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    seed = int(rng.integers(0, 2**31 - 1))
    return Episode(zone=zone, year=year, offset=offset, budget_g=budget, seed=seed)


def episodes(config: EnvConfig, n: int, seed: int) -> list[Episode]:
    """``n`` episodes drawn reproducibly from ``seed``."""
    rng = np.random.default_rng(seed)
    return [sample_episode(config, rng) for _ in range(n)]


def make_engine(episode: Episode, config: EnvConfig, policy: str = "static") -> Engine:
    """Build the engine of ``episode`` (the trace is loaded once and shared).

    Args:
        episode: The drawn episode.
        config: Task, pool, optimiser, estimator and power settings.
        policy: Name of the engine's own policy (used when ``Engine.step`` gets no count;
            the static split by default, a placeholder for an agent that gives counts).
    """
    from cenas.config import StudyConfig
    from cenas.study import build_engine

    trace = _trace(episode.zone, episode.year)
    forecast = None
    if config.signal == "forecast":
        if episode.offset < _min_offset(config, episode.zone, episode.year):
            raise ConfigError(
                f"signal: the {episode.zone} window at {episode.start} has too little history "
                "before it for the forecaster"
            )
        source = _zone_forecast(episode.zone, config.horizon)
        start = _history_before(episode.zone, episode.year) + episode.offset
        forecast = NextHoursForecast(source, start)
    signal = CarbonSignal(trace, episode.offset, config.hours, forecast=forecast)
    study = StudyConfig(
        task=config.task,
        zone=episode.zone,
        start=episode.start,
        hours=config.hours,
        gpus=config.gpus,
        budget_g=episode.budget_g,
        policy=policy,
        estimator=config.estimator,
        optimizer=config.optimizer,
        seed=episode.seed,
        power=config.power,
        signal=config.signal,
    )
    if config.study:
        try:
            study = dataclasses.replace(study, **config.study)
        except TypeError as exc:
            raise ConfigError(f"study: {exc}") from None
    return build_engine(study, signal=signal)


def observe(engine: Engine) -> State:
    """The engine's state; after the last step of the window, the final state.

    ``Engine.observe`` reads the intensity of the coming hour, which does not exist once
    the time budget is spent; the final state then shows the last hour's intensity and
    forecast with the counts and hypervolume after the last step.
    """
    if engine.step_index < engine.config.n_steps:
        return engine.observe()
    cfg = engine.config
    h = cfg.n_steps - 1
    budget = cfg.carbon_budget_g
    return State(
        step=engine.step_index,
        n_steps=cfg.n_steps,
        n_gpus=cfg.n_gpus,
        time_left=0.0,
        carbon_left=1.0 if budget is None else max(0.0, 1.0 - engine.cum_carbon_g / budget),
        intensity=engine.signal.intensity(h),
        forecast=engine.signal.forecast(h),
        intensity_scale=engine.signal.scale,
        hv_ratio=engine.hv_ratio,
        n_trained=len(engine.trained_x),
        n_estimated=sum(1 for a in engine.archs.values() if a.estimated is not None),
        queue_len=len(engine.queue),
        queue_capacity=cfg.capacity,
        n_paused_train=len(engine.paused["train"]),
        n_released=len(engine.released),
        release_delay_s=cfg.release_delay_s,
    )


class EpisodeScorer:
    """Scores an engine's steps with the reward; shared by the env and the evaluation.

    Args:
        engine: A fresh engine.
        weights: Reward weights.
    """

    def __init__(self, engine: Engine, weights: RewardWeights) -> None:
        self.engine = engine
        self.weights = weights
        cfg = engine.config
        self.carbon_norm_g = carbon_normaliser(
            cfg.n_gpus, cfg.power, cfg.step_hours, engine.signal.scale
        )
        self.hv_ratio = engine.hv_ratio
        self.n_trained = len(engine.trained_x)
        self.reached = False
        self.total = 0.0

    def step(self, decision: Decision | None) -> tuple[RewardTerms, Any]:
        """Run one engine step with ``decision`` (an :class:`Allocation` or a number of
        training GPUs; ``None``: the engine's policy decides)."""
        engine = self.engine
        time_left = 1.0 - engine.step_index / engine.config.n_steps
        record = engine.step(decision)
        target = self.weights.target_log_hv_diff
        now_reached = target is not None and record.log_hv_diff <= target
        terms = step_reward(
            self.weights,
            hv_before=self.hv_ratio,
            hv_after=record.hv_ratio,
            time_left=time_left,
            carbon_g=record.carbon_g,
            carbon_norm_g=self.carbon_norm_g,
            new_trained=record.n_trained - self.n_trained,
            n_gpus=engine.config.n_gpus,
            reached_target=now_reached and not self.reached,
            done=engine.done,
        )
        self.reached = self.reached or now_reached
        self.hv_ratio = record.hv_ratio
        self.n_trained = record.n_trained
        self.total += terms.total
        return terms, record


class AllocationEnv(gym.Env[NDArray[np.float32], Any]):
    """CE-NAS's GPU-allocation problem as a gymnasium environment.

    Reference: Zhao, Liu, Jiang, Guo, "CE-NAS: An End-to-End Carbon-Efficient Neural
    Architecture Search Framework", NeurIPS 2024 — the RL allocator that decides, each
    hour, how many GPUs train (the rest estimate) from the search state and the carbon
    forecast.

    Observation: :func:`cenas.policy.rl.observation` of the engine's state (the release
    layout for the release kinds). Action: see the module docstring. Reward:
    :func:`cenas.rl._reward.step_reward`. An episode terminates when the engine
    stops (time or carbon budget spent); it is never truncated.

    Args:
        config: Episodes, actions and reward (default :class:`EnvConfig`).
        episode_list: Fixed episodes to cycle through instead of drawing them (evaluation).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium convention

    def __init__(
        self, config: EnvConfig | None = None, episode_list: Sequence[Episode] | None = None
    ) -> None:
        super().__init__()
        self.config = (config or EnvConfig()).validate()
        self.episode_list = list(episode_list) if episode_list is not None else None
        self._next_episode = 0
        cfg = self.config
        low, high = obs_bounds(cfg.horizon, cfg.release_obs)
        self.observation_space = gym.spaces.Box(low=low, high=high, dtype=np.float32)
        self.action_space: gym.spaces.Space[Any]
        if cfg.action == "discrete":
            self.action_space = gym.spaces.Discrete(cfg.n_levels)
        elif cfg.action == "discrete-release":
            self.action_space = gym.spaces.MultiDiscrete([cfg.n_levels, cfg.n_release_levels])
        else:
            width = 2 if cfg.action == "continuous-release" else 1
            self.action_space = gym.spaces.Box(low=0.0, high=1.0, shape=(width,), dtype=np.float32)
        self.engine: Engine | None = None
        self.episode: Episode | None = None
        self.scorer: EpisodeScorer | None = None
        self.state: State | None = None

    def to_allocation(self, action: Any) -> Allocation:
        """The pool's split under ``action`` (:func:`~cenas.policy.rl.action_to_allocation`)."""
        cfg = self.config
        return action_to_allocation(
            action, cfg.action, cfg.gpus, cfg.n_levels, cfg.n_release_levels
        )

    def to_gpus(self, action: Any) -> int:
        """Training GPUs of ``action``."""
        return self.to_allocation(action).train

    def _obs(self) -> NDArray[np.float32]:
        assert self.state is not None
        return observation(self.state, self.config.horizon, self.config.release_obs)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Draw an episode (or take ``options["episode"]``) and build its engine."""
        super().reset(seed=seed)
        episode = (options or {}).get("episode")
        if episode is None and self.episode_list:
            episode = self.episode_list[self._next_episode % len(self.episode_list)]
            self._next_episode += 1
        if episode is None:
            episode = sample_episode(self.config, self.np_random)
        self.episode = episode
        self.engine = make_engine(episode, self.config)
        self.scorer = EpisodeScorer(self.engine, self.config.reward)
        self.state = observe(self.engine)
        return self._obs(), {"episode": episode}

    def step(self, action: Any) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """Run one scheduling step with the action's allocation of the pool."""
        if self.engine is None or self.scorer is None:
            raise RuntimeError("call reset() before step()")
        if self.engine.done:
            raise RuntimeError("episode is over: call reset()")
        alloc = self.to_allocation(action)
        terms, record = self.scorer.step(alloc)
        self.state = observe(self.engine)
        done = self.engine.done
        info: dict[str, Any] = {
            "n_train": alloc.train,
            "n_release": alloc.release,
            "carbon_g": record.carbon_g,
            "hv_ratio": record.hv_ratio,
            "log_hv_diff": record.log_hv_diff,
            "terms": terms,
        }
        if done:
            info["summary"] = self.engine.summary()
        return self._obs(), terms.total, done, False, info


__all__ = [
    "SIGNALS",
    "TRAIN_YEARS",
    "AllocationEnv",
    "EnvConfig",
    "Episode",
    "EpisodeScorer",
    "episodes",
    "make_engine",
    "observe",
    "sample_episode",
]
