"""What a live worker process runs: real trainings and estimates, measured.

A worker is one process per device slot (a GPU, or one CPU slot of ``threads`` torch
threads). It loads the data once, then runs the jobs its backend sends, one at a time: a
training with :func:`cenas.train.train` (checkpointed every epoch under the study's
``jobs/<id>/`` folder, so a paused or crashed job resumes from its last epoch on any
worker) or an estimate with a :mod:`cenas.estimators` live estimator. Each job segment is
wrapped in an energy meter (:func:`cenas.meters.auto_meter`: NVML on a GPU, RAPL on a CPU
where readable, else the documented power model, flagged as modelled).

The job itself is a *runner*, ``module:function`` taking ``(WorkItem, WorkerContext)`` and
returning a :class:`JobOutcome`; :func:`run_nb201_job` is the default. Tests and the
overhead benchmark plug in their own (a job that raises, a no-op trainer).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cenas.errors import ConfigError


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker needs before its first job (sent once, picklable).

    Attributes:
        root: Study folder; job checkpoints go to ``root/jobs/<job id>``.
        data: CIFAR copy (see :func:`cenas.datasets.load_cifar`); ``None`` for the packaged
            CIFAR-10 subset.
        dataset: ``cifar10`` or ``cifar100``.
        val_size: Validation images carved out of the training split (count or fraction).
        train: :class:`cenas.train.TrainConfig` fields of a training job.
        estimator: Live estimator name (:data:`cenas.estimators.LIVE_ESTIMATORS`).
        estimator_opts: Its constructor options.
        threads: Torch threads of a CPU worker.
        runner: ``module:function`` of the job runner.
        seed: Seed of the validation split.
        devices: Every worker's device (to know how many share a GPU).
    """

    root: str
    data: str | None = None
    dataset: str = "cifar10"
    val_size: int | float = 0.2
    train: dict[str, Any] = field(default_factory=dict)
    estimator: str = "zero-cost:synflow"
    estimator_opts: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    runner: str = "cenas.live._worker:run_nb201_job"
    seed: int = 0
    devices: tuple[str, ...] = ()

    def shared_by(self, device: str) -> int:
        """Workers sharing ``device`` (a GPU's measured energy is split equally among them)."""
        if not device.startswith("cuda"):
            return 1
        return max(1, self.devices.count(device))


@dataclass(frozen=True)
class WorkItem:
    """One job segment sent to a worker.

    Attributes:
        job_id: The job's id in the study.
        kind: ``train`` or ``estimate``.
        arch: The architecture's key (an NB201 enumeration index).
        arch_str: Its human-readable form.
        attempt: 0 for the first try, then 1, 2... after failures.
    """

    job_id: int
    kind: str
    arch: int
    arch_str: str
    attempt: int = 0


@dataclass
class JobOutcome:
    """What a runner returns.

    Attributes:
        status: ``completed``, ``paused`` (stopped at an epoch end because the backend asked;
            resumable) or ``failed``.
        objectives: Minimisation-form objectives when completed.
        reason: One line, when failed.
        detail: Facts to store with the result (accuracies, epochs, images per second...).
    """

    status: str
    objectives: list[float] | None = None
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class WorkerContext:
    """A worker's state between jobs: its device, the data (loaded once) and the pause flag.

    Args:
        setup: The worker's setup.
        device: ``cpu`` or ``cuda:N``.
        should_pause: True once the backend asks the running job to pause.
    """

    def __init__(self, setup: WorkerSetup, device: str, should_pause: Callable[[], bool]):
        self.setup = setup
        self.device = device
        self.should_pause = should_pause
        self._data: Any = None
        self._estimator: Any = None

    def data(self) -> tuple[Any, Any]:
        """``(train, validation)`` image sets, loaded and split on first use."""
        if self._data is None:
            from cenas.datasets import load_cifar, train_val_split

            full = load_cifar(self.setup.data, self.setup.dataset, "train")
            self._data = train_val_split(full, self.setup.val_size, self.setup.seed)
        return self._data

    def estimator(self) -> Any:
        """The live estimator, built on first use."""
        if self._estimator is None:
            from cenas.estimators import make_live_estimator

            self._estimator = make_live_estimator(self.setup.estimator, **self.setup.estimator_opts)
        return self._estimator

    def checkpoint_dir(self, job_id: int) -> Path:
        """Folder of a job's checkpoint."""
        return Path(self.setup.root) / "jobs" / str(job_id)


