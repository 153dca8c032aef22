"""The low-fidelity estimator: a real short training scored by validation accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cenas.datasets import ImageSet, train_val_split
from cenas.errors import ConfigError, DataError
from cenas.estimators._base import Cost, LiveEstimator
from cenas.estimators._low_fidelity import LowFidelityEstimator
from cenas.space import NB201Space
from cenas.train import TrainConfig, train

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def _data(n: int = 80) -> ImageSet:
    gen = torch.Generator().manual_seed(5)
    return ImageSet(
        torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen),
        torch.arange(n, dtype=torch.int64) % 10,
        tuple(f"c{i}" for i in range(10)),
        "cifar10",
        "random:5",
    )


def test_defaults_are_the_12_epoch_estimate() -> None:
    est = LowFidelityEstimator()
    assert isinstance(est, LiveEstimator)
    assert est.name == "low-fidelity"
    assert est.cost == Cost(kind="low-fidelity", epochs=12)
    assert LowFidelityEstimator.cost == Cost(kind="low-fidelity", epochs=12)
    assert est.config == TrainConfig.low_fidelity()
    assert LowFidelityEstimator(epochs=3).cost.epochs == 3


def test_score_is_validation_accuracy_of_a_real_training(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    data = _data()
    est = LowFidelityEstimator(
        epochs=2, channels=4, cells_per_stage=1, val_size=20, batch_size=16, seed=3
    )
    out = est.estimate(ARCH, data, torch.device("cpu"))
    train_part, val_part = train_val_split(data, 20, 3)
    cfg = TrainConfig(epochs=2, channels=4, cells_per_stage=1, batch_size=16, seed=3)
    direct = train(ARCH, train_part, val_part, cfg)
    assert out.score == direct.val_acc
    assert out.arch_str == ARCH and out.estimator == "low-fidelity" and out.device == "cpu"
    assert out.extra["status"] == "completed" and out.extra["epochs"] == 2
    assert (out.extra["train_images"], out.extra["val_images"]) == (60, 20)
    assert out.extra["train_loss"] == direct.train_loss
    assert len(out.extra["epoch_seconds"]) == 2 and out.seconds > 0
    # checkpointed estimates land in one directory per cell and give the same score
    ck = LowFidelityEstimator(
        epochs=2,
        channels=4,
        cells_per_stage=1,
        val_size=20,
        batch_size=16,
        seed=3,
        checkpoint_root=tmp_path,
    )
    assert ck.estimate(ARCH, data, torch.device("cpu")).score == out.score
    index = NB201Space().to_index(NB201Space().from_str(ARCH))
    assert [p.name for p in tmp_path.iterdir()] == [str(index)]


def test_diverged_training_scores_zero() -> None:
    cfg = TrainConfig.low_fidelity(epochs=1, channels=4, cells_per_stage=1, batch_size=16, lr=1e30)
    out = LowFidelityEstimator(config=cfg, val_size=20).estimate(ARCH, _data(), torch.device("cpu"))
    assert out.score == 0.0 and out.extra["status"] == "failed"
    assert out.extra["reason"].startswith("loss became nan at epoch 1, step ")


def test_bad_arguments_are_one_line() -> None:
    with pytest.raises(ConfigError, match="val_size: "):
        LowFidelityEstimator(val_size=0)
    with pytest.raises(ConfigError, match=r"TrainConfig\.epochs: "):
        LowFidelityEstimator(epochs=0)
    with pytest.raises(DataError, match="random:5: validation size 80"):
        LowFidelityEstimator(val_size=80).estimate(ARCH, _data(), torch.device("cpu"))
