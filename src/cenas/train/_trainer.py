"""Train one NAS-Bench-201 cell or one DARTS genotype with its paper's recipe, resumably.

Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
Search", ICLR 2020, trains every cell with: SGD with Nesterov momentum 0.9,
learning rate 0.1 annealed to 0 by a cosine over the whole run and updated every iteration,
weight decay 5e-4, batch 256, 200 epochs, cross-entropy loss, random crop with 4 pixels of
padding and horizontal flips. NAS-Bench-201 also reports a 12-epoch schedule (the cosine
ends at epoch 12), which CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) uses as its
low-fidelity estimate; :meth:`TrainConfig.low_fidelity` is that schedule.

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019 (section 3,
appendix A.2 and the ``train.py`` of their code), train their CIFAR-10 evaluation network
(20 cells, ``C=36``) with: SGD with momentum 0.9 (not Nesterov), learning rate 0.025
annealed to 0 by a cosine over 600 epochs, weight decay 3e-4, batch 96, cutout of 16 pixels
(DeVries & Taylor, 2017) on top of the crop and flip, drop path with a probability raised
linearly from 0 to 0.2 over the epochs, an auxiliary classifier whose loss is added with
weight 0.4, and gradients clipped to norm 5. :class:`DartsTrainConfig` holds that recipe and
:func:`train_darts` runs it; as in the DARTS code the rate is changed once per epoch (epoch
``e`` of ``E``, from 0, uses ``0.5 * lr * (1 + cos(pi * e / E))``) unless
``lr_schedule="step"`` asks for NAS-Bench-201's per-iteration cosine, and epoch ``e`` drops
paths with probability ``0.2 * e / E``.
:meth:`DartsTrainConfig.low_fidelity` is a 10-epoch estimate at DARTS's search size (8
cells, ``C=16``) without the auxiliary head, drop path or cutout: cenas's choice, not a
published schedule.

Both run through one job (:class:`_Job`): a network factory and the few things DARTS adds
(the auxiliary loss, the drop-path ramp, gradient clipping, cutout, the per-epoch rate)
are the only differences, and a NAS-Bench-201 job computes exactly what it did before
DARTS was added.

A job writes a checkpoint after every epoch (model, optimiser, scheduler, the epoch, the
history, the configuration) by writing a temporary file and renaming it over the old one,
so a job killed at any point resumes from its last completed epoch. Batch order and
augmentation are a pure function of ``(seed, epoch)`` (:class:`cenas.datasets.BatchLoader`)
and the global RNG is re-seeded at each epoch, so on CPU, where deterministic algorithms are
enforced, a resumed job ends with exactly the weights, loss and accuracy of an uninterrupted
one, in the same process or another, provided it runs with the same number of torch threads
(CPU kernels split their sums by thread, so 1 and 2 threads differ in the last bits). Drop
path draws its masks from the re-seeded global RNG and its probability is a function of the
epoch, so DARTS jobs resume exactly too. A loss that becomes NaN or infinite ends the job
with status ``failed`` and the epoch and step recorded; the checkpoint keeps the last good
epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import torch
from torch import nn

from cenas._json import json_safe
from cenas.datasets import BatchLoader, ImageSet
from cenas.errors import CheckpointError, ConfigError, DataError
from cenas.nn import (
    DartsNetwork,
    build_darts,
    build_nb201,
    check_genotype,
    count_params,
    parse_arch,
)
from cenas.space import NB201Space

CHECKPOINT_NAME = "checkpoint.pt"
"""File name of a job's checkpoint inside its ``checkpoint_dir``."""

CHECKPOINT_FORMAT = "cenas-train-checkpoint"
CHECKPOINT_VERSION = 1

_EVAL_ONLY_FIELDS = frozenset({"eval_each_epoch", "eval_batch_size"})
"""Config fields that do not change the training trajectory (a checkpoint may differ in them)."""


@dataclass(frozen=True)
class _ConfigDict:
    """``from_dict`` / ``to_dict`` of the recipe dataclasses (no fields of its own)."""

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        """A config from :meth:`to_dict` output.

        Raises:
            ConfigError: For an unknown key or an invalid value.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown field {unknown[0]!r}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-safe dictionary."""
        return dataclasses.asdict(self)