def train_outcome(result: Any) -> JobOutcome:
    """A :class:`cenas.train.TrainResult` as a job's outcome: objectives ``(-validation
    accuracy %, parameters in millions)`` when completed, ``paused`` when it stopped at an
    epoch end because the backend asked, ``failed`` with its reason otherwise."""
    detail = {
        "epochs_completed": result.epochs_completed,
        "epochs": result.epochs,
        "val_acc": result.val_acc,
        "train_loss": result.train_loss,
        "images_per_second": result.images_per_second,
        "params": result.params,
        "resumed_from": result.resumed_from,
    }
    if result.status == "failed":
        return JobOutcome("failed", reason=result.reason, detail=detail)
    if result.status == "stopped":
        return JobOutcome("paused", detail=detail)
    assert result.val_acc is not None
    return JobOutcome("completed", [-result.val_acc, result.params / 1e6], detail=detail)


def run_nb201_job(item: WorkItem, ctx: WorkerContext) -> JobOutcome:
    """Train or estimate one NAS-Bench-201 cell for real.

    Training: :func:`cenas.train.train` with the setup's recipe and the job's checkpoint
    folder, pausing at the first epoch end after the backend asks; objectives
    ``(-validation accuracy %, parameters in millions)``. Estimate: the live estimator's
    score (higher is better) in place of the accuracy.
    """
    import torch

    from cenas.train import TrainConfig, train

    train_set, val_set = ctx.data()
    if item.kind == "train":
        config = TrainConfig.from_dict(ctx.setup.train)
        result = train(
            item.arch_str,
            train_set,
            val_set,
            config,
            device=ctx.device,
            checkpoint_dir=ctx.checkpoint_dir(item.job_id),
            stop=ctx.should_pause,
        )
        return train_outcome(result)
    if item.kind == "estimate":
        from cenas.nn import build_nb201, count_params

        est = ctx.estimator().estimate(item.arch_str, train_set, torch.device(ctx.device))
        params = count_params(
            build_nb201(
                item.arch_str,
                int(ctx.setup.train.get("channels", 16)),
                int(ctx.setup.train.get("cells_per_stage", 5)),
                train_set.num_classes,
            )
        )
        detail = {"score": est.score, "estimator": est.estimator, "seconds": est.seconds}
        return JobOutcome("completed", [-float(est.score), params / 1e6], detail=detail)
    raise ConfigError(f"job {item.job_id}: unknown kind {item.kind!r}")


