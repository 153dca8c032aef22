"""Weight-sharing NAS-Bench-201 supernets: one-shot (SPOS) and few-shot estimators.

One-shot: Guo, Zhang, Mu, Heng, Liu, Wei, Sun, "Single Path One-Shot Neural Architecture
Search with Uniform Sampling", ECCV 2020. Every edge of every cell holds all five NAS-Bench-201
operations; each training batch trains one path (one operation per edge) drawn uniformly, so
all 15,625 cells share one set of weights. A cell is then estimated by inheriting its path's
weights, recalibrating the path's batch-norm statistics on training batches, and measuring
validation accuracy.

Few-shot: Zhao, Wei, Wang, Pan, Guo, Ding, Liu, "Few-shot Neural Architecture Search", ICML
2021 (the first author of CE-NAS). One edge is split: five sub-supernets, one per operation
on that edge, each warm-started from the trained one-shot supernet and trained further with
that edge fixed; a cell is estimated by the sub-supernet whose fixed operation it uses. For
NAS-Bench-201 the authors split the first edge (node 1 <- node 0, edge 0 here) and trained the
one-shot supernet for 600 epochs, then each sub-supernet for 300 epochs (6.8 and 10.1
GPU-hours reported). Their supernet optimiser was SGD with Nesterov momentum 0.9, cosine
learning rate 0.025 -> 0.001, weight decay 1e-4 and batch 48; the defaults here follow the
NAS-Bench-201 training recipe instead (learning rate 0.1 -> 0, weight decay 5e-4, batch 256),
and both are settings of :class:`SupernetConfig`.

The supernet's skeleton is NATS-Bench's ``TinyNetwork`` (:mod:`cenas.nn._nb201`), built from
the same modules, so that :meth:`NB201Supernet.extract` yields a standalone
:class:`~cenas.nn.NB201Network` whose output equals the supernet's on that path. Its batch
norms are therefore affine with running statistics, as in the standalone network (the
few-shot authors' supernet used non-affine ones).

Training writes a checkpoint after every epoch (atomically: a temporary file, then a
rename); batch order, augmentation and path sampling are functions of ``(seed, epoch)`` and
the learning rate a function of the step, so a run resumed from a checkpoint ends with
exactly the weights of an uninterrupted one.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cenas.datasets import BatchLoader, ImageSet, train_val_split
from cenas.errors import CheckpointError, ConfigError
from cenas.estimators._base import Cost, EstimateResult, LiveEstimator
from cenas.nn._nb201 import NB201Network, NB201Skeleton, build_skeleton, make_op, parse_arch
from cenas.space import NB201_EDGES, NB201_OPS, NB201Space

N_OPS = len(NB201_OPS)
N_EDGES = len(NB201_EDGES)

_CHECKPOINT_FORMAT = "cenas-supernet-checkpoint"
_WEIGHTS_FORMAT = "cenas-supernet"
_FORMAT_VERSION = 1


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class SupernetConfig:
    """Settings of supernet training and estimation by inheritance.

    Attributes:
        channels: ``C`` of the first stage (16 in NAS-Bench-201).
        cells_per_stage: ``N`` (5 in NAS-Bench-201).
        epochs: One-shot supernet epochs (600 in the few-shot paper).
        few_shot_epochs: Epochs of each sub-supernet after the warm start (300 in the paper).
        split_edge: The edge that few-shot NAS splits (0: node 1 <- node 0, as in the paper).
        batch_size: Training batch size.
        lr: Initial learning rate of the cosine schedule.
        lr_min: Final learning rate of the cosine schedule.
        momentum: SGD momentum (Nesterov when ``nesterov``).
        nesterov: Use Nesterov momentum.
        weight_decay: L2 weight decay.
        seed: Seed of batch order, augmentation, path sampling and initial weights.
        val_size: Validation images carved out of the training data (count, or a fraction
            in ``(0, 1)``); the supernet trains on the rest.
        split_seed: Seed of the train/validation split.
        recal_batches: Training batches forwarded to refill a path's batch-norm statistics.
        eval_batch_size: Batch size of recalibration and validation passes.
    """

    channels: int = 16
    cells_per_stage: int = 5
    epochs: int = 600
    few_shot_epochs: int = 300
    split_edge: int = 0
    batch_size: int = 256
    lr: float = 0.1
    lr_min: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    seed: int = 0
    val_size: int | float = 0.2
    split_seed: int = 0
    recal_batches: int = 10
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        positive = ("channels", "cells_per_stage", "batch_size", "recal_batches")
        for name in (*positive, "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"supernet config: {name} must be positive")
        for name in ("epochs", "few_shot_epochs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"supernet config: {name} must not be negative")
        if not 0 <= self.split_edge < N_EDGES:
            raise ConfigError(f"supernet config: split_edge must be in 0..{N_EDGES - 1}")
        if self.lr <= 0 or self.lr_min < 0 or self.lr_min > self.lr:
            raise ConfigError("supernet config: need 0 <= lr_min <= lr and lr > 0")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ConfigError("supernet config: need weight_decay >= 0 and 0 <= momentum < 1")
        if self.val_size <= 0:
            raise ConfigError("supernet config: val_size must be positive")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-safe dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SupernetConfig:
        """Settings from :meth:`to_dict` output.

        Raises:
            ConfigError: For an unknown key or a bad value.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"supernet config: unknown key {unknown[0]!r}")
        return cls(**values)


