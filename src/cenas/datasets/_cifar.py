"""CIFAR-10 and CIFAR-100 from a local copy; nothing is ever downloaded.

The data sets are Krizhevsky's (2009, "Learning Multiple Layers of Features from Tiny
Images", University of Toronto technical report): 50,000 training and 10,000 test images,
32x32 RGB, in 10 (CIFAR-10) or 100 (CIFAR-100, fine labels) classes.

:func:`load_cifar` reads three layouts:

* **ImageFolder** (torchvision's layout): a root holding ``train/`` and ``test/``, each with
  one folder per class holding image files (JPEG, PNG, ...). Class ``i`` is the ``i``-th
  class-folder name in sorted order (torchvision's rule); the images of a class are taken in
  sorted order of their path inside the class folder. The folder given may also be the
  parent of exactly one such root (e.g. the ``cifar10/`` a CIFAR tarball extracts to), or a
  ``.tar`` / ``.tar.gz`` / ``.tgz`` archive of either, read in one pass without extracting
  anything to disk. Hidden entries (names starting with ``.``, e.g. macOS ``._*`` files) are
  skipped; files without an image extension are ignored, as torchvision does.
* **Python batches**, the official release: ``cifar-10-batches-py`` (``data_batch_1`` ..
  ``data_batch_5``, ``test_batch``, ``batches.meta``) or ``cifar-100-python`` (``train``,
  ``test``, ``meta``; fine labels), their parent folder, or the official
  ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` archive. Class names are the meta
  file's label names. These files are Python pickles (``encoding="bytes"``, as their
  Python 2 origin requires); a pickle can run code, so this is a format for trusted local
  files only. Only the files with the official names are unpickled, and with an unpickler
  that resolves no global except the few NumPy needs to rebuild an array.
* ``None``: the CIFAR-10 subset shipped in the package (``cenas/data/cifar10-subset/``,
  300 training and 60 test images per class; see its README and DATA.md).

Every image is decoded with Pillow and must be 32x32 RGB. Anything missing or malformed
raises a one-line :class:`~cenas.errors.DataError` naming the path and what was expected.
"""

from __future__ import annotations

import importlib
import importlib.resources
import io
import os
import pickle
import tarfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from cenas.datasets._types import ImageSet
from cenas.errors import DataError

DATASETS: tuple[str, ...] = ("cifar10", "cifar100")
"""The data sets :func:`load_cifar` reads."""

SPLITS: tuple[str, ...] = ("train", "test")
"""The splits of each data set."""

NUM_CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100}
"""Number of classes of each data set."""

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".ppm",
    ".bmp",
    ".pgm",
    ".tif",
    ".tiff",
    ".webp",
)
"""File extensions read as images in the ImageFolder layout (torchvision's list, any case)."""

PACKAGED_SUBSET = "cifar10-subset"
"""Name of the CIFAR-10 subset shipped in the package (``cenas/data/cifar10-subset/``)."""

_SUBSET_FILE = "cifar10-subset.tar"
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_SIDE = 32
_EXPECTED = (
    "expected an ImageFolder root (train/ and test/ with one folder per class), "
    "cifar-10-batches-py or cifar-100-python, a folder holding one of these, "
    "or a .tar/.tar.gz/.tgz archive of them"
)


@dataclass(frozen=True)
class _Batches:
    """The official python-batch release of one data set."""

    folder: str
    meta: str
    names_key: bytes
    files: Mapping[str, tuple[str, ...]]
    labels_key: bytes