def _check_recipe(config: Any, sizes: tuple[str, ...]) -> None:
    """Check the fields every recipe has, and the positive integers ``sizes``."""
    cls = type(config).__name__
    for name in ("epochs", "batch_size", *sizes, "eval_batch_size"):
        value = getattr(config, name)
        if not _is_int(value) or value < 1:
            raise ConfigError(f"{cls}.{name}: must be a positive integer, got {value!r}")
    if not _is_int(config.seed) or not 0 <= config.seed < 2**31:
        raise ConfigError(f"{cls}.seed: must be an integer in [0, 2**31), got {config.seed!r}")
    if not _is_real(config.lr) or not (math.isfinite(config.lr) and config.lr > 0):
        raise ConfigError(f"{cls}.lr: must be a positive finite number, got {config.lr!r}")
    if not _is_real(config.momentum) or not 0 <= config.momentum < 1:
        raise ConfigError(f"{cls}.momentum: must be in [0, 1), got {config.momentum!r}")
    if not _is_real(config.weight_decay) or not (
        math.isfinite(config.weight_decay) and config.weight_decay >= 0
    ):
        raise ConfigError(
            f"{cls}.weight_decay: must be a non-negative finite number, got {config.weight_decay!r}"
        )
    for name in ("nesterov", "augment", "eval_each_epoch"):
        if not isinstance(getattr(config, name), bool):
            raise ConfigError(f"{cls}.{name}: must be true or false, got {getattr(config, name)!r}")
    if config.nesterov and config.momentum == 0:
        raise ConfigError(f"{cls}.nesterov: Nesterov momentum needs momentum > 0")


@dataclass(frozen=True)
class TrainConfig(_ConfigDict):
    """How to train a cell; the defaults are NAS-Bench-201's 200-epoch recipe.

    Attributes:
        epochs: Epochs of the schedule; the cosine reaches 0 at the end of the last one.
        batch_size: Training images per step (the last, smaller batch is kept).
        lr: Initial learning rate.
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: L2 weight decay, applied to every parameter as in NAS-Bench-201.
        augment: NAS-Bench-201's random crop and flip on the training images.
        channels: ``C``, channels of the first stage (16 in the benchmark).
        cells_per_stage: ``N``, cells per stage (5 in the benchmark).
        seed: Seed of initialisation, batch order and augmentation.
        eval_each_epoch: Also evaluate validation (and test) accuracy after every epoch.
        eval_batch_size: Images per evaluation batch (does not change the results).
    """

    epochs: int = 200
    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    augment: bool = True
    channels: int = 16
    cells_per_stage: int = 5
    seed: int = 0
    eval_each_epoch: bool = False
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        _check_recipe(self, ("channels", "cells_per_stage"))

    @classmethod
    def low_fidelity(cls, **overrides: Any) -> TrainConfig:
        """NAS-Bench-201's 12-epoch schedule (the cosine ends at epoch 12), else the defaults.

        Args:
            **overrides: Any other field (``epochs`` too).
        """
        values: dict[str, Any] = {"epochs": 12}
        values.update(overrides)
        return cls(**values)


LR_SCHEDULES = ("epoch", "step")
"""Cosine granularities of :attr:`DartsTrainConfig.lr_schedule`."""