# --------------------------------------------------------------------------- the supernet


class SearchCell(nn.Module):
    """A NAS-Bench-201 cell whose six edges each hold all five operations."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList(make_op(name, channels) for name in NB201_OPS) for _ in NB201_EDGES
        )

    def forward(self, x: torch.Tensor, ops: Sequence[int]) -> torch.Tensor:
        """Run the single path ``ops`` (in the same order of sums as ``InferCell``)."""
        nodes = [x]
        k = 0
        for to_node in range(1, 4):
            total = self._edge(k, ops[k])(nodes[0])
            for from_node in range(1, to_node):
                total = total + self._edge(k + from_node, ops[k + from_node])(nodes[from_node])
            k += to_node
            nodes.append(total)
        return nodes[-1]

    def _edge(self, k: int, op: int) -> nn.Module:
        candidates = self.edges[k]
        assert isinstance(candidates, nn.ModuleList)
        return candidates[op]


class NB201Supernet(NB201Skeleton):
    """NATS-Bench's ``TinyNetwork`` with every candidate operation on every edge.

    The stem, the residual reduction blocks, the last batch norm and the classifier are
    shared by all paths; each cell holds its own five candidates per edge, shared by every
    path that picks them. ``forward(x, ops)`` runs one path: the six operation indices of a
    cell, repeated in every cell as NAS-Bench-201 repeats its cell.

    Args:
        channels: ``C``, channels of the first stage.
        cells_per_stage: ``N``, cells per stage.
        num_classes: Classifier outputs.
    """

    def __init__(self, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10) -> None:
        super().__init__()
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.num_classes = num_classes
        build_skeleton(self, channels, cells_per_stage, num_classes, SearchCell)

    def forward(self, x: torch.Tensor, ops: Sequence[int]) -> torch.Tensor:
        """Logits of the path ``ops`` (six operation indices in ``0..4``)."""
        path = _check_ops(ops)
        out = self.stem(x)
        for layer in self.cells:
            out = layer(out, path) if isinstance(layer, SearchCell) else layer(out)
        out = torch.flatten(self.global_pooling(self.lastact(out)), 1)
        return self.classifier(out)

    def path_modules(self, ops: Sequence[int]) -> list[nn.Module]:
        """The modules a path runs: shared blocks and the chosen candidate of every edge."""
        path = _check_ops(ops)
        modules: list[nn.Module] = [self.stem, self.lastact, self.classifier]
        for layer in self.cells:
            if isinstance(layer, SearchCell):
                modules.extend(layer._edge(k, op) for k, op in enumerate(path))
            else:
                modules.append(layer)
        return modules

    def path_parameters(self, ops: Sequence[int]) -> list[nn.Parameter]:
        """The parameters a path uses (those a training step on it updates)."""
        return [p for m in self.path_modules(ops) for p in m.parameters()]

    def path_batchnorms(self, ops: Sequence[int]) -> list[nn.BatchNorm2d]:
        """The batch norms a path runs through."""
        return [
            bn
            for m in self.path_modules(ops)
            for bn in m.modules()
            if isinstance(bn, nn.BatchNorm2d)
        ]

    def path_state_dict(self, ops: Sequence[int]) -> dict[str, torch.Tensor]:
        """The state of the path ``ops`` under the key names of :class:`NB201Network`."""
        path = _check_ops(ops)
        net = NB201Network(path, self.channels, self.cells_per_stage, self.num_classes)
        return self._state_for(net, path)

    def _state_for(self, net: NB201Network, path: tuple[int, ...]) -> dict[str, torch.Tensor]:
        own = self.state_dict()
        return {key: own[_supernet_key(self, key, path)] for key in net.state_dict()}

    def extract(self, ops: Sequence[int]) -> NB201Network:
        """A standalone network of the cell ``ops`` holding copies of the inherited weights.

        In eval mode its output equals ``self(x, ops)``.
        """
        path = _check_ops(ops)
        net = NB201Network(path, self.channels, self.cells_per_stage, self.num_classes)
        state = {k: v.detach().clone() for k, v in self._state_for(net, path).items()}
        net.load_state_dict(state, strict=True)
        return net.to(next(self.parameters()).device)


_CELL_EDGE_KEY = re.compile(r"^cells\.(\d+)\.edges\.(\d+)\.(.+)$")


def _supernet_key(supernet: NB201Supernet, key: str, ops: tuple[int, ...]) -> str:
    """The supernet key of a standalone network's state key on the path ``ops``."""
    match = _CELL_EDGE_KEY.match(key)
    if match is None:
        return key
    cell, edge, rest = int(match[1]), int(match[2]), match[3]
    if not isinstance(supernet.cells[cell], SearchCell):
        return key
    return f"cells.{cell}.edges.{edge}.{ops[edge]}.{rest}"


