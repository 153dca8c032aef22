"""DARTS training through the one trainer: exact resume, aux loss, drop path, clipping, rates."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import cenas.nn._darts as darts_module
from cenas.datasets import ImageSet, load_cifar, normalize
from cenas.errors import CheckpointError, ConfigError
from cenas.nn import DartsNetwork
from cenas.space import DARTS_V1, DARTS_V2
from cenas.train import (
    CHECKPOINT_NAME,
    DartsTrainConfig,
    TrainConfig,
    TrainProgress,
    TrainResult,
    cosine_factor,
    train,
    train_darts,
)

TINY = DartsTrainConfig(epochs=2, batch_size=64, channels=4, layers=2, seed=0)
STEPS = 4  # 256 images, batch 64


@pytest.fixture(scope="module")
def data() -> tuple[ImageSet, ImageSet]:
    """256 training and 64 validation images of the packaged CIFAR-10 subset."""
    full = load_cifar(None)
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(0))
    return full.subset(order[:256]), full.subset(order[256:320])


@pytest.fixture(scope="module")
def reference(data: tuple[ImageSet, ImageSet]) -> TrainResult:
    """An uninterrupted 2-epoch run of DARTS_V2 at C=4, 2 cells, with the auxiliary head."""
    torch.set_num_threads(1)
    return train_darts(DARTS_V2, data[0], data[1], TINY)


def _states_equal(a: nn.Module | None, b: nn.Module | None) -> bool:
    assert a is not None and b is not None
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_defaults_are_the_darts_recipe() -> None:
    d = DartsTrainConfig()
    assert (d.epochs, d.batch_size, d.lr, d.momentum, d.nesterov, d.weight_decay) == (
        600,
        96,
        0.025,
        0.9,
        False,
        3e-4,
    )
    assert (d.channels, d.layers, d.auxiliary, d.auxiliary_weight) == (36, 20, True, 0.4)
    assert (d.cutout, d.drop_path_prob, d.grad_clip, d.lr_schedule) == (16, 0.2, 5.0, "epoch")
    lf = DartsTrainConfig.low_fidelity()
    assert (lf.epochs, lf.channels, lf.layers, lf.auxiliary) == (10, 16, 8, False)
    assert (lf.drop_path_prob, lf.cutout, lf.lr, lf.batch_size) == (0.0, 0, 0.025, 96)
    assert DartsTrainConfig.low_fidelity(epochs=5).epochs == 5
    assert DartsTrainConfig.from_dict(lf.to_dict()) == lf
    json.dumps(d.to_dict())


def test_tiny_training_reports_everything(reference: TrainResult) -> None:
    r = reference
    assert r.status == "completed" and r.epochs_completed == 2 and r.failure is None
    assert r.arch == repr(DARTS_V2) and r.config == TINY.to_dict()
    assert isinstance(r.model, DartsNetwork) and r.model.auxiliary_head is not None
    assert r.params == r.model.count_params() < r.model.count_params(auxiliary=True)
    assert [h["images"] for h in r.history] == [256, 256]
    assert r.val_acc is not None and (r.val_acc * 64 / 100).is_integer()
    assert r.train_loss is not None and math.isfinite(r.train_loss)
    # the drop-path probability of epoch e of E is 0.2 * e / E
    assert r.model.drop_path_prob == pytest.approx(0.2 * 1 / 2)
    json.dumps(r.to_dict(), allow_nan=False)


def test_resume_after_one_epoch_equals_uninterrupted(
    reference: TrainResult, data: tuple[ImageSet, ImageSet], tmp_path: Path
) -> None:
    first = train_darts(DARTS_V2, data[0], data[1], TINY, checkpoint_dir=tmp_path, max_epochs=1)
    assert first.status == "stopped" and first.epochs_completed == 1
    second = train_darts(DARTS_V2, data[0], data[1], TINY, checkpoint_dir=tmp_path)
    assert second.status == "completed" and second.resumed_from == 1
    assert _states_equal(second.model, reference.model)
    assert second.val_acc == reference.val_acc and second.val_loss == reference.val_loss
    assert [h["train_loss"] for h in second.history] == [h["train_loss"] for h in reference.history]
    # the checkpoint belongs to this genotype and recipe only
    with pytest.raises(CheckpointError, match="checkpoint of cell Genotype"):
        train_darts(DARTS_V1, data[0], data[1], TINY, checkpoint_dir=tmp_path)
    other = DartsTrainConfig(**{**TINY.to_dict(), "drop_path_prob": 0.3})
    with pytest.raises(CheckpointError, match=r"drop_path_prob=0\.2") as info:
        train_darts(DARTS_V2, data[0], data[1], other, checkpoint_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_aux_head_in_the_training_loss_only(
    reference: TrainResult, data: tuple[ImageSet, ImageSet], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bool, float, int]] = []
    original = nn.CrossEntropyLoss.forward

    def spy(self: nn.CrossEntropyLoss, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = original(self, logits, y)
        calls.append((torch.is_grad_enabled(), float(out.detach()), int(y.shape[0])))
        return out

    monkeypatch.setattr(nn.CrossEntropyLoss, "forward", spy)
    cfg = DartsTrainConfig(**{**TINY.to_dict(), "epochs": 1})
    r = train_darts(DARTS_V2, data[0], data[1], cfg)
    # two losses per training step: the classifier's and the auxiliary head's
    assert len(calls) == 2 * STEPS and all(grad for grad, _, _ in calls)
    objective = [
        main + 0.4 * aux for (_, main, _), (_, aux, _) in zip(calls[::2], calls[1::2], strict=True)
    ]
    sizes = [n for _, _, n in calls[::2]]
    mean = sum(o * n for o, n in zip(objective, sizes, strict=True)) / sum(sizes)
    assert r.history[0]["train_loss"] == pytest.approx(mean, rel=1e-6)
    # evaluation reads the classifier alone, in eval mode (no aux logits, no drop path)
    assert r.model is not None
    r.model.eval()
    x = normalize(data[1].images, "cifar10")
    with torch.no_grad():
        logits, aux = r.model(x)
    assert aux is None
    loss = float(nn.functional.cross_entropy(logits, data[1].labels).double())
    assert r.val_loss == pytest.approx(loss, rel=1e-5)
    calls.clear()
    no_aux = DartsTrainConfig(**{**cfg.to_dict(), "auxiliary": False})
    train_darts(DARTS_V2, data[0], None, no_aux)
    assert len(calls) == STEPS


def test_drop_path_ramps_with_the_epoch(
    data: tuple[ImageSet, ImageSet], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[int, set[float]] = {}
    epoch = {"now": 1}
    real = darts_module.drop_path

    def spy(x: torch.Tensor, prob: float) -> torch.Tensor:
        seen.setdefault(epoch["now"], set()).add(prob)
        return real(x, prob)

    def progress(p: TrainProgress) -> None:
        epoch["now"] = p.epoch + 1 if p.epoch_done else p.epoch

    monkeypatch.setattr(darts_module, "drop_path", spy)
    cfg = DartsTrainConfig(**{**TINY.to_dict(), "epochs": 4, "drop_path_prob": 0.4})
    train_darts(DARTS_V2, data[0].subset(torch.arange(64)), None, cfg, progress=progress)
    # epoch 1 (e = 0) drops nothing; then 0.4 * e / 4
    assert seen == {k: {0.4 * (k - 1) / 4} for k in (2, 3, 4)}


def test_gradients_are_clipped_and_nb201_is_not(
    data: tuple[ImageSet, ImageSet], monkeypatch: pytest.MonkeyPatch
) -> None:
    norms: list[float] = []
    real = nn.utils.clip_grad_norm_

    def spy(params: Any, max_norm: float, *args: Any, **kwargs: Any) -> torch.Tensor:
        norms.append(max_norm)
        return real(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(nn.utils, "clip_grad_norm_", spy)
    small = data[0].subset(torch.arange(128))
    cfg = DartsTrainConfig(**{**TINY.to_dict(), "epochs": 1, "grad_clip": 0.5})
    train_darts(DARTS_V2, small, None, cfg)
    assert norms == [0.5, 0.5]
    norms.clear()
    train_darts(DARTS_V2, small, None, DartsTrainConfig(**{**cfg.to_dict(), "grad_clip": None}))
    nb201 = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|"
    train(nb201, small, None, TrainConfig(epochs=1, batch_size=64, channels=4, cells_per_stage=1))
    assert norms == []


@pytest.mark.parametrize("schedule", ["epoch", "step"])
def test_cosine_per_epoch_or_per_step(
    schedule: str, data: tuple[ImageSet, ImageSet], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []

    class Spy(torch.optim.SGD):
        def step(self, closure: Any = None) -> Any:
            seen.append(float(self.param_groups[0]["lr"]))
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "SGD", Spy)
    cfg = DartsTrainConfig(
        epochs=3, batch_size=32, channels=4, layers=2, auxiliary=False, lr_schedule=schedule
    )
    r = train_darts(DARTS_V2, data[0].subset(torch.arange(64)), None, cfg)
    if schedule == "epoch":  # DARTS: epoch e (from 0) at 0.5 * lr * (1 + cos(pi * e / E))
        assert seen == [0.025 * cosine_factor(e, 3) for e in range(3) for _ in range(2)]
    else:
        assert seen == [0.025 * cosine_factor(t, 6) for t in range(6)]
    assert r.history[-1]["lr_end"] == 0.0


def test_nan_loss_fails_and_bad_input_is_one_line(data: tuple[ImageSet, ImageSet]) -> None:
    small = data[0].subset(torch.arange(64))
    cfg = DartsTrainConfig(
        **{**TINY.to_dict(), "lr": 1e30, "grad_clip": None, "epochs": 1, "batch_size": 16}
    )
    r = train_darts(DARTS_V2, small, None, cfg)
    assert r.status == "failed" and r.failure is not None and r.epochs_completed == 0
    bad = DARTS_V2._replace(normal=(("conv_9x9", 0), *DARTS_V2.normal[1:]))
    with pytest.raises(ConfigError, match=r"^genotype.normal\[0\]: unknown operation"):
        train_darts(bad, small, None, TINY)
    with pytest.raises(ConfigError, match="config: expected a DartsTrainConfig"):
        train_darts(DARTS_V2, small, None, TrainConfig())  # type: ignore[arg-type]
    fields: list[tuple[str, object]] = [
        ("cutout", -1),
        ("layers", 0),
        ("auxiliary_weight", -0.1),
        ("drop_path_prob", 1.0),
        ("grad_clip", 0.0),
        ("lr_schedule", "hour"),
        ("auxiliary", "yes"),
        ("lr", math.nan),
    ]
    for name, value in fields:
        with pytest.raises(ConfigError) as info:
            DartsTrainConfig(**{name: value})  # type: ignore[arg-type]
        msg = str(info.value)
        assert msg.startswith(f"DartsTrainConfig.{name}: ") and "\n" not in msg
    with pytest.raises(ConfigError, match="auxiliary head needs at least 2 cells"):
        DartsTrainConfig(layers=1)


def test_checkpoint_written_per_epoch(data: tuple[ImageSet, ImageSet], tmp_path: Path) -> None:
    small = data[0].subset(torch.arange(64))
    cfg = DartsTrainConfig(**{**TINY.to_dict(), "epochs": 1})
    train_darts(DARTS_V2, small, None, cfg, checkpoint_dir=tmp_path)
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert saved["epoch"] == 1 and saved["arch"] == repr(DARTS_V2)
    assert saved["config"] == cfg.to_dict()
    assert any(k.startswith("auxiliary_head.") for k in saved["model"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_channels_last_bf16_trains(data: tuple[ImageSet, ImageSet]) -> None:
    r = train_darts(DARTS_V2, data[0], data[1], TINY, device="cuda")
    assert r.status == "completed" and r.device.startswith("cuda")
    assert r.val_acc is not None and r.train_loss is not None and math.isfinite(r.train_loss)
    assert r.model is not None and next(r.model.parameters()).is_cuda