def _logits_only(net: Any) -> Any:
    """A DARTS network whose forward returns only the main logits (for the proxies)."""
    import torch.nn as tnn

    class LogitsOnly(tnn.Module):
        def __init__(self, inner: tnn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return self.inner(x)[0]

    return LogitsOnly(net)


def run_darts_job(item: WorkItem, ctx: WorkerContext) -> JobOutcome:
    """Train or estimate one DARTS genotype for real (Liu, Simonyan, Yang, ICLR 2019).

    Training: :func:`cenas.train.train_darts` with the setup's recipe
    (:class:`cenas.train.DartsTrainConfig` fields in ``setup.train``) and the job's checkpoint
    folder, pausing at the first epoch end after the backend asks; objectives
    ``(-validation accuracy %, parameters in millions without the auxiliary head)``.
    Estimate: ``zero-cost:<proxy>`` on the freshly initialised network (the same proxy
    definitions and seeded batch as NAS-Bench-201's, :mod:`cenas.estimators._proxies`), or
    ``low-fidelity``: :meth:`DartsTrainConfig.low_fidelity` training at the same size.
    """
    import torch

    from cenas.estimators._proxies import compute_proxy, make_batch
    from cenas.nn import build_darts
    from cenas.space import parse_genotype
    from cenas.train import DartsTrainConfig, train_darts

    train_set, val_set = ctx.data()
    genotype = parse_genotype(item.arch_str)
    config = DartsTrainConfig.from_dict(ctx.setup.train)
    if item.kind == "train" or ctx.setup.estimator == "low-fidelity":
        if item.kind != "train":
            config = DartsTrainConfig.low_fidelity(
                channels=config.channels,
                layers=config.layers,
                seed=config.seed,
                epochs=min(config.epochs, 10),
            )
        result = train_darts(
            genotype,
            train_set,
            val_set,
            config,
            device=ctx.device,
            checkpoint_dir=ctx.checkpoint_dir(item.job_id),
            stop=ctx.should_pause,
        )
        return train_outcome(result)
    proxy = ctx.setup.estimator.removeprefix("zero-cost:")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        initial = build_darts(
            genotype, config.channels, config.layers, train_set.num_classes, auxiliary=False
        )
    params = int(initial.count_params())

    def factory() -> Any:
        import copy

        net = _logits_only(copy.deepcopy(initial))
        net.train()
        return net

    batch = make_batch(train_set, 64, config.seed, ctx.device)
    score, seconds = compute_proxy(proxy, factory, batch)
    return JobOutcome(
        "completed",
        [-float(score), params / 1e6],
        detail={"score": score, "estimator": ctx.setup.estimator, "seconds": seconds},
    )


def load_runner(spec: str) -> Callable[[WorkItem, WorkerContext], JobOutcome]:
    """Import a ``module:function`` runner.

    Raises:
        ConfigError: For a malformed spec or a missing module/function.
    """
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise ConfigError(f"runner: expected 'module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"runner: cannot import {module_name!r} ({exc})") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ConfigError(f"runner: {module_name} has no function {func_name!r}")
    return func  # type: ignore[no-any-return]


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters, with the place it rose."""
    from cenas._secrets import redact

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return redact(text[:limit] + where)


def run_segment(
    runner: Callable[[WorkItem, WorkerContext], JobOutcome],
    meter: Any,
    item: WorkItem,
    ctx: WorkerContext,
) -> tuple[JobOutcome, dict[str, Any], float]:
    """Run one job segment inside ``meter``: its outcome, the meter's reading, wall seconds.

    A runner that raises gives a ``failed`` outcome whose reason names the exception (a
    failed job is data for the backend, not a dead worker).
    """
    token = meter.begin()
    t0 = time.perf_counter()
    try:
        outcome = runner(item, ctx)
    except Exception as exc:
        outcome = JobOutcome("failed", reason=one_line(exc))
    wall = time.perf_counter() - t0
    return outcome, meter.end(token).to_dict(), wall


def worker_main(index: int, device: str, setup: WorkerSetup, inbox: Any, outbox: Any, pause: Any):  # type: ignore[no-untyped-def]
    """Body of a worker process: run :class:`WorkItem` s from ``inbox`` until ``None``.

    Sends ``("ready", index, pid)`` once, then per job ``("result", index, job_id,
    outcome_dict, reading_dict, wall_seconds)``; a runner that raises becomes a ``failed``
    outcome whose reason names the exception (the backend decides on retries). Exits when
    its coordinator dies.
    """
    import torch

    from cenas.meters import auto_meter

    if device == "cpu":
        torch.set_num_threads(max(1, setup.threads))
    runner = load_runner(setup.runner)
    meter = auto_meter(device, threads=setup.threads, shared_by=setup.shared_by(device))
    ctx = WorkerContext(setup, device, pause.is_set)
    outbox.put(("ready", index, os.getpid()))
    parent = os.getppid()
    while True:
        try:
            item = inbox.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the coordinator died (SIGKILL): do not linger
                break
            continue
        if item is None:
            break
        outcome, reading, wall = run_segment(runner, meter, item, ctx)
        outbox.put(("result", index, item.job_id, asdict(outcome), reading, wall))
    with contextlib.suppress(Exception):
        outbox.close()


__all__ = [
    "JobOutcome",
    "WorkItem",
    "WorkerContext",
    "WorkerSetup",
    "load_runner",
    "one_line",
    "run_darts_job",
    "run_nb201_job",
    "run_segment",
    "train_outcome",
    "worker_main",
]