def _check_ops(ops: Sequence[int]) -> tuple[int, ...]:
    path = tuple(int(o) for o in ops)
    if len(path) != N_EDGES or any(not 0 <= o < N_OPS for o in path):
        raise ValueError(f"a path is {N_EDGES} operation indices in 0..{N_OPS - 1}, got {ops}")
    return path


# --------------------------------------------------------------------------- SPOS training


def sample_paths(
    seed: int, epoch: int, n: int, restrict: tuple[int, int] | None = None
) -> torch.Tensor:
    """The uniformly sampled paths of one epoch, one per batch, a function of (seed, epoch).

    Args:
        seed: Seed of the run.
        epoch: The epoch.
        n: Number of batches.
        restrict: ``(edge, op)``: that edge always takes that operation (few-shot).

    Returns:
        ``int64`` tensor ``(n, 6)``.
    """
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 7_919)
    paths = torch.randint(0, N_OPS, (n, N_EDGES), generator=gen)
    if restrict is not None:
        edge, op = restrict
        if not (0 <= edge < N_EDGES and 0 <= op < N_OPS):
            raise ValueError(f"restrict must be (edge 0..5, op 0..4), got {restrict}")
        paths[:, edge] = op
    return paths


def cosine_lr(config: SupernetConfig, epochs: int, progress: float) -> float:
    """Cosine learning rate after ``progress`` epochs of ``epochs`` (per step, as NB201)."""
    t = min(max(progress / max(epochs, 1), 0.0), 1.0)
    return config.lr_min + 0.5 * (config.lr - config.lr_min) * (1.0 + math.cos(math.pi * t))