@dataclass(frozen=True)
class DartsTrainConfig(_ConfigDict):
    """How to train a DARTS genotype; the defaults are DARTS's CIFAR-10 evaluation recipe.

    Attributes:
        epochs: Epochs of the schedule (600 in DARTS).
        batch_size: Training images per step (96; the last, smaller batch is kept).
        lr: Initial learning rate (0.025), annealed to 0 by a cosine.
        momentum: SGD momentum (0.9).
        nesterov: Nesterov momentum (DARTS: no).
        weight_decay: L2 weight decay on every parameter (3e-4).
        augment: Random crop (4 pixels of padding) and horizontal flip.
        cutout: Side of the cutout square on every training image (16; 0 for none).
        channels: ``C``, channels per node of the first cells (36).
        layers: Cells (20).
        auxiliary: Train with the auxiliary classifier after cell ``2 * layers // 3``.
        auxiliary_weight: Weight of the auxiliary loss in the objective (0.4).
        drop_path_prob: Drop-path probability of the last epoch; epoch ``e`` (from 0) of
            ``E`` uses ``drop_path_prob * e / E`` (0.2).
        grad_clip: Largest gradient norm (5.0), ``None`` for no clipping.
        lr_schedule: ``"epoch"``: the cosine steps once per epoch, as in the DARTS code;
            ``"step"``: it steps every iteration, as NAS-Bench-201's does.
        seed: Seed of initialisation, batch order, augmentation and drop path.
        eval_each_epoch: Also evaluate validation (and test) accuracy after every epoch.
        eval_batch_size: Images per evaluation batch (does not change the results).
    """

    epochs: int = 600
    batch_size: int = 96
    lr: float = 0.025
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 3e-4
    augment: bool = True
    cutout: int = 16
    channels: int = 36
    layers: int = 20
    auxiliary: bool = True
    auxiliary_weight: float = 0.4
    drop_path_prob: float = 0.2
    grad_clip: float | None = 5.0
    lr_schedule: Literal["epoch", "step"] = "epoch"
    seed: int = 0
    eval_each_epoch: bool = False
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        _check_recipe(self, ("channels", "layers"))
        cls = type(self).__name__
        if not _is_int(self.cutout) or self.cutout < 0:
            raise ConfigError(f"{cls}.cutout: must be a non-negative integer, got {self.cutout!r}")
        if not isinstance(self.auxiliary, bool):
            raise ConfigError(f"{cls}.auxiliary: must be true or false, got {self.auxiliary!r}")
        if self.auxiliary and self.layers < 2:
            raise ConfigError(f"{cls}.layers: the auxiliary head needs at least 2 cells")
        if not _is_real(self.auxiliary_weight) or not (
            math.isfinite(self.auxiliary_weight) and self.auxiliary_weight >= 0
        ):
            raise ConfigError(
                f"{cls}.auxiliary_weight: must be a non-negative finite number, "
                f"got {self.auxiliary_weight!r}"
            )
        if not _is_real(self.drop_path_prob) or not 0 <= self.drop_path_prob < 1:
            raise ConfigError(
                f"{cls}.drop_path_prob: must be in [0, 1), got {self.drop_path_prob!r}"
            )
        if self.grad_clip is not None and (
            not _is_real(self.grad_clip)
            or not (math.isfinite(self.grad_clip) and self.grad_clip > 0)
        ):
            raise ConfigError(
                f"{cls}.grad_clip: must be a positive finite number or None, got {self.grad_clip!r}"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                f"{cls}.lr_schedule: must be one of {', '.join(LR_SCHEDULES)}, "
                f"got {self.lr_schedule!r}"
            )

    @classmethod
    def low_fidelity(cls, **overrides: Any) -> DartsTrainConfig:
        """A short estimate: 10 epochs at DARTS's search size (8 cells, ``C=16``) with no
        auxiliary head, drop path or cutout; the rest of DARTS's recipe (the cosine ends at
        epoch 10). cenas's choice, not a published schedule.

        Args:
            **overrides: Any other field (these too).
        """
        values: dict[str, Any] = {
            "epochs": 10,
            "channels": 16,
            "layers": 8,
            "auxiliary": False,
            "drop_path_prob": 0.0,
            "cutout": 0,
        }
        values.update(overrides)
        return cls(**values)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainProgress:
    """What a ``progress`` callback receives: after every step, and once at each epoch end.

    Attributes:
        epoch: The epoch in progress, from 1.
        epochs: Epochs of the schedule.
        step: Steps done in this epoch.
        steps_per_epoch: Steps in one epoch.
        epoch_done: True for the event that closes an epoch (its record is in ``record``).
        record: The epoch's history record when ``epoch_done``.
    """

    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    epoch_done: bool = False
    record: dict[str, Any] | None = None


@dataclass
class TrainResult:
    """What one training job produced.

    Accuracies are percentages (as NAS-Bench-201 reports them); ``None`` where not measured
    (no such set, or the job did not complete). Times cover every epoch the job ran, over
    all the sessions it was resumed in, except ``wall_seconds`` (this call only).

    Attributes:
        arch: The architecture: a NAS-Bench-201 ``arch_str``, or a DARTS genotype as DARTS
            prints it (``Genotype(normal=[...], ...)``).
        status: ``completed``, ``stopped`` (ended by ``max_epochs`` before the schedule's
            end) or ``failed`` (the loss became NaN or infinite).
        epochs: Epochs of the schedule.
        epochs_completed: Epochs done (and checkpointed, with a checkpoint directory).
        val_acc: Validation accuracy at the end.
        test_acc: Test accuracy at the end.
        train_loss: Mean training loss of the last completed epoch.
        val_loss: Mean validation loss at the end.
        test_loss: Mean test loss at the end.
        wall_seconds: Seconds this call took (loading, training, evaluation).
        train_seconds: Seconds of all completed epochs (training only).
        epoch_seconds: Seconds of each completed epoch, in order.
        images_per_second: Training images per second over the completed epochs.
        params: Trainable parameters of the network (of a DARTS network without its
            auxiliary head, which only training uses, as DARTS reports sizes).
        device: The device it trained on.
        resumed_from: Epochs completed before this call (0 for a fresh job).
        reason: Why the job failed, in words (``""`` otherwise).
        failure: ``{"epoch", "step", "loss"}`` of the first non-finite loss, else ``None``.
        history: One record per completed epoch (loss, training accuracy, seconds, learning
            rate, and accuracies when evaluated each epoch).
        config: The :class:`TrainConfig` or :class:`DartsTrainConfig` as a dictionary.
        model: The trained network (not stored by :meth:`to_dict`).
    """

    arch: str
    status: str
    epochs: int
    epochs_completed: int
    val_acc: float | None
    test_acc: float | None
    train_loss: float | None
    val_loss: float | None
    test_loss: float | None
    wall_seconds: float
    train_seconds: float
    epoch_seconds: list[float]
    images_per_second: float
    params: int
    device: str
    resumed_from: int
    reason: str
    failure: dict[str, Any] | None
    history: list[dict[str, Any]]
    config: dict[str, Any]
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Every field but the model, JSON-safe (non-finite numbers become strings)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"}
        return json_safe(out)


