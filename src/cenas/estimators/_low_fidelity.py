"""Low-fidelity estimation: a short real training, scored by validation accuracy.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) estimates candidates cheaply and trains only
the promising ones fully; its low-fidelity estimate is the accuracy after NAS-Bench-201's
12-epoch schedule (Dong & Yang, ICLR 2020), at 12/200 of a full training's cost. This
estimator runs that training for real with :func:`cenas.train.train`: the images it is
given are split, seeded and class-stratified, into a training and a validation part; the
cell's network is trained on the first with NAS-Bench-201's recipe (a cosine over the short
schedule) and its score is the accuracy on the second, in percent.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from cenas.datasets import ImageSet, train_val_split
from cenas.errors import ConfigError, DataError
from cenas.estimators._base import Cost, EstimateResult, LiveEstimator
from cenas.nn import parse_arch
from cenas.space import NB201Space
from cenas.train import TrainConfig, train


class LowFidelityEstimator(LiveEstimator):
    """Score a cell by its validation accuracy after a short NAS-Bench-201 training.

    Args:
        epochs: Epochs of the short schedule (12, NAS-Bench-201's low-fidelity schedule).
        channels: ``C`` of the network (16 in the benchmark).
        cells_per_stage: ``N`` of the network (5 in the benchmark).
        val_size: Validation images carved out of the data, a count or a fraction.
        seed: Seed of the split and of the training.
        batch_size: Training batch (256 in the benchmark).
        config: A full :class:`cenas.train.TrainConfig`; when given it replaces ``epochs``,
            ``channels``, ``cells_per_stage``, ``seed`` and ``batch_size``.
        checkpoint_root: If set, each estimate checkpoints into
            ``checkpoint_root/<cell index>`` and resumes from there.

    A training whose loss becomes NaN or infinite scores 0.0 (a diverged network), with
    ``extra["status"] == "failed"`` and the reason in ``extra["reason"]``.
    """

    name = "low-fidelity"
    cost = Cost(kind="low-fidelity", epochs=12)

    def __init__(
        self,
        epochs: int = 12,
        channels: int = 16,
        cells_per_stage: int = 5,
        val_size: int | float = 0.2,
        seed: int = 0,
        batch_size: int = 256,
        config: TrainConfig | None = None,
        checkpoint_root: str | Path | None = None,
    ) -> None:
        if config is None:
            config = TrainConfig.low_fidelity(
                epochs=epochs,
                channels=channels,
                cells_per_stage=cells_per_stage,
                seed=seed,
                batch_size=batch_size,
            )
        if not isinstance(val_size, int | float) or isinstance(val_size, bool) or val_size <= 0:
            raise ConfigError(f"val_size: must be a positive count or fraction, got {val_size!r}")
        self.config = config
        self.val_size = val_size
        self.checkpoint_root = Path(checkpoint_root) if checkpoint_root is not None else None
        self.cost = Cost(kind="low-fidelity", epochs=config.epochs)

    def split(self, data: ImageSet) -> tuple[ImageSet, ImageSet]:
        """The seeded training and validation parts of ``data`` this estimator uses.

        Raises:
            DataError: If the validation part would be empty or hold every image.
        """
        try:
            return train_val_split(data, self.val_size, self.config.seed)
        except ValueError as exc:
            raise DataError(f"{data.source}: {exc}") from exc

    def estimate(self, arch: str, data: ImageSet, device: torch.device) -> EstimateResult:
        """Train ``arch`` briefly on part of ``data``; score it on the rest.

        Args:
            arch: The cell, an ``arch_str``.
            data: Labelled training images (the validation part is carved out of them).
            device: Where to train.

        Returns:
            The estimate: ``score`` is the validation accuracy in percent.
        """
        t0 = time.perf_counter()
        train_part, val_part = self.split(data)
        ckpt = None
        if self.checkpoint_root is not None:
            try:
                index = NB201Space().to_index(parse_arch(arch))
            except ValueError as exc:
                raise ConfigError(f"arch: {exc}") from exc
            ckpt = self.checkpoint_root / str(index)
        result = train(arch, train_part, val_part, self.config, device, checkpoint_dir=ckpt)
        score = (
            result.val_acc if result.status == "completed" and result.val_acc is not None else 0.0
        )
        extra: dict[str, Any] = {
            "status": result.status,
            "reason": result.reason,
            "epochs": result.epochs_completed,
            "val_acc": result.val_acc,
            "val_loss": result.val_loss,
            "train_loss": result.train_loss,
            "train_images": len(train_part),
            "val_images": len(val_part),
            "params": result.params,
            "epoch_seconds": result.epoch_seconds,
            "images_per_second": result.images_per_second,
        }
        return EstimateResult(
            arch_str=result.arch,
            estimator=self.name,
            score=float(score),
            seconds=time.perf_counter() - t0,
            device=result.device,
            extra=extra,
        )


__all__ = ["LowFidelityEstimator"]
