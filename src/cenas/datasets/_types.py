"""In-memory image sets and the NAS-Bench-201 batch pipeline.

Images stay ``uint8`` tensors ``(N, 3, H, W)`` in memory (all of CIFAR-10 is 184 MB) and
each batch is augmented and normalised on the device that trains on it, so a GPU is not
starved by a Python data loader. The augmentation is NAS-Bench-201's (Dong & Yang, ICLR
2020): a random 32x32 crop of the image padded by 4 zero pixels, a random horizontal flip,
then per-channel normalisation. DARTS (Liu, Simonyan, Yang, ICLR 2019) adds cutout
(DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with Cutout",
2017) after the normalisation: a square of side 16 at a uniformly random centre, clipped at
the border, is set to 0 (:func:`cutout`; off unless asked). Batch order and augmentation are
a pure function of ``(seed, epoch)``, so a training resumed at any epoch sees exactly the batches an
uninterrupted one would.

torchvision is not used: its PyPI wheel for 0.28.0 fails to import beside the CPU wheel of
torch 2.13.0 that these machines install (``operator torchvision::nms does not exist``),
and the two transforms above are a few tensor operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

CIFAR_MEAN: dict[str, tuple[float, float, float]] = {
    "cifar10": (0.4914, 0.4822, 0.4465),
    "cifar100": (0.5071, 0.4865, 0.4409),
}
"""Per-channel means NAS-Bench-201 normalises with (on the 0-1 scale)."""

CIFAR_STD: dict[str, tuple[float, float, float]] = {
    "cifar10": (0.2470, 0.2435, 0.2616),
    "cifar100": (0.2673, 0.2564, 0.2762),
}
"""Per-channel standard deviations NAS-Bench-201 normalises with."""


@dataclass(frozen=True)
class ImageSet:
    """Labelled images in memory.

    Attributes:
        images: ``uint8`` tensor ``(N, 3, H, W)``.
        labels: ``int64`` tensor ``(N,)`` of class indices.
        classes: Class names, index order.
        dataset: ``cifar10`` or ``cifar100`` (selects the normalisation).
        source: Where the images came from (a path, or ``packaged:<name>``).
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    dataset: str
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def subset(self, index: torch.Tensor, source: str | None = None) -> ImageSet:
        """The images at ``index`` (a 1-D integer tensor)."""
        return ImageSet(
            self.images[index],
            self.labels[index],
            self.classes,
            self.dataset,
            source if source is not None else self.source,
        )