def cosine_factor(step: int, total_steps: int) -> float:
    """The cosine schedule's multiplier of the initial rate after ``step`` of ``total_steps``.

    It is 1 at step 0 and exactly 0 at ``total_steps``: the last iteration's update leaves
    the rate at 0, as NAS-Bench-201's per-iteration cosine does.
    """
    if step >= total_steps:
        return 0.0
    return 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def resolve_device(device: str | torch.device) -> torch.device:
    """A ``torch.device`` from ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a device.

    Raises:
        ConfigError: For an unknown device, or CUDA on a machine without it.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device: unknown device {device!r}") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device: must be cpu or cuda, got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {device!r} requested but CUDA is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device: {device!r} requested but only {torch.cuda.device_count()} GPU(s) exist"
            )
    return dev


def data_fingerprint(data: ImageSet) -> str:
    """A BLAKE2 digest of the images, labels and data set name (checkpoints record it)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(data.dataset.encode())
    h.update(str(tuple(data.images.shape)).encode())
    h.update(data.images.detach().cpu().contiguous().numpy().tobytes())
    h.update(data.labels.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def _numerics(device: torch.device) -> Iterator[None]:
    """Deterministic algorithms on CPU, cuDNN autotuning on CUDA, the RNGs forked: the
    caller's settings and random state are restored afterwards."""
    det = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    bench = torch.backends.cudnn.benchmark
    cuda_devices: list[int] = []
    if device.type == "cuda":
        cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()]
    try:
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        else:
            torch.backends.cudnn.benchmark = True
        with torch.random.fork_rng(devices=cuda_devices):
            yield
    finally:
        torch.use_deterministic_algorithms(det, warn_only=warn_only)
        torch.backends.cudnn.benchmark = bench


_CHECKPOINT_KEYS = frozenset(
    {"arch", "config", "data", "epoch", "model", "optimizer", "scheduler", "history", "version"}
)


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + 7919 * (epoch + 1)) % (2**63 - 1)


def _check_data(data: ImageSet, name: str, num_classes: int | None = None) -> None:
    images = data.images
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise DataError(
            f"{name}: images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}"
        )
    if images.shape[0] == 0:
        raise DataError(f"{name}: holds no images")
    if tuple(data.labels.shape) != (images.shape[0],):
        raise DataError(
            f"{name}: labels of shape {tuple(data.labels.shape)} for {len(images)} images"
        )
    if data.labels.dtype != torch.int64:
        raise DataError(f"{name}: labels must be int64, got {data.labels.dtype}")
    if num_classes is not None and data.num_classes != num_classes:
        raise DataError(f"{name}: {data.num_classes} classes, the training set has {num_classes}")


_AnyConfig = TrainConfig | DartsTrainConfig


@dataclass(frozen=True)
class _Network:
    """What one kind of network brings to a job; the rest of the job is common.

    Attributes:
        arch: The architecture as a string (checkpoints record it).
        build: Builds the network for a number of classes (called under the seed).
        count: Parameters the result reports.
        cutout: Cutout side on the training images (0: none).
        auxiliary_weight: Weight of the auxiliary logits' loss, if the network returns them.
        grad_clip: Largest gradient norm, or ``None``.
        per_epoch_lr: The cosine steps once per epoch (else every iteration).
        set_epoch: Called with the network and the epoch (from 0) before it starts.
    """

    arch: str
    build: Callable[[int], nn.Module]
    count: Callable[[nn.Module], int] = count_params
    cutout: int = 0
    auxiliary_weight: float = 0.0
    grad_clip: float | None = None
    per_epoch_lr: bool = False
    set_epoch: Callable[[nn.Module, int], None] | None = None


