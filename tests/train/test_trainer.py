"""The NAS-Bench-201 trainer: exact resume, refusals, failures, schedule, validation."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import cenas.train._trainer as trainer_module
from cenas.datasets import ImageSet
from cenas.errors import CenasError, CheckpointError, ConfigError, DataError
from cenas.train import CHECKPOINT_NAME, TrainConfig, TrainProgress, TrainResult, train

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
OTHER_ARCH = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
TINY = TrainConfig(epochs=3, batch_size=16, channels=4, cells_per_stage=1, seed=0)
STEPS_PER_EPOCH = 4  # 64 images, batch 16


def _images(n: int, seed: int) -> ImageSet:
    gen = torch.Generator().manual_seed(seed)
    return ImageSet(
        torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen),
        torch.arange(n, dtype=torch.int64) % 10,
        tuple(f"class{i}" for i in range(10)),
        "cifar10",
        f"random:{seed}",
    )


TRAIN = _images(64, 1)
VAL = _images(32, 2)
TEST = _images(32, 3)


def _states_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def reference() -> TrainResult:
    """An uninterrupted 3-epoch run without checkpoints."""
    torch.set_num_threads(1)
    return train(ARCH, TRAIN, VAL, TINY, test_set=TEST)


def test_reference_run_reports_everything(reference: TrainResult) -> None:
    r = reference
    assert r.status == "completed" and r.reason == "" and r.failure is None
    assert r.epochs == r.epochs_completed == 3 and r.resumed_from == 0
    assert len(r.epoch_seconds) == 3 and all(s > 0 for s in r.epoch_seconds)
    assert r.train_seconds == pytest.approx(sum(r.epoch_seconds), rel=1e-12)
    assert r.images_per_second == pytest.approx(3 * 64 / r.train_seconds, rel=1e-12)
    assert [h["epoch"] for h in r.history] == [1, 2, 3]
    assert [h["images"] for h in r.history] == [64, 64, 64]
    assert r.val_acc is not None and r.test_acc is not None
    # accuracies are whole images out of 32
    assert (r.val_acc * 32 / 100).is_integer() and (r.test_acc * 32 / 100).is_integer()
    assert r.train_loss is not None and math.isfinite(r.train_loss)
    assert r.train_loss == r.history[-1]["train_loss"]
    # stem 116; cells (two 3x3, one 1x1: 19c^2 + 6c) at c = 4, 8, 16: 328 + 1264 + 4960;
    # reductions 928 + 3648; last batch norm 32; classifier 170
    assert r.params == 11_446
    assert r.device == "cpu" and r.config == TINY.to_dict()
    text = json.dumps(r.to_dict(), allow_nan=False)
    assert "model" not in json.loads(text)


def test_resume_after_max_epochs_equals_uninterrupted(
    reference: TrainResult, tmp_path: Path
) -> None:
    first = train(ARCH, TRAIN, VAL, TINY, checkpoint_dir=tmp_path, test_set=TEST, max_epochs=1)
    assert first.status == "stopped" and first.epochs_completed == 1
    assert first.val_acc is None and len(first.epoch_seconds) == 1
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert saved["epoch"] == 1 and len(saved["history"]) == 1
    second = train(ARCH, TRAIN, VAL, TINY, checkpoint_dir=tmp_path, test_set=TEST)
    assert second.status == "completed" and second.resumed_from == 1
    assert second.model is not None and reference.model is not None
    assert _states_equal(second.model, reference.model)
    assert second.val_acc == reference.val_acc and second.test_acc == reference.test_acc
    assert second.val_loss == reference.val_loss and second.train_loss == reference.train_loss
    assert [h["train_loss"] for h in second.history] == [h["train_loss"] for h in reference.history]
    assert len(second.epoch_seconds) == 3


class _Killed(Exception):
    pass


def test_job_killed_mid_epoch_resumes_exactly(reference: TrainResult, tmp_path: Path) -> None:
    def kill(p: TrainProgress) -> None:
        if p.epoch == 3 and p.step == 2 and not p.epoch_done:
            raise _Killed

    with pytest.raises(_Killed):
        train(ARCH, TRAIN, VAL, TINY, checkpoint_dir=tmp_path, progress=kill)
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["epoch"] == 2
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]  # no temporary left
    resumed = train(ARCH, TRAIN, VAL, TINY, checkpoint_dir=tmp_path, test_set=TEST)
    assert resumed.resumed_from == 2 and resumed.status == "completed"
    assert resumed.model is not None and reference.model is not None
    assert _states_equal(resumed.model, reference.model)
    assert resumed.val_acc == reference.val_acc and resumed.train_loss == reference.train_loss
    # a finished job is only evaluated again
    again = train(ARCH, TRAIN, VAL, TINY, checkpoint_dir=tmp_path, test_set=TEST)
    assert again.resumed_from == 3 and again.val_acc == reference.val_acc
    assert again.history == resumed.history


def test_progress_reports_steps_and_epochs() -> None:
    events: list[TrainProgress] = []
    cfg = TrainConfig(epochs=2, batch_size=16, channels=4, cells_per_stage=1)
    r = train(ARCH, TRAIN, None, cfg, progress=events.append)
    steps = [(e.epoch, e.step) for e in events if not e.epoch_done]
    assert steps == [(e, s) for e in (1, 2) for s in range(1, 5)]
    done = [e for e in events if e.epoch_done]
    assert [e.epoch for e in done] == [1, 2]
    assert [e.record for e in done] == r.history
    assert r.val_acc is None and r.test_acc is None


def test_same_seed_same_weights_other_seed_different(reference: TrainResult) -> None:
    same = train(ARCH, TRAIN, VAL, TINY)
    other = train(ARCH, TRAIN, VAL, TrainConfig(**{**TINY.to_dict(), "seed": 1}))
    assert same.model is not None and other.model is not None and reference.model is not None
    assert _states_equal(same.model, reference.model)
    assert same.train_loss == reference.train_loss
    assert not _states_equal(other.model, reference.model)
    assert other.train_loss != reference.train_loss


def test_eval_each_epoch_and_eval_fields_do_not_block_resume(
    reference: TrainResult, tmp_path: Path
) -> None:
    cfg = TrainConfig(**{**TINY.to_dict(), "eval_each_epoch": True, "eval_batch_size": 8})
    first = train(ARCH, TRAIN, VAL, cfg, checkpoint_dir=tmp_path, max_epochs=2)
    assert [("val_acc" in h, "test_acc" in h) for h in first.history] == [(True, False)] * 2
    r = train(ARCH, TRAIN, VAL, TINY, checkpoint_dir=tmp_path)  # eval fields differ: resumes
    assert r.resumed_from == 2
    assert r.model is not None and reference.model is not None
    assert _states_equal(r.model, reference.model)
    assert r.val_acc == reference.val_acc
    assert first.history[1]["val_acc"] == r.history[1]["val_acc"]


def test_cosine_reaches_zero_at_last_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert trainer_module.cosine_factor(0, 12) == 1.0
    assert trainer_module.cosine_factor(6, 12) == pytest.approx(0.5, abs=1e-15)
    assert trainer_module.cosine_factor(12, 12) == 0.0
    seen: list[float] = []

    class Spy(torch.optim.SGD):
        def step(self, closure: Any = None) -> Any:
            seen.append(float(self.param_groups[0]["lr"]))
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "SGD", Spy)
    r = train(ARCH, TRAIN, None, TINY)
    total = 3 * STEPS_PER_EPOCH
    assert seen == [0.1 * trainer_module.cosine_factor(t, total) for t in range(total)]
    assert seen[0] == 0.1 and 0 < seen[-1] < 0.002
    assert [h["lr_end"] for h in r.history] == [
        0.1 * trainer_module.cosine_factor(4, 12),
        0.1 * trainer_module.cosine_factor(8, 12),
        0.0,
    ]


def test_low_fidelity_is_the_12_epoch_schedule() -> None:
    lf = TrainConfig.low_fidelity()
    assert lf.epochs == 12
    assert lf == TrainConfig(epochs=12)
    d = TrainConfig()
    assert (d.epochs, d.batch_size, d.lr, d.momentum, d.nesterov, d.weight_decay) == (
        200,
        256,
        0.1,
        0.9,
        True,
        5e-4,
    )
    assert (d.channels, d.cells_per_stage, d.augment) == (16, 5, True)
    assert TrainConfig.low_fidelity(channels=8).channels == 8
    assert TrainConfig.from_dict(lf.to_dict()) == lf


def test_nan_loss_fails_without_raising() -> None:
    cfg = TrainConfig(**{**TINY.to_dict(), "lr": 1e30})
    r = train(ARCH, TRAIN, VAL, cfg)
    assert r.status == "failed"
    assert r.failure == {"epoch": 1, "step": 2, "global_step": 2, "loss": "nan"}
    assert r.reason == "loss became nan at epoch 1, step 2 of 4"
    assert r.epochs_completed == 0 and r.history == [] and r.val_acc is None
    json.dumps(r.to_dict(), allow_nan=False)


def test_inf_loss_keeps_last_good_epoch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = train(ARCH, TRAIN, VAL, TINY, max_epochs=1)
    build = trainer_module.build_nb201
    calls = {"n": 0}

    def poisoned(*args: Any) -> nn.Module:
        model = build(*args)

        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
            if module.training:
                calls["n"] += 1
                if calls["n"] == STEPS_PER_EPOCH + 3:  # epoch 2, step 3
                    return output * math.inf
            return output

        model.register_forward_hook(hook)
        return model

    monkeypatch.setattr(trainer_module, "build_nb201", poisoned)
    r = train(ARCH, TRAIN, VAL, TINY, checkpoint_dir=tmp_path)
    assert r.status == "failed" and r.epochs_completed == 1
    assert r.failure is not None and (r.failure["epoch"], r.failure["step"]) == (2, 3)
    assert r.failure["global_step"] == 7
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert saved["epoch"] == 1
    assert good.model is not None
    ref = good.model.state_dict()
    assert all(torch.equal(saved["model"][k], ref[k]) for k in ref)


def test_foreign_checkpoints_are_refused(tmp_path: Path) -> None:
    train(ARCH, TRAIN, VAL, TINY, checkpoint_dir=tmp_path, max_epochs=1)
    cases: list[tuple[str, TrainConfig, ImageSet, str]] = [
        (OTHER_ARCH, TINY, TRAIN, "checkpoint of cell"),
        (ARCH, TrainConfig(**{**TINY.to_dict(), "lr": 0.05}), TRAIN, "lr=0.1"),
        (ARCH, TrainConfig(**{**TINY.to_dict(), "epochs": 4}), TRAIN, "epochs=3"),
        (ARCH, TINY, _images(64, 9), "other training images"),
    ]
    for arch, cfg, data, needle in cases:
        with pytest.raises(CheckpointError) as info:
            train(arch, data, VAL, cfg, checkpoint_dir=tmp_path)
        msg = str(info.value)
        assert "\n" not in msg and needle in msg and str(tmp_path) in msg
    path = tmp_path / CHECKPOINT_NAME
    good = torch.load(path, weights_only=True)
    broken: list[tuple[Any, str]] = [
        ({**good, "epoch": 2}, "corrupt training checkpoint (epoch 2, 1 history records)"),
        ({k: v for k, v in good.items() if k != "optimizer"}, "no 'optimizer'"),
        ({"format": "something-else"}, "not a cenas training checkpoint"),
        ({**good, "model": {"stem.0.weight": torch.zeros(1)}}, "corrupt training checkpoint ("),
    ]
    for state, needle in broken:
        torch.save(state, path)
        with pytest.raises(CheckpointError) as info:
            train(ARCH, TRAIN, VAL, TINY, checkpoint_dir=tmp_path)
        assert needle in str(info.value) and "\n" not in str(info.value)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable training checkpoint") as info:
        train(ARCH, TRAIN, VAL, TINY, checkpoint_dir=tmp_path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("epochs", 1.5),
        ("epochs", True),
        ("batch_size", -1),
        ("channels", 0),
        ("cells_per_stage", 0),
        ("eval_batch_size", 0),
        ("seed", -1),
        ("lr", 0.0),
        ("lr", math.inf),
        ("lr", math.nan),
        ("momentum", 1.0),
        ("momentum", -0.1),
        ("weight_decay", -1e-4),
        ("nesterov", 1),
        ("augment", "yes"),
        ("eval_each_epoch", None),
    ],
)
def test_config_validation(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{field: value})  # type: ignore[arg-type]
    msg = str(info.value)
    assert msg.startswith(f"TrainConfig.{field}: ") and "\n" not in msg


def test_other_bad_input_is_one_line() -> None:
    with pytest.raises(ConfigError, match="Nesterov momentum needs momentum > 0"):
        TrainConfig(momentum=0.0)
    with pytest.raises(ConfigError, match="unknown field 'lr_max'"):
        TrainConfig.from_dict({"lr_max": 1.0})
    bad: list[tuple[dict[str, Any], type[CenasError], str]] = [
        ({"arch": "|conv~0|"}, ConfigError, "arch: "),
        ({"device": "tpu"}, ConfigError, "device: "),
        ({"max_epochs": 0}, ConfigError, "max_epochs: "),
        ({"val_set": _images(8, 4).subset(torch.arange(0))}, DataError, "val_set: holds no"),
    ]
    for overrides, err, needle in bad:
        kwargs: dict[str, Any] = {"arch": ARCH, "val_set": VAL, **overrides}
        with pytest.raises(err) as info:
            train(kwargs.pop("arch"), TRAIN, kwargs.pop("val_set"), TINY, **kwargs)
        assert needle in str(info.value) and "\n" not in str(info.value)
    floats = ImageSet(TRAIN.images.float(), TRAIN.labels, TRAIN.classes, "cifar10", "x")
    with pytest.raises(DataError, match="train_set: images must be uint8"):
        train(ARCH, floats, None, TINY)


_KILLED_CHILD = """
import os, signal, sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from train.test_trainer import ARCH, TINY, TRAIN, VAL
from cenas.train import train

