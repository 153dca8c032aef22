"""Assemble a live engine from a study config: real jobs on local or Ray workers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cenas.config import StudyConfig
from cenas.engine.backend import Backend
from cenas.engine.clock import WallClock
from cenas.engine.loop import Engine, StepRecord
from cenas.engine.signal import CarbonSignal
from cenas.errors import ConfigError
from cenas.live._pool import WorkerPool
from cenas.live._predictor import make_live_predictor, worker_estimator
from cenas.live._task import LiveDartsTask, LiveNB201Task
from cenas.live._worker import WorkerSetup


def resolve_devices(device: str, workers: int) -> list[str]:
    """One device per worker: ``cpu`` slots, or the visible GPUs in turn.

    Raises:
        ConfigError: If ``cuda`` is asked for and no GPU is visible.
    """
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return ["cpu"] * workers
    if not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} asked for, but torch sees no CUDA GPU here")
    if device.startswith("cuda:"):
        return [device] * workers
    n = torch.cuda.device_count()
    return [f"cuda:{w % n}" for w in range(workers)]


NB201_RUNNER = "cenas.live._worker:run_nb201_job"
DARTS_RUNNER = "cenas.live._worker:run_darts_job"


def make_task(config: StudyConfig) -> LiveNB201Task | LiveDartsTask:
    """The live task of a config's space."""
    if config.space == "darts":
        return LiveDartsTask(config.channels, config.layers, 10, config.pool_size, config.seed)
    return LiveNB201Task(config.channels, config.cells_per_stage, 10)


def worker_setup(config: StudyConfig, root: Path, devices: list[str] | None = None) -> WorkerSetup:
    """What every worker of a live study loads and runs.

    A DARTS study trains with :class:`cenas.train.DartsTrainConfig` (DARTS's recipe: cutout,
    drop path, auxiliary head, gradient clipping) at ``channels`` and ``layers``, for
    ``train_epochs``; an NB201 study with :class:`cenas.train.TrainConfig`.
    """
    from cenas.train import DartsTrainConfig, TrainConfig

    runner = config.runner
    train: DartsTrainConfig | TrainConfig
    if config.space == "darts":
        train = DartsTrainConfig(
            epochs=config.train_epochs,
            channels=config.channels,
            layers=config.layers,
            seed=config.seed,
        )
        if runner == NB201_RUNNER:
            runner = DARTS_RUNNER
    else:
        train = TrainConfig(
            epochs=config.train_epochs,
            channels=config.channels,
            cells_per_stage=config.cells_per_stage,
            seed=config.seed,
        )
    estimator = worker_estimator(config.estimator)  # a predictor's workers run its base
    opts: dict[str, Any] = {}
    if estimator == "low-fidelity" and config.space != "darts":
        opts = {
            "channels": config.channels,
            "cells_per_stage": config.cells_per_stage,
            "seed": config.seed,
            "epochs": min(12, config.train_epochs),
        }
    return WorkerSetup(
        root=str(root),
        data=config.data,
        train=train.to_dict(),
        estimator=estimator,
        estimator_opts=opts,
        threads=config.threads,
        runner=runner,
        seed=config.seed,
        devices=tuple(devices or ()),
    )


def make_backend(config: StudyConfig, root: Path, task: LiveNB201Task | LiveDartsTask) -> Backend:
    """The configured live backend with its workers started (and, for ``predictor`` and
    ``predictor:<base>``, its :class:`~cenas.live._predictor.LivePredictor`)."""
    devices = resolve_devices(config.device, config.gpus)
    setup = worker_setup(config, root, devices)
    # an idle slot: the documented idle draw of a GPU, or nothing extra for a CPU slot
    # (an idle core's share of the package is not separable from the machine's base load)
    idle_w = config.power.idle_w if devices[0].startswith("cuda") else 0.0
    backend: WorkerPool
    if config.backend == "ray":
        from cenas.live._ray import RayBackend

        backend = RayBackend(setup, devices, task.arch_str, config.max_retries, idle_w=idle_w)
    else:
        from cenas.live._local import LocalBackend

        backend = LocalBackend(setup, devices, task.arch_str, config.max_retries, idle_w=idle_w)
    backend.predictor = make_live_predictor(config.estimator, task, root, seed=config.seed)
    return backend


def live_signal(config: StudyConfig) -> Any:
    """The carbon signal of a live study whose ``carbon`` is a provider (not ``trace``).

    The provider gives each step's intensity (and its forecast, where it has one); the
    zone's shipped transformer, else a lag regression, forecasts the rest, from the zone's
    bundled trace as history when there is one. Step ``k`` reads the hour ``k`` hours after
    the current one (with ``step_minutes``, steps come faster than hours: each reads the
    provider's latest value).
    """
    from cenas.carbon import BUNDLED_ZONES, load_bundled
    from cenas.carbon.forecast import load_pretrained, make_forecaster, pretrained_zones
    from cenas.carbon.live import ElectricityMapsProvider, LiveCarbonSignal, WattTimeProvider

    zone = config.carbon_zone or config.zone
    provider: Any
    if config.carbon == "electricitymaps":
        url = config.carbon_url or "https://api.electricitymap.org"
        provider = ElectricityMapsProvider(zone, base_url=url)
    else:
        provider = WattTimeProvider(zone, base_url=config.carbon_url or "https://api.watttime.org")
    history = load_bundled(config.zone) if config.zone in BUNDLED_ZONES else None
    forecaster = (
        load_pretrained(config.zone)
        if config.zone in pretrained_zones()
        else make_forecaster("lag-regression")
    )
    return LiveCarbonSignal(provider, forecaster=forecaster, history=history, horizon=24)


def build_live_engine(
    config: StudyConfig,
    root: Path,
    on_step: Callable[[StepRecord, Engine], None] | None = None,
    signal: CarbonSignal | None = None,
) -> Engine:
    """The engine of a live study whose folder is ``root`` (checkpoints under ``jobs/``)."""
    from cenas.optimize import make_optimizer
    from cenas.signals import build_signal, resolve_trace

    config.validate()
    task = make_task(config)
    if signal is None and config.carbon != "trace":
        signal = live_signal(config)
    elif signal is None:
        trace, offset = resolve_trace(config)
        signal = build_signal(config, trace, offset)
    engine_cfg = config.engine_config()
    try:
        # the optimisers are typed to NB201's space; a PooledSpace offers the same indexed API
        space: Any = task.space
        optimizer = make_optimizer(config.optimizer, space, task.ref_point, seed=config.seed)
    except ValueError as exc:
        raise ConfigError(f"optimizer: {exc}") from None
    policy = config.make_policy(signal)
    backend = make_backend(config, root, task)
    return Engine(
        engine_cfg,
        task,
        optimizer,
        backend,
        policy,
        signal,
        clock=WallClock(),
        on_step=on_step,
    )


__all__ = [
    "DARTS_RUNNER",
    "NB201_RUNNER",
    "build_live_engine",
    "live_signal",
    "make_backend",
    "make_task",
    "resolve_devices",
    "worker_setup",
]