@dataclass(frozen=True)
class SupernetTrainResult:
    """What a supernet training run did.

    Attributes:
        epochs: Epochs of the schedule (all done when the call returns normally).
        start_epoch: The epoch this call started at (``> 0`` when it resumed).
        seconds: Wall seconds of training over all runs of this schedule, resumes included.
        losses: Mean training loss of every epoch.
    """

    epochs: int
    start_epoch: int
    seconds: float
    losses: tuple[float, ...] = field(default_factory=tuple)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _atomic_save(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load(path: Path, expected_format: str) -> dict[str, Any]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, or not a torch file
        raise CheckpointError(f"{path}: cannot be read as a supernet file ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != expected_format:
        raise CheckpointError(f"{path}: not a {expected_format} file")
    if obj.get("version") != _FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported version {obj.get('version')!r}")
    return obj


def train_supernet(
    supernet: NB201Supernet,
    train_set: ImageSet,
    config: SupernetConfig,
    device: torch.device | str,
    checkpoint_dir: Path | str | None,
    restrict: tuple[int, int] | None = None,
    *,
    epochs: int | None = None,
    on_epoch_end: Callable[[int, float], None] | None = None,
) -> SupernetTrainResult:
    """Train a supernet by uniform single-path sampling (SPOS), one path per batch.

    Args:
        supernet: The supernet, trained in place (moved to ``device``).
        train_set: Training images.
        config: Optimiser and schedule settings.
        device: Where to train.
        checkpoint_dir: Directory of the per-epoch checkpoint ``supernet.pt``; a checkpoint
            there is resumed. ``None`` trains without checkpoints.
        restrict: ``(edge, op)`` fixes one edge's operation (a few-shot sub-supernet).
        epochs: Length of the schedule; default ``config.epochs``, or
            ``config.few_shot_epochs`` when ``restrict`` is given.
        on_epoch_end: Called with ``(epoch, mean loss)`` after each epoch's checkpoint.

    Returns:
        The run's epochs, start epoch, seconds and losses.

    Raises:
        CheckpointError: If the checkpoint is unreadable or belongs to another run.
    """
    dev = torch.device(device)
    n_epochs = (
        epochs
        if epochs is not None
        else (config.epochs if restrict is None else config.few_shot_epochs)
    )
    supernet.to(dev)
    optimizer = torch.optim.SGD(
        supernet.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
    identity = {
        "config": json.dumps(config.to_dict(), sort_keys=True),
        "restrict": list(restrict) if restrict is not None else None,
        "epochs": n_epochs,
        "num_classes": supernet.num_classes,
        "train_images": len(train_set),
    }
    start_epoch, seconds, losses = 0, 0.0, []
    path = Path(checkpoint_dir) / "supernet.pt" if checkpoint_dir is not None else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            state = _load(path, _CHECKPOINT_FORMAT)
            for key, value in identity.items():
                if state.get(key) != value:
                    raise CheckpointError(
                        f"{path}: checkpoint of another run ({key} differs); "
                        "use another checkpoint directory"
                    )
            supernet.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_epoch, seconds = int(state["epoch"]), float(state["seconds"])
            losses = [float(v) for v in state["losses"]]
    loader = BatchLoader(
        train_set, config.batch_size, shuffle=True, augment=True, seed=config.seed,
        device=dev, drop_last=len(train_set) > config.batch_size,
    )  # fmt: skip
    n_batches = len(loader)
    for epoch in range(start_epoch, n_epochs):
        _sync(dev)
        began = time.perf_counter()
        paths = sample_paths(config.seed, epoch, n_batches, restrict).tolist()
        supernet.train()
        total, count = torch.zeros((), device=dev), 0
        for step, (x, y) in enumerate(loader.epoch(epoch)):
            lr = cosine_lr(config, n_epochs, epoch + step / n_batches)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(supernet(x, paths[step]), y)
            loss.backward()
            optimizer.step()
            total += loss.detach() * y.shape[0]
            count += int(y.shape[0])
        _sync(dev)
        seconds += time.perf_counter() - began
        losses.append(float(total) / max(count, 1))
        if path is not None:
            _atomic_save(
                {
                    "format": _CHECKPOINT_FORMAT,
                    "version": _FORMAT_VERSION,
                    **identity,
                    "epoch": epoch + 1,
                    "seconds": seconds,
                    "losses": losses,
                    "model": supernet.state_dict(),
                    "optimizer": optimizer.state_dict(),
                },
                path,
            )
        if on_epoch_end is not None:
            on_epoch_end(epoch, losses[-1])
    return SupernetTrainResult(n_epochs, start_epoch, seconds, tuple(losses))


# --------------------------------------------------------------------------- estimation


def recalibrate_bn(
    supernet: NB201Supernet, ops: Sequence[int], loader: BatchLoader, batches: int
) -> int:
    """Reset the running statistics of a path's batch norms and refill them.

    The statistics become the plain average over ``batches`` training batches (forwarded in
    train mode without gradient) of each batch's mean and variance; batch norms off the path
    are untouched.

    Returns:
        The number of batches forwarded (fewer than ``batches`` if the loader runs out).
    """
    bns = supernet.path_batchnorms(ops)
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    was_training = supernet.training
    supernet.train()
    used = 0
    try:
        with torch.no_grad():
            for x, _ in loader.epoch(0):
                if used >= batches:
                    break
                supernet(x, ops)
                used += 1
    finally:
        for bn, momentum in zip(bns, momenta, strict=True):
            bn.momentum = momentum
        supernet.train(was_training)
    return used


def evaluate_path(supernet: NB201Supernet, ops: Sequence[int], loader: BatchLoader) -> float:
    """Top-1 accuracy (%) of the path ``ops`` on every batch of ``loader``, in eval mode."""
    was_training = supernet.training
    supernet.eval()
    correct = torch.zeros((), dtype=torch.int64, device=loader.device)
    n = 0
    with torch.no_grad():
        for x, y in loader.epoch(0):
            correct += (supernet(x, ops).argmax(dim=1) == y).sum()
            n += int(y.shape[0])
    supernet.train(was_training)
    return 100.0 * int(correct) / max(n, 1)


def estimate_by_inheritance(
    supernet: NB201Supernet,
    ops: Sequence[int],
    recal_loader: BatchLoader,
    val_loader: BatchLoader,
    recal_batches: int,
) -> tuple[float, float]:
    """Inherit, recalibrate batch norms, evaluate: ``(validation accuracy %, seconds)``."""
    dev = val_loader.device
    _sync(dev)
    began = time.perf_counter()
    recalibrate_bn(supernet, ops, recal_loader, recal_batches)
    accuracy = evaluate_path(supernet, ops, val_loader)
    _sync(dev)
    return accuracy, time.perf_counter() - began


# --------------------------------------------------------------------------- save / load


def save_supernets(
    path: Path | str,
    kind: str,
    supernets: Sequence[NB201Supernet],
    config: SupernetConfig,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write trained supernet weights (state dicts) and a JSON-safe config to ``path``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(
        {
            "format": _WEIGHTS_FORMAT,
            "version": _FORMAT_VERSION,
            "kind": kind,
            "config": json.dumps(config.to_dict(), sort_keys=True),
            "num_classes": supernets[0].num_classes,
            "meta": json.dumps(meta or {}, sort_keys=True),
            "state_dicts": [{k: v.cpu() for k, v in s.state_dict().items()} for s in supernets],
        },
        out,
    )
    return out


def load_supernets(
    path: Path | str, kind: str
) -> tuple[list[NB201Supernet], SupernetConfig, dict[str, Any]]:
    """Read :func:`save_supernets` output: ``(supernets, config, meta)``.

    Raises:
        CheckpointError: If the file is unreadable, of another kind, or does not fit.
    """
    src = Path(path)
    if not src.is_file():
        raise CheckpointError(f"{src}: no such supernet file")
    obj = _load(src, _WEIGHTS_FORMAT)
    if obj.get("kind") != kind:
        raise CheckpointError(f"{src}: holds a {obj.get('kind')!r} supernet, not {kind!r}")
    config = SupernetConfig.from_dict(json.loads(obj["config"]))
    meta = json.loads(obj["meta"])
    supernets = []
    for state in obj["state_dicts"]:
        net = NB201Supernet(config.channels, config.cells_per_stage, int(obj["num_classes"]))
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise CheckpointError(f"{src}: weights do not fit the config ({first})") from None
        supernets.append(net)
    return supernets, config, meta


# --------------------------------------------------------------------------- estimators


class _SupernetEstimator(LiveEstimator):
    """Shared machinery: data split, loaders, routing a cell to a supernet."""

    kind = "one-shot"

    def __init__(
        self,
        config: SupernetConfig | None = None,
        weights: Path | str | None = None,
        checkpoint_dir: Path | str | None = None,
    ) -> None:
        self.config = config if config is not None else SupernetConfig()
        self.weights = Path(weights) if weights is not None else None
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.supernets: list[NB201Supernet] = []
        self.train_seconds = 0.0
        self.train_losses: tuple[float, ...] = ()
        self._space = NB201Space()
        self._data: ImageSet | None = None
        self._device: torch.device | None = None
        self._loaders: tuple[BatchLoader, BatchLoader] | None = None
        self.cost = self._make_cost(None)

    def _init_words(self) -> str:
        return f"supernet training: {self.config.epochs} epochs"

    def _make_cost(self, n_val: int | None) -> Cost:
        passes = self.config.recal_batches
        if n_val is not None:
            passes += -(-n_val // self.config.eval_batch_size)
        return Cost(kind="one-shot", passes=passes, init=self._init_words())

    def split(self, data: ImageSet) -> tuple[ImageSet, ImageSet]:
        """The seeded ``(train, validation)`` split of ``data`` the estimator uses."""
        return train_val_split(data, self.config.val_size, self.config.split_seed)

    def _loaders_for(self, data: ImageSet, device: torch.device) -> tuple[BatchLoader, BatchLoader]:
        if self._loaders is None or self._data is not data or self._device != device:
            train, val = self.split(data)
            recal = BatchLoader(
                train, self.config.eval_batch_size, shuffle=True, augment=False,
                seed=self.config.seed + 1, device=device,
            )  # fmt: skip
            evaluate = BatchLoader(
                val, self.config.eval_batch_size, shuffle=False, augment=False, device=device
            )
            self._data, self._device, self._loaders = data, device, (recal, evaluate)
            self.cost = self._make_cost(len(val))
        return self._loaders

    def supernet_for(self, ops: Sequence[int]) -> NB201Supernet:
        """The supernet that estimates the cell ``ops``."""
        if not self.supernets:
            raise RuntimeError(f"{self.name}: call prepare() before estimate()")
        return self.supernets[0]

    def save(self, path: Path | str) -> Path:
        """Write the trained supernet(s) to ``path`` (read back with ``weights=path``)."""
        if not self.supernets:
            raise RuntimeError(f"{self.name}: nothing to save before prepare()")
        meta = {"train_seconds": self.train_seconds}
        return save_supernets(path, self.kind, self.supernets, self.config, meta)

    def _load_weights(self, device: torch.device) -> float:
        assert self.weights is not None
        began = time.perf_counter()
        supernets, config, meta = load_supernets(self.weights, self.kind)
        if config != self.config:
            raise CheckpointError(
                f"{self.weights}: trained with another supernet config than this estimator's"
            )
        self.supernets = [s.to(device) for s in supernets]
        self.train_seconds = float(meta.get("train_seconds", 0.0))
        return time.perf_counter() - began

    def estimate(self, arch: str, data: ImageSet, device: torch.device) -> EstimateResult:
        """Inherit the cell's weights, recalibrate its batch norms, measure validation accuracy.

        Args:
            arch: The cell (an ``arch_str``).
            data: The training data given to :meth:`prepare` (split the same way).
            device: Where to run.
        """
        dev = torch.device(device)
        ops = parse_arch(arch)
        recal, val = self._loaders_for(data, dev)
        supernet = self.supernet_for(ops)
        accuracy, seconds = estimate_by_inheritance(
            supernet, ops, recal, val, self.config.recal_batches
        )
        return EstimateResult(
            arch_str=self._space.to_str(ops),
            estimator=self.name,
            score=accuracy,
            seconds=seconds,
            device=str(dev),
            extra={
                "val_images": len(val.data),
                "recal_batches": self.config.recal_batches,
                "supernet": self.supernets.index(supernet),
            },
        )


class OneShotEstimator(_SupernetEstimator):
    """Estimate a cell with the weights it inherits from one SPOS-trained supernet.

    Args:
        config: Supernet settings (default: the full 600-epoch C=16, N=5 supernet).
        weights: A file written by :meth:`save`; ``prepare`` loads it instead of training.
        checkpoint_dir: Where training keeps its per-epoch checkpoint (resumed if present).
    """

    name = "one-shot"
    kind = "one-shot"

    def prepare(self, data: ImageSet, device: torch.device) -> float:
        """Train the supernet on the training part of ``data`` (or load it); its seconds."""
        dev = torch.device(device)
        self._loaders_for(data, dev)
        if self.weights is not None:
            return self._load_weights(dev)
        train, _ = self.split(data)
        torch.manual_seed(self.config.seed)
        supernet = NB201Supernet(
            self.config.channels, self.config.cells_per_stage, data.num_classes
        )
        result = train_supernet(supernet, train, self.config, dev, self.checkpoint_dir)
        self.supernets = [supernet]
        self.train_seconds = result.seconds
        self.train_losses = result.losses
        return result.seconds


def warm_start(one_shot: NB201Supernet, n: int = N_OPS) -> list[NB201Supernet]:
    """``n`` sub-supernets, each a copy of the trained one-shot supernet's weights."""
    return [copy.deepcopy(one_shot) for _ in range(n)]


class FewShotEstimator(_SupernetEstimator):
    """Estimate a cell by the few-shot sub-supernet matching its operation on the split edge.

    Args:
        config: Supernet settings (``split_edge``, ``epochs``, ``few_shot_epochs``).
        weights: A file written by :meth:`save`; ``prepare`` loads it instead of training.
        checkpoint_dir: Root of the training checkpoints (``one-shot/`` and
            ``few-shot-<op>/`` below it), resumed where present.
        one_shot_weights: A trained one-shot supernet (written by
            :meth:`OneShotEstimator.save` with the same config) to warm-start from instead
            of training one.
    """

    name = "few-shot"
    kind = "few-shot"

    def __init__(
        self,
        config: SupernetConfig | None = None,
        weights: Path | str | None = None,
        checkpoint_dir: Path | str | None = None,
        one_shot_weights: Path | str | None = None,
    ) -> None:
        super().__init__(config, weights, checkpoint_dir)
        self.one_shot_weights = Path(one_shot_weights) if one_shot_weights is not None else None

    def _init_words(self) -> str:
        c = self.config
        return (
            f"supernet training: {c.epochs} epochs, then {N_OPS} x {c.few_shot_epochs} epochs "
            f"warm-started (edge {c.split_edge} split)"
        )

    def supernet_for(self, ops: Sequence[int]) -> NB201Supernet:
        """The sub-supernet whose fixed operation on the split edge is the cell's."""
        if len(self.supernets) != N_OPS:
            raise RuntimeError(f"{self.name}: call prepare() before estimate()")
        return self.supernets[_check_ops(ops)[self.config.split_edge]]

    def _sub_dir(self, name: str) -> Path | None:
        return self.checkpoint_dir / name if self.checkpoint_dir is not None else None

    def prepare(self, data: ImageSet, device: torch.device) -> float:
        """Train (or load) the one-shot supernet, then the five sub-supernets; seconds."""
        dev = torch.device(device)
        self._loaders_for(data, dev)
        if self.weights is not None:
            return self._load_weights(dev)
        train, _ = self.split(data)
        seconds = 0.0
        if self.one_shot_weights is not None:
            began = time.perf_counter()
            loaded, config, meta = load_supernets(self.one_shot_weights, "one-shot")
            if config != self.config:
                raise CheckpointError(
                    f"{self.one_shot_weights}: one-shot supernet of another config"
                )
            one_shot = loaded[0].to(dev)
            seconds += time.perf_counter() - began
            one_shot_train = float(meta.get("train_seconds", 0.0))
        else:
            torch.manual_seed(self.config.seed)
            one_shot = NB201Supernet(
                self.config.channels, self.config.cells_per_stage, data.num_classes
            )
            result = train_supernet(one_shot, train, self.config, dev, self._sub_dir("one-shot"))
            seconds += result.seconds
            one_shot_train = result.seconds
        subs = warm_start(one_shot)
        sub_seconds = 0.0
        for op, sub in enumerate(subs):
            result = train_supernet(
                sub, train, self.config, dev, self._sub_dir(f"few-shot-{op}"),
                restrict=(self.config.split_edge, op),
            )  # fmt: skip
            sub_seconds += result.seconds
        self.supernets = subs
        self.train_seconds = one_shot_train + sub_seconds
        return seconds + sub_seconds


__all__ = [
    "FewShotEstimator",
    "NB201Supernet",
    "OneShotEstimator",
    "SearchCell",
    "SupernetConfig",
    "SupernetTrainResult",
    "cosine_lr",
    "estimate_by_inheritance",
    "evaluate_path",
    "load_supernets",
    "recalibrate_bn",
    "sample_paths",
    "save_supernets",
    "train_supernet",
    "warm_start",
]