def train_val_split(data: ImageSet, val_size: int | float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Carve a seeded, class-stratified validation set out of ``data``.

    Args:
        data: The training images.
        val_size: Number of validation images, or a fraction in ``(0, 1)``.
        seed: Seed of the split; the same seed gives the same split.

    Returns:
        ``(train, val)``, disjoint, covering ``data``; the validation set holds exactly
        the requested number of images, shared among the classes in proportion to their
        sizes (largest remainders round up).

    Raises:
        ValueError: If the validation set would be empty or hold every image.
    """
    n = len(data)
    fractional = isinstance(val_size, float) and val_size < 1
    n_val = round(val_size * n) if fractional else int(val_size)
    if not 0 < n_val < n:
        raise ValueError(f"validation size {val_size} must leave images on both sides of {n}")
    gen = torch.Generator().manual_seed(seed)
    val_parts: list[torch.Tensor] = []
    train_parts: list[torch.Tensor] = []
    counts = [int((data.labels == c).sum()) for c in range(data.num_classes)]
    for c, k in enumerate(_apportion(counts, n_val)):
        idx = torch.nonzero(data.labels == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=gen)]
        val_parts.append(idx[:k])
        train_parts.append(idx[k:])
    val_idx = torch.sort(torch.cat(val_parts)).values
    train_idx = torch.sort(torch.cat(train_parts)).values
    return (
        data.subset(train_idx, f"{data.source} (train split, seed {seed})"),
        data.subset(val_idx, f"{data.source} (validation split, seed {seed})"),
    )


def _apportion(counts: list[int], total: int) -> list[int]:
    """Per-class shares of ``total`` proportional to ``counts``, summing exactly to ``total``.

    Largest-remainder rule: each class gets the floor of its quota ``total * count / n``,
    and the images still missing go one each to the classes with the largest remainders
    (ties to the lower class index).
    """
    n = sum(counts)
    shares = [total * c // n for c in counts]
    remainders = sorted(range(len(counts)), key=lambda c: (-(total * counts[c] % n), c))
    for c in remainders[: total - sum(shares)]:
        shares[c] += 1
    return shares


def normalize(images: torch.Tensor, dataset: str) -> torch.Tensor:
    """``uint8`` images to normalised ``float32`` on the images' device."""
    mean = torch.tensor(CIFAR_MEAN[dataset], device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD[dataset], device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def augment(images: torch.Tensor, gen: torch.Generator, padding: int = 4) -> torch.Tensor:
    """NAS-Bench-201's random crop (zero padding ``padding``) and horizontal flip.

    Args:
        images: ``uint8`` or float batch ``(B, C, H, W)`` (on any device).
        gen: CPU generator that draws the offsets and flips.
        padding: Pixels of zero padding before the crop.
    """
    b, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(images.device)
    cols = torch.arange(w)[None, :].expand(b, w)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]
    cols = cols.to(images.device)
    batch = torch.arange(b, device=images.device)[:, None, None]
    # gather (B, C, h, w): index rows then columns
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def cutout(images: torch.Tensor, gen: torch.Generator, length: int) -> torch.Tensor:
    """Zero a ``length`` x ``length`` square of each image, as DARTS's ``Cutout`` does.

    The square's centre is drawn uniformly over the pixels; its rows (columns) are
    ``[centre - length // 2, centre + length // 2)`` clipped to the image, so a square at
    the border is cut short. DARTS applies it after normalisation (a cut pixel is the mean).

    Args:
        images: Float batch ``(B, C, H, W)`` (on any device).
        gen: CPU generator that draws the centres (rows first, then columns).
        length: Side of the square in pixels (a positive integer).
    """
    b, _, h, w = images.shape
    cy = torch.randint(0, h, (b,), generator=gen)
    cx = torch.randint(0, w, (b,), generator=gen)
    half = length // 2
    rows = torch.arange(h)[None, :]
    cols = torch.arange(w)[None, :]
    in_rows = (rows >= (cy - half)[:, None]) & (rows < (cy + half)[:, None])
    in_cols = (cols >= (cx - half)[:, None]) & (cols < (cx + half)[:, None])
    cut = (in_rows[:, :, None] & in_cols[:, None, :]).to(images.device)
    return images.masked_fill(cut[:, None, :, :], 0.0)


class BatchLoader:
    """Seeded batches of an :class:`ImageSet`, augmented and normalised on ``device``.

    Args:
        data: The images.
        batch_size: Images per batch.
        shuffle: Shuffle each epoch (order a function of ``(seed, epoch)``).
        augment: Apply NAS-Bench-201's crop and flip.
        seed: Seed of order and augmentation.
        device: Where batches are produced (the images are copied there once).
        drop_last: Drop a last, smaller batch.
        channels_last: Return batches in channels-last memory format (CUDA speed-up).
        cutout: Side of the :func:`cutout` square applied to every normalised image, its
            centres drawn after the batch's crop and flip (0: no cutout and no draws, so the
            batches are exactly those of a loader without the option).
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        *,
        shuffle: bool = True,
        augment: bool = True,
        seed: int = 0,
        device: torch.device | str = "cpu",
        drop_last: bool = False,
        channels_last: bool = False,
        cutout: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if cutout < 0:
            raise ValueError(f"cutout must be non-negative, got {cutout}")
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.seed = seed
        self.device = torch.device(device)
        self.drop_last = drop_last
        self.channels_last = channels_last
        self.cutout = int(cutout)
        self._images = data.images.to(self.device)
        self._labels = data.labels.to(self.device)

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of one epoch: ``(float images, int64 labels)`` on the device."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        n = len(self.data)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size].to(self.device)
            x = self._images[idx]
            if self.augment:
                x = augment(x, gen)
            xf = normalize(x, self.data.dataset)
            if self.cutout > 0:
                xf = cutout(xf, gen, self.cutout)
            if self.channels_last:
                xf = xf.contiguous(memory_format=torch.channels_last)
            yield xf, self._labels[idx]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.epoch(0)


__all__ = [
    "CIFAR_MEAN",
    "CIFAR_STD",
    "BatchLoader",
    "ImageSet",
    "augment",
    "cutout",
    "normalize",
    "train_val_split",
]