_BATCHES: dict[str, _Batches] = {
    "cifar10": _Batches(
        folder="cifar-10-batches-py",
        meta="batches.meta",
        names_key=b"label_names",
        files={"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
        labels_key=b"labels",
    ),
    "cifar100": _Batches(
        folder="cifar-100-python",
        meta="meta",
        names_key=b"fine_label_names",
        files={"train": ("train",), "test": ("test",)},
        labels_key=b"fine_labels",
    ),
}

# split -> class name -> image paths relative to the class folder (as path parts), sorted
_Listing = dict[str, dict[str, list[tuple[str, ...]]]]


def load_cifar(
    path: str | Path | None = None, dataset: str = "cifar10", split: str = "train"
) -> ImageSet:
    """Load one split of CIFAR-10 or CIFAR-100 from a local copy.

    Args:
        path: An ImageFolder root or its parent, a ``.tar``/``.tar.gz``/``.tgz`` archive of
            one, ``cifar-10-batches-py``/``cifar-100-python`` or their parent (or the
            official archive of either); ``None`` for the packaged CIFAR-10 subset.
        dataset: ``cifar10`` or ``cifar100``.
        split: ``train`` or ``test``.

    Returns:
        The images (``uint8`` ``(N, 3, 32, 32)``), their labels, the class names, and
        ``source`` (the path given, or ``packaged:cifar10-subset``).

    Raises:
        DataError: If the arguments are unknown, or the path is missing or not a valid
            CIFAR layout (the message names the path and what was expected).
    """
    if dataset not in DATASETS:
        raise DataError(f"dataset: unknown data set {dataset!r}; expected one of {DATASETS}")
    if split not in SPLITS:
        raise DataError(f"split: unknown split {split!r}; expected 'train' or 'test'")
    if path is None:
        return _load_packaged(dataset, split)
    if not str(path).strip():
        raise DataError(f"path: empty; {_EXPECTED}, or None for the packaged subset")
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder; {_EXPECTED}")
    if p.is_dir():
        images, labels, classes = _load_folder(p, dataset, split)
    elif p.name.lower().endswith(_TAR_SUFFIXES):
        images, labels, classes = _load_tar(p, str(p), dataset, split)
    else:
        raise DataError(f"{p}: not a folder or a .tar/.tar.gz/.tgz archive; {_EXPECTED}")
    return _image_set(images, labels, classes, dataset, str(p))


def packaged_subset_path() -> Path:
    """Where the packaged CIFAR-10 subset's tar lies on disk (the package is installed as files).

    Raises:
        DataError: If the installed package lacks the file.
    """
    resource = importlib.resources.files("cenas").joinpath("data", PACKAGED_SUBSET, _SUBSET_FILE)
    p = Path(str(resource))
    if not p.is_file():
        raise DataError(f"{p}: the packaged CIFAR-10 subset is missing from the installation")
    return p


def _load_packaged(dataset: str, split: str) -> ImageSet:
    if dataset != "cifar10":
        raise DataError(
            f"path: None selects the packaged CIFAR-10 subset, which has no {dataset}; "
            "expected dataset='cifar10' or the path of a local copy"
        )
    p = packaged_subset_path()
    images, labels, classes = _load_tar(p, str(p), dataset, split)
    return _image_set(images, labels, classes, dataset, f"packaged:{PACKAGED_SUBSET}")


def _image_set(
    images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], dataset: str, source: str
) -> ImageSet:
    return ImageSet(
        images=torch.from_numpy(np.ascontiguousarray(images)),
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=classes,
        dataset=dataset,
        source=source,
    )


# ----------------------------------------------------------------------------- folders


def _visible_dirs(p: Path) -> list[Path]:
    return sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))


def _is_imagefolder_root(p: Path) -> bool:
    return (p / "train").is_dir() and (p / "test").is_dir()


def _is_batch_folder(p: Path, dataset: str) -> bool:
    spec = _BATCHES[dataset]
    return (p / spec.meta).is_file() and (p / spec.files["test"][0]).is_file()


def _other(dataset: str) -> str:
    return "cifar100" if dataset == "cifar10" else "cifar10"