def die(p):
    if p.epoch == 2 and p.step == 3 and not p.epoch_done:
        os.kill(os.getpid(), signal.SIGKILL)

train(ARCH, TRAIN, VAL, TINY, checkpoint_dir={ckpt!r}, progress=die)
"""


def test_sigkilled_process_resumes_exactly(reference: TrainResult, tmp_path: Path) -> None:
    tests = str(Path(__file__).resolve().parents[1])
    code = _KILLED_CHILD.format(tests=tests, ckpt=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-500:]
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["epoch"] == 1
    resumed = train(ARCH, TRAIN, VAL, TINY, checkpoint_dir=tmp_path, test_set=TEST)
    assert resumed.resumed_from == 1
    assert resumed.model is not None and reference.model is not None
    assert _states_equal(resumed.model, reference.model)
    assert resumed.val_acc == reference.val_acc and resumed.train_loss == reference.train_loss


def test_caller_rng_and_settings_are_restored(tmp_path: Path) -> None:
    stale = tmp_path / f".{CHECKPOINT_NAME}.12345.tmp"
    stale.write_bytes(b"half a checkpoint")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    assert not torch.are_deterministic_algorithms_enabled()
    train(ARCH, TRAIN, None, TINY, checkpoint_dir=tmp_path, max_epochs=1)
    assert torch.equal(torch.rand(3), expected)
    assert not torch.are_deterministic_algorithms_enabled()
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_channels_last_bf16_trains() -> None:
    r = train(ARCH, TRAIN, VAL, TINY, device="cuda", test_set=TEST)
    assert r.status == "completed" and r.device.startswith("cuda")
    assert r.val_acc is not None and r.train_loss is not None and math.isfinite(r.train_loss)
    assert r.model is not None
    assert next(r.model.parameters()).is_cuda