def _nb201_network(arch: str, config: TrainConfig) -> _Network:
    """The NAS-Bench-201 network of a cell, as it always trained."""

    def build(num_classes: int) -> nn.Module:
        return build_nb201(arch, config.channels, config.cells_per_stage, num_classes)

    return _Network(arch, build)


def _darts_network(genotype: Any, config: DartsTrainConfig) -> _Network:
    """The DARTS CIFAR network of a checked genotype with its recipe's extras."""

    def build(num_classes: int) -> nn.Module:
        return build_darts(genotype, config.channels, config.layers, num_classes, config.auxiliary)

    def set_epoch(model: nn.Module, epoch: int) -> None:
        assert isinstance(model, DartsNetwork)
        model.drop_path_prob = config.drop_path_prob * epoch / config.epochs

    return _Network(
        repr(genotype),
        build,
        count=lambda model: count_params(model, ("auxiliary_head",)),
        cutout=config.cutout,
        auxiliary_weight=config.auxiliary_weight,
        grad_clip=config.grad_clip,
        per_epoch_lr=config.lr_schedule == "epoch",
        set_epoch=set_epoch,
    )


def _main_and_aux(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(logits, auxiliary logits or None)`` of a network that returns logits or a pair."""
    if isinstance(out, tuple):
        return out[0], out[1]
    return out, None


class _Job:
    """The state of one training job: network, optimiser, scheduler, loaders, history."""

    def __init__(
        self,
        network: _Network,
        train_set: ImageSet,
        config: _AnyConfig,
        device: torch.device,
    ) -> None:
        self.network = network
        self.arch = network.arch
        self.config = config
        self.device = device
        self.cuda = device.type == "cuda"
        torch.manual_seed(config.seed)
        model = network.build(train_set.num_classes)
        self.params = network.count(model)
        model = model.to(device)
        if self.cuda:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.model = model
        self.optimizer = torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
        self.loader = BatchLoader(
            train_set,
            config.batch_size,
            shuffle=True,
            augment=config.augment,
            seed=config.seed,
            device=device,
            channels_last=self.cuda,
            cutout=network.cutout,
        )
        self.steps_per_epoch = len(self.loader)
        self.total_steps = self.steps_per_epoch * config.epochs
        total = self.total_steps
        factor: Callable[[int], float]
        if network.per_epoch_lr:
            per_epoch, epochs = self.steps_per_epoch, config.epochs
            factor = lambda step: cosine_factor(step // per_epoch, epochs)  # noqa: E731
        else:
            factor = lambda step: cosine_factor(step, total)  # noqa: E731
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.loss_fn = nn.CrossEntropyLoss()

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ---------------------------------------------------------------- checkpoints
    def header(self, fingerprint: str) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "arch": self.arch,
            "config": self.config.to_dict(),
            "data": fingerprint,
        }

    def save(self, path: Path, fingerprint: str) -> None:
        state = self.header(fingerprint)
        state.update(
            {
                "epoch": self.epoch,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "history": self.history,
            }
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # make the rename durable where the OS allows
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def load(self, path: Path, fingerprint: str) -> None:
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:  # a truncated or foreign file: any unpickling error
            raise CheckpointError(
                f"{path}: not a readable training checkpoint ({_one_line(exc)})"
            ) from exc
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path}: not a cenas training checkpoint")
        missing = sorted(_CHECKPOINT_KEYS - set(state))
        if missing:
            raise CheckpointError(f"{path}: incomplete training checkpoint (no {missing[0]!r})")
        if state.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(
                f"{path}: checkpoint version {state.get('version')!r}, "
                f"this cenas reads {CHECKPOINT_VERSION}"
            )
        if state["arch"] != self.arch:
            raise CheckpointError(f"{path}: checkpoint of cell {state['arch']}, not {self.arch}")
        ours = self.config.to_dict()
        theirs = state["config"]
        for key in sorted(set(ours) | set(theirs)):
            if key in _EVAL_ONLY_FIELDS:
                continue
            if ours.get(key) != theirs.get(key):
                raise CheckpointError(
                    f"{path}: checkpoint has {key}={theirs.get(key)!r}, "
                    f"this job has {key}={ours.get(key)!r}"
                )
        if state["data"] != fingerprint:
            raise CheckpointError(f"{path}: checkpoint was trained on other training images")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.epoch = int(state["epoch"])
            self.history = list(state["history"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"{path}: corrupt training checkpoint ({_one_line(exc)})"
            ) from exc
        if not 0 <= self.epoch <= self.config.epochs or len(self.history) != self.epoch:
            raise CheckpointError(
                f"{path}: corrupt training checkpoint (epoch {self.epoch}, "
                f"{len(self.history)} history records)"
            )

    # ---------------------------------------------------------------- training
    def train_epoch(
        self, progress: Callable[[TrainProgress], None] | None
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """One epoch; returns ``(record, None)`` or ``(None, failure)``."""
        epoch = self.epoch
        torch.manual_seed(_epoch_seed(self.config.seed, epoch))
        self.model.train()
        if self.network.set_epoch is not None:
            self.network.set_epoch(self.model, epoch)
        aux_weight = self.network.auxiliary_weight
        grad_clip = self.network.grad_clip
        check_every = 25 if self.cuda else 1
        losses: list[torch.Tensor] = []
        sizes: list[int] = []
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        checked = 0
        t0 = time.perf_counter()
        for step, (x, y) in enumerate(self.loader.epoch(epoch), start=1):
            self.optimizer.zero_grad(set_to_none=True)
            with self.autocast():
                logits, aux = _main_and_aux(self.model(x))
                loss = self.loss_fn(logits.float(), y)
                if aux is not None and aux_weight > 0:
                    loss = loss + aux_weight * self.loss_fn(aux.float(), y)
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            losses.append(loss.detach())
            sizes.append(int(y.shape[0]))
            correct += (logits.detach().argmax(1) == y).sum()
            if step % check_every == 0 or step == self.steps_per_epoch:
                failure = self._first_nonfinite(losses, checked, epoch)
                if failure is not None:
                    return None, failure
                checked = len(losses)
            if progress is not None:
                progress(TrainProgress(epoch + 1, self.config.epochs, step, self.steps_per_epoch))
        if self.cuda:
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - t0
        loss_values = torch.stack(losses).double().cpu()
        n = sum(sizes)
        mean_loss = float((loss_values * torch.tensor(sizes, dtype=torch.float64)).sum() / n)
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": mean_loss,
            "train_acc": 100.0 * int(correct.item()) / n,
            "seconds": seconds,
            "images": n,
            "lr_end": float(self.optimizer.param_groups[0]["lr"]),
        }
        return record, None

    def _first_nonfinite(
        self, losses: list[torch.Tensor], start: int, epoch: int
    ) -> dict[str, Any] | None:
        recent = torch.stack(losses[start:])
        bad = ~torch.isfinite(recent)
        if not bool(bad.any()):
            return None
        i = int(torch.nonzero(bad).flatten()[0]) + start
        value = float(losses[i])
        return {
            "epoch": epoch + 1,
            "step": i + 1,
            "global_step": epoch * self.steps_per_epoch + i + 1,
            "loss": repr(value),
        }

    @torch.no_grad()
    def evaluate(self, data: ImageSet) -> tuple[float, float]:
        """``(accuracy %, mean loss)`` of the network in evaluation mode on ``data``."""
        self.model.eval()
        loader = BatchLoader(
            data,
            self.config.eval_batch_size,
            shuffle=False,
            augment=False,
            device=self.device,
            channels_last=self.cuda,
        )
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        for x, y in loader.epoch(0):
            with self.autocast():
                logits = _main_and_aux(self.model(x))[0].float()
            correct += (logits.argmax(1) == y).sum()
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").double()
        n = len(data)
        return 100.0 * int(correct.item()) / n, float(loss_sum.item()) / n


def train(
    arch: str | int | tuple[int, ...] | list[int],
    train_set: ImageSet,
    val_set: ImageSet | None,
    config: TrainConfig | None = None,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
    test_set: ImageSet | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    max_epochs: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train one cell's NAS-Bench-201 network and measure it.

    Builds ``cenas.nn.build_nb201(arch, config.channels, config.cells_per_stage,
    train_set.num_classes)`` under ``torch.manual_seed(config.seed)`` and trains it with
    ``config`` (NAS-Bench-201's recipe by default). On CPU deterministic algorithms are
    enforced (and the previous setting restored afterwards); on CUDA the network and batches
    are channels-last and run under bfloat16 autocast.

    With ``checkpoint_dir``, a checkpoint is written there after every epoch, atomically,
    and a job that finds one resumes from it: on CPU, with the same number of torch threads,
    it then ends with exactly the weights, loss and accuracy of an uninterrupted run. A
    finished job's checkpoint is only re-evaluated.

    Args:
        arch: The cell (an ``arch_str``, an enumeration index or six operation indices).
        train_set: Training images.
        val_set: Validation images, evaluated at the end (``None`` for none).
        config: The recipe; ``TrainConfig()`` (200 epochs) if ``None``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.
        checkpoint_dir: Directory of the job's checkpoint (created if missing).
        test_set: Test images, evaluated at the end when given.
        progress: Called after every training step and at every epoch end.
        max_epochs: Stop once this many epochs (counted from the job's start, resumed
            epochs included) are done, with status ``stopped``; the job can be resumed later.
        stop: Asked after every epoch (once its checkpoint is written); ``True`` ends the
            job there with status ``stopped``, to be resumed later (a live backend pausing
            the job at the end of a scheduling step).

    Returns:
        The :class:`TrainResult`. A non-finite loss gives status ``failed``, not an error.

    Raises:
        ConfigError: For a bad cell, device or ``max_epochs``.
        DataError: For a data set that is not ``uint8`` images with matching labels.
        CheckpointError: For a checkpoint that is unreadable or belongs to another cell,
            config or training set.
    """
    t_start = time.perf_counter()
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config: expected a TrainConfig, got {type(config).__name__}")
    try:
        arch_str = NB201Space().to_str(parse_arch(arch))
    except ValueError as exc:
        raise ConfigError(f"arch: {exc}") from exc
    return _run(
        _nb201_network(arch_str, config),
        config,
        train_set,
        val_set,
        device,
        checkpoint_dir,
        test_set,
        progress,
        max_epochs,
        stop,
        t_start,
    )


def train_darts(
    genotype: Any,
    train_set: ImageSet,
    val_set: ImageSet | None,
    config: DartsTrainConfig | None = None,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
    test_set: ImageSet | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    max_epochs: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train one DARTS genotype's CIFAR network with DARTS's recipe and measure it.

    Builds ``cenas.nn.build_darts(genotype, config.channels, config.layers,
    train_set.num_classes, config.auxiliary)`` under ``torch.manual_seed(config.seed)`` and
    trains it with ``config`` (DARTS's 600-epoch evaluation recipe by default; see
    :class:`DartsTrainConfig`) through the same job as :func:`train`: the same checkpoints
    and exact resume, failure on a non-finite loss, ``max_epochs``, ``stop`` and
    ``progress``, CPU determinism and CUDA channels-last with bfloat16 autocast. The
    training loss (``train_loss``) is the objective minimised: the classifier's
    cross-entropy plus ``auxiliary_weight`` times the auxiliary head's. Evaluation uses the
    main classifier only, without drop path; ``params`` leaves out the auxiliary head.

    Args:
        genotype: A :class:`cenas.space.Genotype` (or anything with its four fields).
        train_set: Training images (32x32).
        val_set: Validation images, evaluated at the end (``None`` for none).
        config: The recipe; ``DartsTrainConfig()`` (600 epochs) if ``None``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.
        checkpoint_dir: Directory of the job's checkpoint (created if missing).
        test_set: Test images, evaluated at the end when given.
        progress: Called after every training step and at every epoch end.
        max_epochs: Stop once this many epochs are done, with status ``stopped``.
        stop: Asked after every epoch; ``True`` ends the job there with status ``stopped``.

    Returns:
        The :class:`TrainResult`; ``arch`` is the genotype as DARTS prints it.

    Raises:
        ConfigError: For a malformed genotype, a bad device or ``max_epochs``.
        DataError: For a data set that is not ``uint8`` images with matching labels.
        CheckpointError: For a checkpoint that is unreadable or belongs to another
            genotype, config or training set.
    """
    t_start = time.perf_counter()
    config = config if config is not None else DartsTrainConfig()
    if not isinstance(config, DartsTrainConfig):
        raise ConfigError(f"config: expected a DartsTrainConfig, got {type(config).__name__}")
    try:
        checked = check_genotype(genotype)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return _run(
        _darts_network(checked, config),
        config,
        train_set,
        val_set,
        device,
        checkpoint_dir,
        test_set,
        progress,
        max_epochs,
        stop,
        t_start,
    )


def _run(
    network: _Network,
    config: _AnyConfig,
    train_set: ImageSet,
    val_set: ImageSet | None,
    device: str | torch.device,
    checkpoint_dir: str | Path | None,
    test_set: ImageSet | None,
    progress: Callable[[TrainProgress], None] | None,
    max_epochs: int | None,
    stop: Callable[[], bool] | None,
    t_start: float,
) -> TrainResult:
    """The job of :func:`train` and :func:`train_darts` once the network is known."""
    dev = resolve_device(device)
    if max_epochs is not None and (not _is_int(max_epochs) or max_epochs < 1):
        raise ConfigError(f"max_epochs: must be a positive integer, got {max_epochs!r}")
    _check_data(train_set, "train_set")
    if val_set is not None:
        _check_data(val_set, "val_set", train_set.num_classes)
    if test_set is not None:
        _check_data(test_set, "test_set", train_set.num_classes)

    ckpt: Path | None = None
    fingerprint = ""
    if checkpoint_dir is not None:
        directory = Path(checkpoint_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"checkpoint_dir: cannot create {directory} ({exc})") from exc
        ckpt = directory / CHECKPOINT_NAME
        for stale in directory.glob(f".{CHECKPOINT_NAME}.*.tmp"):  # left by a killed job
            with contextlib.suppress(OSError):
                stale.unlink()
        fingerprint = data_fingerprint(train_set)

    with _numerics(dev):
        job = _Job(network, train_set, config, dev)
        if ckpt is not None and ckpt.exists():
            job.load(ckpt, fingerprint)
        resumed_from = job.epoch
        stop_at = config.epochs if max_epochs is None else min(max_epochs, config.epochs)
        failure: dict[str, Any] | None = None
        while job.epoch < stop_at:
            record, failure = job.train_epoch(progress)
            if record is None:
                break
            if config.eval_each_epoch:
                _evaluate_into(job, record, val_set, test_set)
            job.history.append(record)
            job.epoch += 1
            if ckpt is not None:
                job.save(ckpt, fingerprint)
            if progress is not None:
                progress(
                    TrainProgress(
                        job.epoch,
                        config.epochs,
                        job.steps_per_epoch,
                        job.steps_per_epoch,
                        epoch_done=True,
                        record=record,
                    )
                )
            if stop is not None and job.epoch < stop_at and stop():
                break

        if failure is not None:
            status = "failed"
            reason = (
                f"loss became {failure['loss']} at epoch {failure['epoch']}, "
                f"step {failure['step']} of {job.steps_per_epoch}"
            )
        elif job.epoch < config.epochs:
            status, reason = "stopped", ""
        else:
            status, reason = "completed", ""
        accs: dict[str, float | None] = {
            "val_acc": None,
            "val_loss": None,
            "test_acc": None,
            "test_loss": None,
        }
        if status == "completed":
            for name, data in (("val", val_set), ("test", test_set)):
                if data is not None:
                    acc, loss = job.evaluate(data)
                    accs[f"{name}_acc"], accs[f"{name}_loss"] = acc, loss

    epoch_seconds = [float(r["seconds"]) for r in job.history]
    train_seconds = sum(epoch_seconds)
    images = sum(int(r["images"]) for r in job.history)
    return TrainResult(
        arch=network.arch,
        status=status,
        epochs=config.epochs,
        epochs_completed=job.epoch,
        val_acc=accs["val_acc"],
        test_acc=accs["test_acc"],
        train_loss=float(job.history[-1]["train_loss"]) if job.history else None,
        val_loss=accs["val_loss"],
        test_loss=accs["test_loss"],
        wall_seconds=time.perf_counter() - t_start,
        train_seconds=train_seconds,
        epoch_seconds=epoch_seconds,
        images_per_second=images / train_seconds if train_seconds > 0 else 0.0,
        params=job.params,
        device=str(dev),
        resumed_from=resumed_from,
        reason=reason,
        failure=failure,
        history=job.history,
        config=config.to_dict(),
        model=job.model,
    )


def _evaluate_into(
    job: _Job, record: dict[str, Any], val_set: ImageSet | None, test_set: ImageSet | None
) -> None:
    """Add per-epoch accuracies to ``record`` and return the network to training mode."""
    for name, data in (("val", val_set), ("test", test_set)):
        if data is not None:
            acc, loss = job.evaluate(data)
            record[f"{name}_acc"], record[f"{name}_loss"] = acc, loss
    job.model.train()


__all__ = [
    "CHECKPOINT_NAME",
    "LR_SCHEDULES",
    "DartsTrainConfig",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "cosine_factor",
    "data_fingerprint",
    "resolve_device",
    "train",
    "train_darts",
]