def _load_folder(
    p: Path, dataset: str, split: str
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    if _is_imagefolder_root(p):
        return _load_imagefolder(p, dataset, split)
    if _is_batch_folder(p, dataset):
        return _load_batch_folder(p, dataset, split)
    other = _other(dataset)
    if _is_batch_folder(p, other):
        raise DataError(
            f"{p}: holds the {other} python batches, expected {_BATCHES[dataset].folder} "
            f"files for dataset={dataset!r}"
        )
    child = p / _BATCHES[dataset].folder
    if child.is_dir():
        return _load_batch_folder(child, dataset, split)
    try:
        subdirs = _visible_dirs(p)
    except OSError as exc:
        raise DataError(f"{p}: cannot list the folder ({_one_line(exc)}); {_EXPECTED}") from None
    roots = [d for d in subdirs if _is_imagefolder_root(d)]
    if len(roots) == 1:
        return _load_imagefolder(roots[0], dataset, split)
    if len(roots) > 1:
        names = ", ".join(d.name for d in roots)
        raise DataError(
            f"{p}: holds {len(roots)} ImageFolder roots ({names}); expected exactly one "
            "(pass the one to read)"
        )
    if (p / _BATCHES[other].folder).is_dir():
        raise DataError(
            f"{p}: holds {_BATCHES[other].folder}, expected {_BATCHES[dataset].folder} "
            f"for dataset={dataset!r}"
        )
    if not any(not e.name.startswith(".") for e in p.iterdir()):
        raise DataError(f"{p}: empty folder; {_EXPECTED}")
    for name in SPLITS:
        if (p / name).is_dir():
            missing = "test" if name == "train" else "train"
            raise DataError(f"{p}: has {name}/ but no {missing}/; expected both train/ and test/")
    raise DataError(f"{p}: no CIFAR layout found; {_EXPECTED}")


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _list_class_folder(folder: Path) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(folder).parts
        found.extend((*rel, f) for f in filenames if _is_image_name(f))
    return sorted(found)


def _load_imagefolder(
    root: Path, dataset: str, split: str
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    listing: _Listing = {}
    for name in SPLITS:
        try:
            listing[name] = {d.name: _list_class_folder(d) for d in _visible_dirs(root / name)}
        except OSError as exc:
            raise DataError(f"{root / name}: cannot list the folder ({_one_line(exc)})") from None

    def read(cls: str, rel: tuple[str, ...]) -> bytes:
        f = root.joinpath(split, cls, *rel)
        try:
            return f.read_bytes()
        except OSError as exc:
            raise DataError(f"{f}: cannot read the image ({_one_line(exc)})") from None

    def where(*parts: str) -> str:
        return str(root.joinpath(*parts))

    return _assemble(listing, split, dataset, read, where)


# ----------------------------------------------------------------------------- archives


def _load_tar(
    p: Path, label: str, dataset: str, split: str
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read an archive in one sequential pass, keeping only the bytes that may be needed."""
    dirs: set[tuple[str, ...]] = set()
    files: list[tuple[str, ...]] = []
    blobs: dict[tuple[str, ...], bytes] = {}
    batch_names = {_BATCHES[d].folder: _batch_file_names(d) for d in DATASETS}
    seen = 0
    try:
        with tarfile.open(p, "r|*") as archive:
            for member in archive:
                parts = tuple(x for x in member.name.split("/") if x not in ("", "."))
                if not parts or any(x.startswith(".") for x in parts):
                    continue
                seen += 1
                if member.isdir():
                    dirs.add(parts)
                    continue
                if not member.isfile():
                    continue
                dirs.update(parts[:i] for i in range(1, len(parts)))
                is_batch = len(parts) >= 2 and parts[-1] in batch_names.get(parts[-2], ())
                if _is_image_name(parts[-1]):
                    files.append(parts)
                    if split not in parts[:-2]:
                        continue
                elif not is_batch:
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    blobs[parts] = handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{label}: not a readable tar archive ({_one_line(exc)}); {_EXPECTED}"
        ) from None
    root = _tar_root(label, dirs, dataset)
    if root and root[-1] in batch_names:
        return _load_tar_batches(label, root, blobs, dataset, split)
    if root is None:
        if not seen:
            raise DataError(f"{label}: empty archive; {_EXPECTED}")
        raise DataError(f"{label}: no CIFAR layout found in the archive; {_EXPECTED}")
    listing: _Listing = {name: {} for name in SPLITS}
    depth = len(root)
    for d in dirs:
        if len(d) == depth + 2 and d[:depth] == root and d[depth] in SPLITS:
            listing[d[depth]].setdefault(d[depth + 1], [])
    for f in files:
        if len(f) >= depth + 3 and f[:depth] == root and f[depth] in SPLITS:
            listing[f[depth]].setdefault(f[depth + 1], []).append(f[depth + 2 :])
    for by_class in listing.values():
        for rels in by_class.values():
            rels.sort()
    prefix = "/".join(root)

    def read(cls: str, rel: tuple[str, ...]) -> bytes:
        return blobs[(*root, split, cls, *rel)]

    def where(*parts: str) -> str:
        inner = "/".join(x for x in (prefix, *parts) if x)
        return f"{label}:{inner}" if inner else label

    return _assemble(listing, split, dataset, read, where)


def _tar_root(label: str, dirs: set[tuple[str, ...]], dataset: str) -> tuple[str, ...] | None:
    """The archive's ImageFolder root or batch folder (``()`` for the top), or ``None``."""

    def is_root(r: tuple[str, ...]) -> bool:
        return (*r, "train") in dirs and (*r, "test") in dirs

    if is_root(()):
        return ()
    folder = _BATCHES[dataset].folder
    if (folder,) in dirs:
        return (folder,)
    other = _BATCHES[_other(dataset)].folder
    if (other,) in dirs:
        raise DataError(f"{label}: holds {other}, expected {folder} for dataset={dataset!r}")
    roots = sorted(d for d in dirs if len(d) == 1 and is_root(d))
    if len(roots) > 1:
        names = ", ".join(r[0] for r in roots)
        raise DataError(
            f"{label}: holds {len(roots)} ImageFolder roots ({names}); expected exactly one"
        )
    if roots:
        return roots[0]
    for name in SPLITS:
        missing = "test" if name == "train" else "train"
        if (name,) in dirs or any(len(d) == 2 and d[1] == name for d in dirs):
            raise DataError(
                f"{label}: has {name}/ but no {missing}/; expected both train/ and test/"
            )
    return None


# ----------------------------------------------------------------------------- decoding


def _assemble(
    listing: _Listing,
    split: str,
    dataset: str,
    read: Callable[[str, tuple[str, ...]], bytes],
    where: Callable[..., str],
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Check an ImageFolder listing and decode the images of ``split``."""
    train, test = set(listing["train"]), set(listing["test"])
    if not train and not test:
        raise DataError(f"{where('train')}: no class folders; expected one folder per class")
    if train != test:
        only_train = ", ".join(sorted(train - test)) or "none"
        only_test = ", ".join(sorted(test - train)) or "none"
        raise DataError(
            f"{where()}: class folders differ between train/ and test/ "
            f"(only in train: {_clip(only_train)}; only in test: {_clip(only_test)}); "
            "expected the same classes in both"
        )
    expected = NUM_CLASSES[dataset]
    if len(train) != expected:
        other = _other(dataset)
        hint = f" (pass dataset={other!r})" if len(train) == NUM_CLASSES[other] else ""
        raise DataError(
            f"{where(split)}: {len(train)} class folders, expected {expected} for {dataset}{hint}"
        )
    classes = tuple(sorted(train))
    for name in SPLITS:
        for cls in classes:
            if not listing[name][cls]:
                raise DataError(
                    f"{where(name, cls)}: no images; expected image files "
                    f"({', '.join(IMAGE_EXTENSIONS[:3])}, ...)"
                )
    entries = [(c, rel) for c, cls in enumerate(classes) for rel in listing[split][cls]]
    images = np.empty((len(entries), _SIDE, _SIDE, 3), dtype=np.uint8)
    labels = np.empty(len(entries), dtype=np.int64)
    for i, (c, rel) in enumerate(entries):
        cls = classes[c]
        images[i] = _decode(read(cls, rel), where, (split, cls, *rel))
        labels[i] = c
    return images.transpose(0, 3, 1, 2), labels, classes


def _decode(blob: bytes, where: Callable[..., str], parts: tuple[str, ...]) -> np.ndarray:
    """Pillow-decode one image, which must be 32x32 RGB, to ``uint8`` ``(32, 32, 3)``.

    ``where(*parts)`` names the image in an error message (only built on failure).
    """
    try:
        with Image.open(io.BytesIO(blob)) as im:
            if im.size != (_SIDE, _SIDE) or im.mode != "RGB":
                w, h = im.size
                raise DataError(f"{where(*parts)}: image is {w}x{h} {im.mode}, expected 32x32 RGB")
            return np.asarray(im)
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{where(*parts)}: cannot decode the image ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, Image.UnidentifiedImageError):
        return "unknown image format"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------- python batches


def _batch_file_names(dataset: str) -> frozenset[str]:
    spec = _BATCHES[dataset]
    return frozenset((spec.meta, *spec.files["train"], *spec.files["test"]))


_NUMPY_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a pickled NumPy array needs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refuses the global {module}.{name}")
        if module.startswith("numpy.core") and int(np.__version__.split(".")[0]) >= 2:
            module = "numpy._core" + module[len("numpy.core") :]
        elif module.startswith("numpy._core") and int(np.__version__.split(".")[0]) < 2:
            module = "numpy.core" + module[len("numpy._core") :]
        return getattr(importlib.import_module(module), name)


def _unpickle(blob: bytes, name: str) -> dict[bytes, Any]:
    try:
        obj = _BatchUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except Exception as exc:  # any failure of a malformed pickle is the file's fault
        raise DataError(f"{name}: not a CIFAR python batch pickle ({_one_line(exc)})") from None
    if not isinstance(obj, dict):
        raise DataError(
            f"{name}: the pickle holds a {type(obj).__name__}, expected a dict (CIFAR batch)"
        )
    return {k.encode() if isinstance(k, str) else k: v for k, v in obj.items()}


def _require(batch: dict[bytes, Any], keys: tuple[bytes, ...], name: str, fmt: str) -> None:
    missing = [k for k in keys if k not in batch]
    if missing:
        want = " and ".join(repr(k) for k in keys)
        raise DataError(
            f"{name}: batch pickle lacks {', '.join(repr(k) for k in missing)}; "
            f"expected keys {want} ({fmt} format)"
        )


def _read_batches(
    read: Callable[[str], bytes], where: Callable[[str], str], dataset: str, split: str
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    spec = _BATCHES[dataset]
    n_classes = NUM_CLASSES[dataset]
    meta = _unpickle(read(spec.meta), where(spec.meta))
    _require(meta, (spec.names_key,), where(spec.meta), spec.folder)
    names = meta[spec.names_key]
    if not isinstance(names, list | tuple) or len(names) != n_classes:
        raise DataError(
            f"{where(spec.meta)}: {spec.names_key!r} is not a list of {n_classes} class names"
        )
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for fname in spec.files[split]:
        name = where(fname)
        batch = _unpickle(read(fname), name)
        _require(batch, (b"data", spec.labels_key), name, spec.folder)
        data = batch[b"data"]
        if (
            not isinstance(data, np.ndarray)
            or data.dtype != np.uint8
            or data.ndim != 2
            or data.shape[1] != 3 * _SIDE * _SIDE
        ):
            got = (
                f"{data.dtype} {data.shape}"
                if isinstance(data, np.ndarray)
                else type(data).__name__
            )
            raise DataError(f"{name}: b'data' is {got}, expected uint8 (N, 3072)")
        try:
            lab = np.asarray(batch[spec.labels_key], dtype=np.int64)
        except (TypeError, ValueError):
            lab = np.empty(0, dtype=np.int64)
        if lab.shape != (data.shape[0],) or (
            lab.size and (lab.min() < 0 or lab.max() >= n_classes)
        ):
            raise DataError(
                f"{name}: {spec.labels_key!r} must be {data.shape[0]} integers in [0, {n_classes})"
            )
        images.append(data.reshape(-1, 3, _SIDE, _SIDE))
        labels.append(lab)
    return np.concatenate(images), np.concatenate(labels), classes


def _load_batch_folder(
    folder: Path, dataset: str, split: str
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    def read(fname: str) -> bytes:
        f = folder / fname
        if not f.is_file():
            raise DataError(f"{f}: missing; expected the {_BATCHES[dataset].folder} file {fname}")
        try:
            return f.read_bytes()
        except OSError as exc:
            raise DataError(f"{f}: cannot read the file ({_one_line(exc)})") from None

    return _read_batches(read, lambda fname: str(folder / fname), dataset, split)


def _load_tar_batches(
    label: str,
    root: tuple[str, ...],
    blobs: dict[tuple[str, ...], bytes],
    dataset: str,
    split: str,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    prefix = "/".join(root)

    def read(fname: str) -> bytes:
        blob = blobs.get((*root, fname))
        if blob is None:
            raise DataError(
                f"{label}:{prefix}/{fname}: missing; expected the {prefix} file {fname}"
            )
        return blob

    return _read_batches(read, lambda fname: f"{label}:{prefix}/{fname}", dataset, split)


__all__ = [
    "DATASETS",
    "IMAGE_EXTENSIONS",
    "NUM_CLASSES",
    "PACKAGED_SUBSET",
    "SPLITS",
    "load_cifar",
    "packaged_subset_path",
]
