"""ImageSet pipeline: seeded split, NB201 augmentation, BatchLoader epochs, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cenas.datasets import (
    CIFAR_MEAN,
    CIFAR_STD,
    BatchLoader,
    ImageSet,
    augment,
    normalize,
    train_val_split,
)


def indexed_set(class_sizes: list[int], side: int = 4) -> ImageSet:
    """Image ``i`` holds ``i // 256`` and ``i % 256`` in its first two pixels."""
    labels = torch.cat([torch.full((k,), c) for c, k in enumerate(class_sizes)]).long()
    n = labels.numel()
    images = torch.zeros((n, 3, side, side), dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(n) // 256
    images[:, 0, 0, 1] = torch.arange(n) % 256
    classes = tuple(f"c{c}" for c in range(len(class_sizes)))
    return ImageSet(images, labels, classes, "cifar10", "synthetic")


def ids(data: ImageSet) -> list[int]:
    return (data.images[:, 0, 0, 0].long() * 256 + data.images[:, 0, 0, 1].long()).tolist()


# ----------------------------------------------------------------------------- split


def test_split_is_deterministic_stratified_disjoint_and_covering() -> None:
    data = indexed_set([80, 60, 40, 20])
    train, val = train_val_split(data, 0.25, seed=7)
    assert len(val) == 50
    assert len(train) == 150
    assert val.labels.bincount().tolist() == [20, 15, 10, 5]
    assert train.labels.bincount().tolist() == [60, 45, 30, 15]
    tr, va = ids(train), ids(val)
    assert not set(tr) & set(va)
    assert sorted(tr + va) == list(range(200))
    # labels travel with their images
    assert all(data.labels[i] == lab for i, lab in zip(va, val.labels.tolist(), strict=True))
    again_train, again_val = train_val_split(data, 50, seed=7)  # same count as an int
    assert ids(again_val) == va
    assert ids(again_train) == tr
    _, other = train_val_split(data, 0.25, seed=8)
    assert ids(other) != va
    assert other.labels.bincount().tolist() == [20, 15, 10, 5]
    assert val.source == "synthetic (validation split, seed 7)"
    assert train.source == "synthetic (train split, seed 7)"


def test_split_holds_exactly_the_requested_size_when_quotas_are_fractional() -> None:
    data = indexed_set([5, 5])
    train, val = train_val_split(data, 3, seed=0)
    # quotas 1.5 and 1.5: one class rounds up (the first, on a tie), one down
    assert val.labels.bincount().tolist() == [2, 1]
    assert len(train) == 7
    data = indexed_set([7, 2, 1])
    _, val = train_val_split(data, 0.5, seed=0)
    # quotas 3.5, 1.0, 0.5 -> 3 + 1 + 0 and one more to the largest remainder (class 0 vs 2: tie)
    assert val.labels.bincount(minlength=3).tolist() == [4, 1, 0]


@pytest.mark.parametrize("size", [0, 10, 0.0, 0.01, 0.99])
def test_split_refuses_an_empty_side(size: int | float) -> None:
    with pytest.raises(ValueError, match="must leave images on both sides of 10"):
        train_val_split(indexed_set([5, 5]), size, seed=0)


# ----------------------------------------------------------------------------- augment


def distinct_images(b: int, side: int = 6) -> torch.Tensor:
    """Every pixel of every channel distinct and non-zero, so zero padding is recognisable."""
    n = 3 * side * side
    base = torch.arange(1, n + 1, dtype=torch.int32).view(3, side, side)
    return torch.stack([(base + k) % 250 + 1 for k in range(b)]).to(torch.uint8)


def reference_augment(images: np.ndarray, dy: int, dx: int, flip: bool, pad: int) -> np.ndarray:
    _, h, w = images.shape
    padded = np.zeros((3, h + 2 * pad, w + 2 * pad), dtype=images.dtype)
    padded[:, pad : pad + h, pad : pad + w] = images
    crop = padded[:, dy : dy + h, dx : dx + w]
    return crop[:, :, ::-1] if flip else crop


def test_augment_crops_zero_padded_images_and_flips_exactly() -> None:
    images = distinct_images(32)
    out = augment(images, torch.Generator().manual_seed(123), padding=2)
    replay = torch.Generator().manual_seed(123)
    dy = torch.randint(0, 5, (32,), generator=replay)
    dx = torch.randint(0, 5, (32,), generator=replay)
    flip = torch.rand(32, generator=replay) < 0.5
    assert out.shape == images.shape
    assert out.dtype == torch.uint8
    for i in range(32):
        want = reference_augment(images[i].numpy(), int(dy[i]), int(dx[i]), bool(flip[i]), 2)
        assert np.array_equal(out[i].numpy(), want), i
    # the draws covered flips, no flips, and both extreme offsets
    assert flip.any() and not flip.all()
    assert {0, 4} <= set(dy.tolist()) and {0, 4} <= set(dx.tolist())


def test_augment_pixel_positions_by_hand() -> None:
    """Hand-checked positions for one image: offset (dy, dx) = (0, 4) flipped, padding 2."""
    img = distinct_images(1, side=4)
    gen = torch.Generator().manual_seed(0)
    # find a seed whose first draw is dy=0, dx=4, flip: search is deterministic
    for seed in range(1000):
        g = torch.Generator().manual_seed(seed)
        dy = int(torch.randint(0, 5, (1,), generator=g))
        dx = int(torch.randint(0, 5, (1,), generator=g))
        flip = bool(torch.rand(1, generator=g) < 0.5)
        if (dy, dx, flip) == (0, 4, True):
            gen = torch.Generator().manual_seed(seed)
            break
    else:  # pragma: no cover
        pytest.fail("no seed draws (0, 4, flip)")
    out = augment(img, gen, padding=2)[0]
    src = img[0]
    # dy = 0: the top two rows are padding
    assert out[:, :2, :].eq(0).all()
    # dx = 4 then flip: output column x reads padded column 4 + 3 - x, i.e. source column 5 - x
    # (padded columns 0..1 and 6..7 are zero): x = 0 -> source 5 (padding), x = 1 -> 4 (padding),
    # x = 2 -> source 3, x = 3 -> source 2
    assert out[:, :, :2].eq(0).all()
    for y in range(2, 4):
        assert torch.equal(out[:, y, 2], src[:, y - 2, 3])
        assert torch.equal(out[:, y, 3], src[:, y - 2, 2])


# ----------------------------------------------------------------------------- BatchLoader


def test_batch_loader_epochs_are_reproducible_and_cover_every_image_once() -> None:
    data = indexed_set([13, 12], side=6)
    data = ImageSet(data.images, torch.arange(25), tuple(str(i) for i in range(25)), "cifar10", "s")
    loader = BatchLoader(data, 4, seed=3)
    assert len(loader) == 7
    epochs = {e: list(loader.epoch(e)) for e in range(3)}
    for e, batches in epochs.items():
        assert [len(y) for _, y in batches] == [4, 4, 4, 4, 4, 4, 1]
        seen = torch.cat([y for _, y in batches]).tolist()
        assert sorted(seen) == list(range(25)), e
        assert all(x.dtype == torch.float32 and x.shape[1:] == (3, 6, 6) for x, _ in batches)
    order = {e: torch.cat([y for _, y in b]).tolist() for e, b in epochs.items()}
    assert order[0] != order[1] != order[2]
    fresh = BatchLoader(data, 4, seed=3)
    for (xa, ya), (xb, yb) in zip(fresh.epoch(2), epochs[2], strict=True):  # resumed at epoch 2
        assert torch.equal(ya, yb)
        assert torch.equal(xa, xb)
    other_seed = torch.cat([y for _, y in BatchLoader(data, 4, seed=4).epoch(0)]).tolist()
    assert other_seed != order[0]
    assert [y.tolist() for _, y in loader] == [y.tolist() for _, y in epochs[0]]


def test_batch_loader_without_shuffle_or_augment_is_plain_order() -> None:
    data = indexed_set([5, 5])
    loader = BatchLoader(data, 3, shuffle=False, augment=False, drop_last=True)
    batches = list(loader.epoch(5))
    assert len(loader) == 3
    assert [y.tolist() for _, y in batches] == [[0, 0, 0], [0, 0, 1], [1, 1, 1]]
    x0 = batches[0][0]
    assert torch.equal(x0, normalize(data.images[:3], "cifar10"))
    with pytest.raises(ValueError, match="batch_size must be positive"):
        BatchLoader(data, 0)


# ----------------------------------------------------------------------------- normalize


def test_normalize_known_pixels() -> None:
    img = torch.zeros((1, 3, 2, 2), dtype=torch.uint8)
    img[0, 0, 0, 0] = 255
    img[0, 1, 0, 1] = 51
    out = normalize(img, "cifar10")
    assert out.dtype == torch.float32
    assert out[0, 0, 0, 0].item() == pytest.approx((1.0 - 0.4914) / 0.2470, rel=1e-6)
    assert out[0, 1, 0, 1].item() == pytest.approx((0.2 - 0.4822) / 0.2435, rel=1e-6)
    assert out[0, 2, 1, 1].item() == pytest.approx(-0.4465 / 0.2616, rel=1e-6)
    out100 = normalize(img, "cifar100")
    assert out100[0, 0, 0, 0].item() == pytest.approx((1.0 - 0.5071) / 0.2673, rel=1e-6)
    assert CIFAR_MEAN["cifar100"][2] == 0.4409 and CIFAR_STD["cifar100"][2] == 0.2762
