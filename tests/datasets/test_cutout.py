"""DARTS's cutout: the square, its clipping at the border, and a loader unchanged without it."""

from __future__ import annotations

import pytest
import torch

from cenas.datasets import BatchLoader, ImageSet, cutout


def _ones(n: int, side: int = 32) -> torch.Tensor:
    return torch.ones((n, 3, side, side))


def test_cutout_zeroes_one_square_per_image_around_a_drawn_centre() -> None:
    gen = torch.Generator().manual_seed(3)
    out = cutout(_ones(200), gen, 16)
    gen = torch.Generator().manual_seed(3)
    cy = torch.randint(0, 32, (200,), generator=gen)
    cx = torch.randint(0, 32, (200,), generator=gen)
    for i in range(200):
        y0, y1 = max(int(cy[i]) - 8, 0), min(int(cy[i]) + 8, 32)
        x0, x1 = max(int(cx[i]) - 8, 0), min(int(cx[i]) + 8, 32)
        expected = torch.ones(32, 32)
        expected[y0:y1, x0:x1] = 0
        for c in range(3):  # every channel alike
            assert torch.equal(out[i, c], expected)
    # a square centred well inside is whole (16x16); at the border it is cut short
    cut = (out[:, 0] == 0).sum(dim=(1, 2))
    inside = (cy >= 8) & (cy <= 24) & (cx >= 8) & (cx <= 24)
    assert inside.any() and bool((cut[inside] == 256).all())
    assert bool((cut[~inside] < 256).all()) and bool((cut > 0).all())


def test_cutout_keeps_dtype_and_device_and_odd_lengths() -> None:
    x = _ones(4, 8).double()
    out = cutout(x, torch.Generator().manual_seed(0), 3)  # rows [c - 1, c + 1): 2 wide
    assert out.dtype == torch.float64 and out.shape == x.shape
    assert bool(((out[:, 0] == 0).sum(dim=(1, 2)) <= 4).all())


def _data(n: int = 40) -> ImageSet:
    gen = torch.Generator().manual_seed(1)
    return ImageSet(
        torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen),
        torch.arange(n) % 10,
        tuple(str(i) for i in range(10)),
        "cifar10",
        "random",
    )


def test_loader_without_cutout_is_unchanged_and_with_it_deterministic() -> None:
    data = _data()
    plain = [x for x, _ in BatchLoader(data, 16, seed=5).epoch(2)]
    zero = [x for x, _ in BatchLoader(data, 16, seed=5, cutout=0).epoch(2)]
    assert all(torch.equal(a, b) for a, b in zip(plain, zero, strict=True))
    cut = [x for x, _ in BatchLoader(data, 16, seed=5, cutout=16).epoch(2)]
    again = [x for x, _ in BatchLoader(data, 16, seed=5, cutout=16).epoch(2)]
    assert all(torch.equal(a, b) for a, b in zip(cut, again, strict=True))
    # cutout runs after the first batch's crop and flip (the same draws) and after the
    # normalisation: cut pixels are exactly 0, the rest equal the plain batch
    kept = cut[0] != 0
    assert torch.equal(plain[0][kept], cut[0][kept]) and bool((~kept).any())
    with pytest.raises(ValueError, match="cutout must be non-negative"):
        BatchLoader(data, 16, cutout=-1)
