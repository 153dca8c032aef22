"""Tiny generated CIFAR copies: ImageFolder trees, archives and python-batch pickles."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def pixels(seed: int, n: int) -> np.ndarray:
    """``n`` random ``uint8`` images ``(n, 32, 32, 3)`` (height, width, channel)."""
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def make_imagefolder(
    root: Path,
    classes: tuple[str, ...] | list[str] = CIFAR10_CLASSES,
    n_train: int = 2,
    n_test: int = 1,
    fmt: str = "PNG",
    seed: int = 0,
) -> dict[str, dict[str, list[np.ndarray]]]:
    """Write ``root/{train,test}/<class>/<i>.png|jpg``; return the pixels written (HWC)."""
    ext = {"PNG": "png", "JPEG": "jpg"}[fmt]
    written: dict[str, dict[str, list[np.ndarray]]] = {}
    for s, (split, n) in enumerate((("train", n_train), ("test", n_test))):
        written[split] = {}
        for c, cls in enumerate(classes):
            folder = root / split / cls
            folder.mkdir(parents=True)
            imgs = pixels(seed * 10_000 + s * 1000 + c, n)
            written[split][cls] = list(imgs)
            for i, img in enumerate(imgs):
                Image.fromarray(img).save(folder / f"{i:04d}.{ext}", format=fmt)
    return written


def expected_tensor(
    written: dict[str, dict[str, list[np.ndarray]]], split: str
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(N, 3, 32, 32)`` images and labels a loader must return (sorted classes)."""
    imgs: list[np.ndarray] = []
    labels: list[int] = []
    for c, cls in enumerate(sorted(written[split])):
        imgs.extend(written[split][cls])
        labels.extend([c] * len(written[split][cls]))
    return np.stack(imgs).transpose(0, 3, 1, 2), np.array(labels)


def make_tar(src: Path, out: Path, arcname: str = "") -> Path:
    """Archive the contents of ``src`` (under ``arcname``, or at the top) into ``out``."""
    gz = out.name.endswith((".gz", ".tgz"))
    with tarfile.open(out, "w:gz") if gz else tarfile.open(out, "w") as archive:
        if arcname:
            archive.add(src, arcname=arcname)
        else:
            for child in sorted(src.iterdir()):
                archive.add(child, arcname=child.name)
    return out


def _dump(obj: object, path: Path) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=2)


def make_cifar10_batches(
    folder: Path, per_batch: int = 2, n_test: int = 3
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write a tiny ``cifar-10-batches-py``; return the expected arrays of both splits."""
    folder.mkdir(parents=True)
    names = [c.encode() for c in CIFAR10_CLASSES]
    _dump(
        {b"label_names": names, b"num_cases_per_batch": per_batch, b"num_vis": 3072},
        folder / "batches.meta",
    )
    train_x, train_y = [], []
    for b in range(1, 6):
        x = pixels(100 + b, per_batch).transpose(0, 3, 1, 2).reshape(per_batch, 3072)
        y = [(b * 3 + i) % 10 for i in range(per_batch)]
        _dump(
            {
                b"batch_label": f"training batch {b} of 5".encode(),
                b"labels": y,
                b"data": x,
                b"filenames": [b"x.png"] * per_batch,
            },
            folder / f"data_batch_{b}",
        )
        train_x.append(x)
        train_y.extend(y)
    tx = pixels(200, n_test).transpose(0, 3, 1, 2).reshape(n_test, 3072)
    ty = [9 - i for i in range(n_test)]
    _dump(
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": ty,
            b"data": tx,
            b"filenames": [b"t.png"] * n_test,
        },
        folder / "test_batch",
    )
    return {
        "train": (np.concatenate(train_x).reshape(-1, 3, 32, 32), np.array(train_y)),
        "test": (tx.reshape(-1, 3, 32, 32), np.array(ty)),
    }


def make_cifar100_batches(
    folder: Path, n_train: int = 4, n_test: int = 2
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write a tiny ``cifar-100-python``; return the expected arrays of both splits."""
    folder.mkdir(parents=True)
    fine = [f"fine{i:03d}".encode() for i in range(100)]
    coarse = [f"coarse{i:02d}".encode() for i in range(20)]
    _dump({b"fine_label_names": fine, b"coarse_label_names": coarse}, folder / "meta")
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, n, seed in (("train", n_train, 300), ("test", n_test, 301)):
        x = pixels(seed, n).transpose(0, 3, 1, 2).reshape(n, 3072)
        y = [(seed + 37 * i) % 100 for i in range(n)]
        _dump(
            {
                b"filenames": [b"f.png"] * n,
                b"batch_label": split.encode(),
                b"fine_labels": y,
                b"coarse_labels": [v // 5 for v in y],
                b"data": x,
            },
            folder / split,
        )
        out[split] = (x.reshape(-1, 3, 32, 32), np.array(y))
    return out
