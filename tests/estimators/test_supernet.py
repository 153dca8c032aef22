"""Weight-sharing NB201 supernet: inheritance, SPOS training, BN recalibration, few-shot."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from cenas.datasets import BatchLoader, ImageSet
from cenas.errors import CheckpointError
from cenas.estimators._supernet import (
    FewShotEstimator,
    NB201Supernet,
    OneShotEstimator,
    SupernetConfig,
    estimate_by_inheritance,
    recalibrate_bn,
    sample_paths,
    train_supernet,
    warm_start,
)
from cenas.nn import build_nb201
from cenas.space import NB201Space

SPACE = NB201Space()
CLASSES = tuple(f"c{i}" for i in range(10))


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread: tiny networks gain nothing from more, and the machine is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _images(n: int, seed: int = 0, size: int = 16) -> ImageSet:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    labels = torch.arange(n, dtype=torch.int64) % 10
    return ImageSet(images, labels, CLASSES, "cifar10", f"random:{seed}")


def _randomise(net: nn.Module, seed: int) -> None:
    """Random batch-norm affine weights and running statistics, so that every BN matters."""
    gen = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.weight.shape, generator=gen) + 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=gen)
            m.running_mean = torch.randn(m.num_features, generator=gen) * 0.1
            m.running_var = torch.rand(m.num_features, generator=gen) + 0.5


def _tiny(**kw: object) -> SupernetConfig:
    base: dict[str, object] = {
        "channels": 4, "cells_per_stage": 1, "epochs": 2, "few_shot_epochs": 1,
        "batch_size": 8, "val_size": 10, "recal_batches": 2, "eval_batch_size": 8,
        "lr": 0.05, "seed": 3,
    }  # fmt: skip
    base.update(kw)
    return SupernetConfig(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------ inheritance invariant


def test_forward_equals_extracted_standalone_network() -> None:
    torch.manual_seed(0)
    supernet = NB201Supernet(channels=4, cells_per_stage=1, num_classes=10)
    _randomise(supernet, 1)
    supernet.eval()
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    gen = torch.Generator().manual_seed(5)
    cells = [tuple(torch.randint(0, 5, (6,), generator=gen).tolist()) for _ in range(8)]
    cells += [(3,) * 6, (2,) * 6, (0, 3, 1, 2, 4, 3)]
    outputs = []
    for ops in cells:
        net = supernet.extract(ops)
        assert isinstance(net, type(build_nb201(ops, 4, 1, 10)))
        assert net.ops == ops
        net.eval()
        with torch.no_grad():
            expected = net(x)
            got = supernet(x, ops)
        assert torch.allclose(got, expected, atol=1e-6, rtol=1e-5), SPACE.to_str(ops)
        outputs.append(got)
    # the paths really differ: a wrong mapping could not pass by comparing equal outputs
    assert not torch.allclose(outputs[-3], outputs[-2])
    assert not torch.allclose(outputs[-1], outputs[-3])


def test_extract_copies_weights() -> None:
    supernet = NB201Supernet(4, 1, 10)
    ops = (3, 3, 3, 3, 3, 3)
    net = supernet.extract(ops)
    with torch.no_grad():
        net.get_parameter("cells.0.edges.0.1.weight").add_(1.0)
    assert not torch.equal(
        net.get_parameter("cells.0.edges.0.1.weight"),
        supernet.get_parameter("cells.0.edges.0.3.1.weight"),
    )


def test_standalone_keys_map_onto_the_chosen_candidate() -> None:
    supernet = NB201Supernet(4, 1, 10)
    state = supernet.path_state_dict((2, 3, 0, 1, 4, 3))
    assert torch.equal(
        state["cells.0.edges.0.1.weight"], supernet.get_parameter("cells.0.edges.0.2.1.weight")
    )
    assert state["cells.0.edges.0.1.weight"].shape == (4, 4, 1, 1)
    assert state["cells.0.edges.1.1.weight"].shape == (4, 4, 3, 3)
    assert "cells.0.edges.2.1.weight" not in state  # none has no weights
    assert state["cells.1.conv_a.1.weight"].shape == (8, 4, 3, 3)  # reduction kept as is


# ------------------------------------------------------------------ gradients of one path

_PATH_NAME = re.compile(r"^cells\.(\d+)\.edges\.(\d+)\.(\d)\.")


def test_only_the_sampled_path_gets_gradients() -> None:
    supernet = NB201Supernet(4, 1, 10)
    ops = (3, 0, 2, 1, 4, 3)
    x = torch.randn(4, 3, 16, 16)
    y = torch.tensor([0, 1, 2, 3])
    nn.functional.cross_entropy(supernet(x, ops), y).backward()
    search_cells = {0, 2, 4}  # cells.1 and cells.3 are residual reductions
    with_grad = {n for n, p in supernet.named_parameters() if p.grad is not None}
    expected = set()
    for name, _ in supernet.named_parameters():
        match = _PATH_NAME.match(name)
        if match is None:
            expected.add(name)  # stem, reductions, last BN, classifier
        else:
            assert int(match[1]) in search_cells
            if int(match[3]) == ops[int(match[2])]:
                expected.add(name)
    assert with_grad == expected
    # convs on edges 0 (3x3), 2 (1x1), 5 (3x3) of three cells: conv + BN weight + BN bias
    assert len([n for n in with_grad if _PATH_NAME.match(n)]) == 3 * 3 * 3
    path_ids = {id(p) for p in supernet.path_parameters(ops)}
    assert path_ids == {id(p) for n, p in supernet.named_parameters() if n in expected}


def test_training_step_leaves_unsampled_candidates_untouched() -> None:
    config = _tiny(epochs=1, batch_size=8)
    data = _images(8)
    torch.manual_seed(0)
    supernet = NB201Supernet(4, 1, 10)
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    train_supernet(supernet, data, config, "cpu", None)
    (ops,) = sample_paths(config.seed, 0, 1).tolist()  # one batch: one path
    on_path = {id(p) for p in supernet.path_parameters(ops)}
    for name, p in supernet.named_parameters():
        if id(p) in on_path:
            if name.endswith("1.weight") and p.dim() == 4:
                assert not torch.equal(p, before[name]), name
        else:
            assert torch.equal(p, before[name]), name


# ------------------------------------------------------------------ seeded sampling


def test_seeded_path_sampling() -> None:
    a = sample_paths(11, 4, 500)
    assert a.shape == (500, 6) and a.dtype == torch.int64
    assert torch.equal(a, sample_paths(11, 4, 500))
    assert not torch.equal(a, sample_paths(11, 5, 500))
    assert not torch.equal(a, sample_paths(12, 4, 500))
    counts = torch.stack([torch.bincount(a[:, e], minlength=5) for e in range(6)])
    assert counts.sum().item() == 3000 and counts.min().item() > 60  # uniform: 100 expected
    fixed = sample_paths(11, 4, 500, restrict=(0, 2))
    assert (fixed[:, 0] == 2).all()
    assert torch.equal(fixed[:, 1:], a[:, 1:])
    with pytest.raises(ValueError):
        sample_paths(0, 0, 3, restrict=(6, 0))


# ------------------------------------------------------------------ checkpoint and resume


class _Stop(Exception):
    pass


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    config = _tiny(epochs=3)
    data = _images(24)
    torch.manual_seed(0)
    straight = NB201Supernet(4, 1, 10)
    init = {k: v.clone() for k, v in straight.state_dict().items()}
    full = train_supernet(straight, data, config, "cpu", tmp_path / "a")
    assert full.start_epoch == 0 and len(full.losses) == 3

    def stop_after_second(epoch: int, loss: float) -> None:
        if epoch == 1:
            raise _Stop

    first = NB201Supernet(4, 1, 10)
    first.load_state_dict(init)
    with pytest.raises(_Stop):
        train_supernet(first, data, config, "cpu", tmp_path / "b", on_epoch_end=stop_after_second)
    assert not (tmp_path / "b" / "supernet.pt.tmp").exists()
    torch.manual_seed(99)  # another initialisation: the checkpoint must replace it
    resumed = NB201Supernet(4, 1, 10)
    result = train_supernet(resumed, data, config, "cpu", tmp_path / "b")
    assert result.start_epoch == 2
    assert result.losses == full.losses
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
    # a finished checkpoint returns at once
    again = train_supernet(NB201Supernet(4, 1, 10), data, config, "cpu", tmp_path / "b")
    assert again.start_epoch == 3 and again.losses == full.losses
    with pytest.raises(CheckpointError, match="config differs"):
        train_supernet(
            NB201Supernet(4, 1, 10), data, _tiny(epochs=3, lr=0.01), "cpu", tmp_path / "b"
        )
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "supernet.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        train_supernet(NB201Supernet(4, 1, 10), data, config, "cpu", tmp_path / "c")


# ------------------------------------------------------------------ BN recalibration


def test_recalibration_resets_and_refills_path_statistics() -> None:
    torch.manual_seed(0)
    supernet = NB201Supernet(4, 1, 10)
    _randomise(supernet, 3)
    ops = (3, 1, 2, 0, 4, 3)
    off_path = supernet.get_submodule("cells.0.edges.0.2.2")  # the 1x1 candidate's BN, edge 0
    assert isinstance(off_path, nn.BatchNorm2d)
    off_mean = off_path.get_buffer("running_mean").clone()
    loader = BatchLoader(_images(12), 4, shuffle=False, augment=False)
    batches = [x for x, _ in loader.epoch(0)][:2]
    conv = supernet.get_submodule("stem.0")
    with torch.no_grad():
        stats = [conv(x) for x in batches]
    mean = torch.stack([s.mean(dim=(0, 2, 3)) for s in stats]).mean(0)
    var = torch.stack([s.var(dim=(0, 2, 3), unbiased=True) for s in stats]).mean(0)

    used = recalibrate_bn(supernet, ops, loader, 2)
    assert used == 2
    assert int(supernet.get_buffer("stem.1.num_batches_tracked")) == 2
    assert torch.allclose(supernet.get_buffer("stem.1.running_mean"), mean, atol=1e-6)
    assert torch.allclose(supernet.get_buffer("stem.1.running_var"), var, atol=1e-5)
    for bn in supernet.path_batchnorms(ops):
        assert int(bn.get_buffer("num_batches_tracked")) == 2
        assert bn.momentum == 0.1
    assert torch.equal(off_path.get_buffer("running_mean"), off_mean)
    assert int(off_path.get_buffer("num_batches_tracked")) == 0
    assert supernet.training  # mode restored
    # more batches than the loader holds: all three
    assert recalibrate_bn(supernet, ops, loader, 10) == 3


def test_estimate_is_independent_of_history() -> None:
    torch.manual_seed(0)
    supernet = NB201Supernet(4, 1, 10)
    recal = BatchLoader(_images(16, 1), 8, shuffle=True, augment=False, seed=1)
    val = BatchLoader(_images(16, 2), 8, shuffle=False, augment=False)
    a, seconds = estimate_by_inheritance(supernet, (3, 3, 3, 3, 3, 3), recal, val, 2)
    estimate_by_inheritance(supernet, (3, 1, 3, 2, 3, 3), recal, val, 2)
    b, _ = estimate_by_inheritance(supernet, (3, 3, 3, 3, 3, 3), recal, val, 2)
    assert a == b and seconds > 0
    assert a * 16 / 100 == pytest.approx(round(a * 16 / 100))  # a count of 16 images


# ------------------------------------------------------------------ estimators


def test_one_shot_estimator_save_load_round_trip(tmp_path: Path) -> None:
    config = _tiny()
    data = _images(24)
    est = OneShotEstimator(config, checkpoint_dir=tmp_path / "ckpt")
    assert est.cost.kind == "one-shot" and est.cost.init == "supernet training: 2 epochs"
    seconds = est.prepare(data, torch.device("cpu"))
    assert seconds > 0 and (tmp_path / "ckpt" / "supernet.pt").exists()
    assert est.cost.passes == 2 + 2  # recal batches + validation batches (10 images, 8 a batch)
    arch = SPACE.to_str((3, 1, 2, 3, 0, 4))
    first = est.estimate(arch, data, torch.device("cpu"))
    assert first.estimator == "one-shot" and first.arch_str == arch
    assert first.extra["val_images"] == 10
    est.save(tmp_path / "one.pt")

    loaded = OneShotEstimator(config, weights=tmp_path / "one.pt")
    loaded.prepare(data, torch.device("cpu"))
    assert loaded.train_seconds == est.train_seconds
    for key, value in est.supernets[0].state_dict().items():
        assert torch.equal(loaded.supernets[0].state_dict()[key], value), key
    assert loaded.estimate(arch, data, torch.device("cpu")).score == first.score

    with pytest.raises(CheckpointError, match="another supernet config"):
        OneShotEstimator(_tiny(lr=0.01), weights=tmp_path / "one.pt").prepare(data, "cpu")  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="not 'few-shot'"):
        FewShotEstimator(config, weights=tmp_path / "one.pt").prepare(data, "cpu")  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="no such supernet file"):
        OneShotEstimator(config, weights=tmp_path / "missing.pt").prepare(data, "cpu")  # type: ignore[arg-type]


def test_few_shot_sub_supernets_start_from_one_shot_weights() -> None:
    one_shot = NB201Supernet(4, 1, 10)
    subs = warm_start(one_shot)
    assert len(subs) == 5 and len({id(s) for s in subs}) == 5
    for sub in subs:
        for key, value in one_shot.state_dict().items():
            assert torch.equal(sub.state_dict()[key], value)
    with torch.no_grad():
        subs[0].classifier.weight.add_(1.0)
    assert not torch.equal(subs[0].classifier.weight, one_shot.classifier.weight)
    assert torch.equal(subs[1].classifier.weight, one_shot.classifier.weight)


def test_few_shot_prepare_warm_starts_and_routes(tmp_path: Path) -> None:
    data = _images(24)
    cpu = torch.device("cpu")
    one = OneShotEstimator(_tiny())
    one.prepare(data, cpu)
    one.save(tmp_path / "one.pt")
    reference = one.supernets[0].state_dict()

    # zero few-shot epochs: every sub-supernet is exactly the trained one-shot supernet
    zero = FewShotEstimator(_tiny(few_shot_epochs=0))
    zero.prepare(data, cpu)
    assert len(zero.supernets) == 5
    for sub in zero.supernets:
        for key, value in reference.items():
            assert torch.equal(sub.state_dict()[key], value), key

    few = FewShotEstimator(_tiny(), one_shot_weights=tmp_path / "one.pt")
    assert few.cost.init.startswith("supernet training: 2 epochs, then 5 x 1 epochs")
    few.prepare(data, cpu)
    for op, sub in enumerate(few.supernets):
        state = sub.state_dict()
        changed = [k for k, v in reference.items() if not torch.equal(state[k], v)]
        assert changed  # trained further
        # on the split edge, only the fixed operation's candidate moved
        split = [k for k in changed if re.match(r"cells\.\d+\.edges\.0\.", k)]
        assert all(re.match(rf"cells\.\d+\.edges\.0\.{op}\.", k) for k in split)
        assert bool(split) == (op in (2, 3))  # only the convolutions carry weights

    for ops in [(0, 3, 3, 3, 3, 3), (1, 2, 0, 3, 4, 1), (2, 0, 0, 0, 0, 0), (3,) * 6, (4, 1) * 3]:
        assert few.supernet_for(ops) is few.supernets[ops[0]]
        arch = SPACE.to_str(ops)
        result = few.estimate(arch, data, cpu)
        assert result.extra["supernet"] == ops[0]
        recal, val = few._loaders_for(data, cpu)
        direct, _ = estimate_by_inheritance(few.supernets[ops[0]], ops, recal, val, 2)
        assert result.score == direct

    few.save(tmp_path / "few.pt")
    back = FewShotEstimator(_tiny(), weights=tmp_path / "few.pt")
    back.prepare(data, cpu)
    for a, b in zip(back.supernets, few.supernets, strict=True):
        for key, value in b.state_dict().items():
            assert torch.equal(a.state_dict()[key], value)
