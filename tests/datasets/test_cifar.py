"""load_cifar: every layout, the packaged subset, and one-line errors naming the path."""

from __future__ import annotations

import hashlib
import importlib.resources
import io
import pickle
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cenas.datasets import PACKAGED_SUBSET, ImageSet, load_cifar, packaged_subset_path
from cenas.errors import CenasError, DataError
from tests.datasets.conftest import (
    CIFAR10_CLASSES,
    expected_tensor,
    make_cifar10_batches,
    make_cifar100_batches,
    make_imagefolder,
    make_tar,
)

SUBSET_SHA256 = "bfc08dc6b7d0cbd919def1f047150d093b0b78d935db778537fdea27b3e0d049"


def same(a: ImageSet, b: ImageSet) -> bool:
    return (
        torch.equal(a.images, b.images)
        and torch.equal(a.labels, b.labels)
        and a.classes == b.classes
        and a.dataset == b.dataset
    )


# ----------------------------------------------------------------------------- packaged subset


def test_packaged_subset_is_installed_and_is_the_documented_file() -> None:
    resource = importlib.resources.files("cenas").joinpath(
        "data", "cifar10-subset", "cifar10-subset.tar"
    )
    assert resource.is_file()
    assert Path(str(resource)) == packaged_subset_path()
    assert hashlib.sha256(resource.read_bytes()).hexdigest() == SUBSET_SHA256
    readme = importlib.resources.files("cenas").joinpath("data", "cifar10-subset", "README.md")
    assert SUBSET_SHA256 in readme.read_text(encoding="utf-8")


@pytest.mark.parametrize(("split", "per_class"), [("train", 300), ("test", 60)])
def test_packaged_subset_counts_and_classes(split: str, per_class: int) -> None:
    data = load_cifar(split=split)
    assert data.classes == CIFAR10_CLASSES
    assert data.dataset == "cifar10"
    assert data.source == f"packaged:{PACKAGED_SUBSET}"
    assert data.images.shape == (10 * per_class, 3, 32, 32)
    assert data.images.dtype == torch.uint8
    assert data.labels.dtype == torch.int64
    assert data.labels.bincount().tolist() == [per_class] * 10
    # class by class, in order
    assert torch.equal(data.labels, torch.arange(10).repeat_interleave(per_class))


def test_packaged_subset_dir_tar_and_targz_forms_give_the_same_images(tmp_path: Path) -> None:
    packaged = load_cifar(split="test")
    with tarfile.open(packaged_subset_path()) as archive:
        archive.extractall(tmp_path / "cifar10", filter="data")
    from_dir = load_cifar(tmp_path / "cifar10", split="test")
    from_parent = load_cifar(str(tmp_path), split="test")  # parent of exactly one root
    tgz = make_tar(tmp_path / "cifar10", tmp_path / "c.tgz", arcname="cifar10")
    from_tgz = load_cifar(tgz, split="test")
    assert same(packaged, from_dir)
    assert same(packaged, from_parent)
    assert same(packaged, from_tgz)
    assert from_dir.source == str(tmp_path / "cifar10")
    assert from_tgz.source == str(tgz)


def test_none_with_cifar100_is_refused() -> None:
    with pytest.raises(DataError, match=r"^path: None selects the packaged CIFAR-10 subset"):
        load_cifar(None, dataset="cifar100")


# ----------------------------------------------------------------------------- ImageFolder


def test_png_imagefolder_gives_exact_pixels_in_sorted_class_order(tmp_path: Path) -> None:
    shuffled = (
        "truck",
        "airplane",
        "dog",
        "bird",
        "cat",
        "ship",
        "frog",
        "horse",
        "deer",
        "automobile",
    )
    written = make_imagefolder(tmp_path / "root", shuffled, n_train=3, n_test=2)
    for split in ("train", "test"):
        data = load_cifar(tmp_path / "root", split=split)
        images, labels = expected_tensor(written, split)
        assert data.classes == CIFAR10_CLASSES
        assert np.array_equal(data.images.numpy(), images)
        assert np.array_equal(data.labels.numpy(), labels)


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tgz"])
@pytest.mark.parametrize("arcname", ["", "cifar10"])
def test_jpeg_imagefolder_dir_and_archive_agree(tmp_path: Path, suffix: str, arcname: str) -> None:
    make_imagefolder(tmp_path / "cifar10", fmt="JPEG", n_train=2, n_test=1, seed=3)
    archive = make_tar(tmp_path / "cifar10", tmp_path / f"a{suffix}", arcname=arcname)
    for split in ("train", "test"):
        a = load_cifar(tmp_path / "cifar10", split=split)
        b = load_cifar(archive, split=split)
        assert same(a, b)
        assert len(a) == (20 if split == "train" else 10)


def test_nested_hidden_and_non_image_files(tmp_path: Path) -> None:
    written = make_imagefolder(tmp_path / "r", n_train=1, n_test=1)
    extra = np.full((32, 32, 3), 7, dtype=np.uint8)
    (tmp_path / "r" / "train" / "cat" / "sub").mkdir()
    Image.fromarray(extra).save(tmp_path / "r" / "train" / "cat" / "sub" / "a.PNG")
    (tmp_path / "r" / "train" / "cat" / "._0000.png").write_bytes(b"AppleDouble junk")
    (tmp_path / "r" / "train" / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "r" / "train" / ".hidden").mkdir()
    (tmp_path / "r" / "README").write_text("ignored")
    data = load_cifar(tmp_path / "r")
    cat = CIFAR10_CLASSES.index("cat")
    idx = torch.nonzero(data.labels == cat).flatten()
    assert idx.tolist() == [cat, cat + 1]  # 0000.png then sub/a.PNG, sorted by path
    assert np.array_equal(
        data.images[idx[0]].numpy(), written["train"]["cat"][0].transpose(2, 0, 1)
    )
    assert np.array_equal(data.images[idx[1]].numpy(), extra.transpose(2, 0, 1))
    # the archive form skips the same entries and keeps the same order
    assert same(data, load_cifar(make_tar(tmp_path / "r", tmp_path / "r.tar")))


def test_cifar100_imagefolder(tmp_path: Path) -> None:
    classes = [f"c{i:03d}" for i in range(100)]
    written = make_imagefolder(tmp_path / "c100", classes, n_train=1, n_test=1)
    data = load_cifar(tmp_path / "c100", dataset="cifar100", split="test")
    images, labels = expected_tensor(written, "test")
    assert data.classes == tuple(classes)
    assert data.dataset == "cifar100"
    assert np.array_equal(data.images.numpy(), images)
    assert np.array_equal(data.labels.numpy(), labels)


def test_the_shared_layout_cifar10_train_class_jpg_in_a_targz(tmp_path: Path) -> None:
    """The shared tarball's layout: cifar10/{train,test}/<class>/NNNN.jpg with folder entries."""
    make_imagefolder(tmp_path / "x" / "cifar10", fmt="JPEG", n_train=1, n_test=1)
    archive = make_tar(tmp_path / "x", tmp_path / "cifar10-jpeg.tar.gz")
    with tarfile.open(archive) as t:
        assert t.getnames()[0] == "cifar10"
    assert same(load_cifar(archive, split="test"), load_cifar(tmp_path / "x", split="test"))


# ----------------------------------------------------------------------------- python batches


def test_cifar10_python_batches(tmp_path: Path) -> None:
    parent = tmp_path / "d"
    expected = make_cifar10_batches(parent / "cifar-10-batches-py")
    for split in ("train", "test"):
        x, y = expected[split]
        for where in (parent / "cifar-10-batches-py", parent):
            data = load_cifar(where, split=split)
            assert data.classes == CIFAR10_CLASSES
            assert np.array_equal(data.images.numpy(), x)
            assert np.array_equal(data.labels.numpy(), y)
            assert data.source == str(where)
    assert len(load_cifar(parent)) == 10  # five batches of two
    official = make_tar(parent, tmp_path / "cifar-10-python.tar.gz")
    assert same(load_cifar(official), load_cifar(parent))


def test_cifar100_python_batches_fine_labels(tmp_path: Path) -> None:
    parent = tmp_path / "d"
    expected = make_cifar100_batches(parent / "cifar-100-python")
    for split in ("train", "test"):
        x, y = expected[split]
        data = load_cifar(parent, dataset="cifar100", split=split)
        assert data.classes == tuple(f"fine{i:03d}" for i in range(100))
        assert data.dataset == "cifar100"
        assert np.array_equal(data.images.numpy(), x)
        assert np.array_equal(data.labels.numpy(), y)
    archive = make_tar(parent, tmp_path / "cifar-100-python.tar.gz")
    assert same(load_cifar(archive, "cifar100", "test"), load_cifar(parent, "cifar100", "test"))


def test_batch_pickle_with_a_foreign_global_is_refused_without_running_it(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar10_batches(folder)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[object, ...]]:
            return (Path.touch, (marker,))

    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}))
    with pytest.raises(DataError, match="refuses the global pathlib") as info:
        load_cifar(folder)
    assert str(folder / "data_batch_1") in str(info.value)
    assert not marker.exists()


# ----------------------------------------------------------------------------- errors


def check_error(exc: DataError, path: Path | str, expected: str) -> None:
    message = str(exc)
    assert isinstance(exc, CenasError)
    assert "\n" not in message
    assert str(path) in message, message
    assert re.search(expected, message), message


def raises(path: Path | str, expected: str, **kwargs: str) -> None:
    with pytest.raises(DataError) as info:
        load_cifar(path, **kwargs)
    check_error(info.value, path, expected)


def test_missing_path(tmp_path: Path) -> None:
    raises(tmp_path / "nope", r"no such file or folder; expected an ImageFolder root")


def test_empty_folder(tmp_path: Path) -> None:
    raises(tmp_path, r"empty folder; expected")


def test_folder_without_a_layout(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "images").mkdir()
    raises(tmp_path, r"no CIFAR layout found; expected an ImageFolder root")


@pytest.mark.parametrize("present", ["train", "test"])
def test_train_without_test(tmp_path: Path, present: str) -> None:
    root = tmp_path / "d"
    (root / present / "cat").mkdir(parents=True)
    missing = "test" if present == "train" else "train"
    raises(root, rf"has {present}/ but no {missing}/; expected both")
    raises(make_tar(root, tmp_path / "half.tar"), rf"has {present}/ but no {missing}/")


def test_class_folders_differ(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_imagefolder(root)
    (root / "test" / "truck").rename(root / "test" / "lorry")
    expected = r"class folders differ .*only in train: truck; only in test: lorry"
    raises(root, expected)
    raises(make_tar(root, tmp_path / "differ.tar.gz"), expected)


def test_class_folder_with_no_images(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_imagefolder(root)
    for f in (root / "test" / "dog").iterdir():
        f.unlink()
    (root / "test" / "dog" / "readme.txt").write_text("nothing here")
    with pytest.raises(DataError) as info:
        load_cifar(root, split="train")  # the other split is checked too
    check_error(info.value, root / "test" / "dog", r"no images; expected image files")
    archive = make_tar(root, tmp_path / "empty-class.tar")
    raises(archive, rf"{archive}:test/dog: no images")


def test_no_class_folders(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    raises(tmp_path, r"train: no class folders")


def test_wrong_number_of_classes(tmp_path: Path) -> None:
    make_imagefolder(tmp_path, classes=("a", "b", "c"))
    raises(tmp_path, r"3 class folders, expected 10 for cifar10")
    raises(tmp_path, r"3 class folders, expected 100 for cifar100", dataset="cifar100")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"this is not a jpeg", r"cannot decode the image \(unknown image format\)"),
        ("truncated", r"cannot decode the image \(OSError: image file is truncated"),
    ],
)
def test_undecodable_image_is_named(tmp_path: Path, content: bytes | str, expected: str) -> None:
    root = tmp_path / "d"
    make_imagefolder(root, fmt="JPEG")
    bad = root / "train" / "frog" / "0001.jpg"
    if content == "truncated":
        content = bad.read_bytes()[:-200]
    assert isinstance(content, bytes)
    bad.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_cifar(root)
    check_error(info.value, bad, rf"^{re.escape(str(bad))}: {expected}")
    archive = make_tar(root, tmp_path / "bad.tgz")
    raises(archive, rf"^{re.escape(str(archive))}:train/frog/0001\.jpg: {expected}")
    # the test split does not hold the bad image and loads
    assert len(load_cifar(root, split="test")) == 10


@pytest.mark.parametrize(
    ("size", "mode", "expected"),
    [((16, 16), "RGB", "16x16 RGB"), ((32, 32), "L", "32x32 L"), ((32, 32), "RGBA", "32x32 RGBA")],
)
def test_image_not_32x32_rgb(
    tmp_path: Path, size: tuple[int, int], mode: str, expected: str
) -> None:
    make_imagefolder(tmp_path)
    bad = tmp_path / "test" / "ship" / "0000.png"
    Image.new(mode, size).save(bad)
    with pytest.raises(DataError) as info:
        load_cifar(tmp_path, split="test")
    check_error(info.value, bad, rf"image is {expected}, expected 32x32 RGB")


def test_not_an_archive(tmp_path: Path) -> None:
    text = tmp_path / "cifar.txt"
    text.write_text("hello")
    raises(text, r"not a folder or a \.tar/\.tar\.gz/\.tgz archive")
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    raises(broken, r"not a readable tar archive")


def test_archive_without_a_layout(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("x")
    raises(make_tar(tmp_path / "src", tmp_path / "x.tar"), r"no CIFAR layout found in the archive")
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w"):
        pass
    raises(empty, r"empty archive")


def test_two_roots_are_ambiguous(tmp_path: Path) -> None:
    make_imagefolder(tmp_path / "a")
    make_imagefolder(tmp_path / "b")
    raises(tmp_path, r"holds 2 ImageFolder roots \(a, b\); expected exactly one")


def test_batch_pickle_with_the_wrong_keys(tmp_path: Path) -> None:
    folder = tmp_path / "d" / "cifar-10-batches-py"
    make_cifar10_batches(folder)
    bad = folder / "data_batch_3"
    with bad.open("wb") as f:
        pickle.dump({b"images": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, f, protocol=2)
    raises(
        folder.parent, rf"{re.escape(str(bad))}: batch pickle lacks b'data'; expected keys b'data'"
    )
    meta = tmp_path / "cifar-100-python" / "meta"
    make_cifar100_batches(meta.parent)
    with meta.open("wb") as f:
        pickle.dump({b"label_names": [b"x"] * 100}, f, protocol=2)
    raises(meta.parent, r"lacks b'fine_label_names'", dataset="cifar100")


def test_batch_data_of_the_wrong_shape_or_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar10_batches(folder)
    bad = folder / "test_batch"
    with bad.open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, f)
    raises(folder, r"b'data' is uint8 \(2, 1024\), expected uint8 \(N, 3072\)", split="test")
    with bad.open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, f)
    raises(folder, r"b'labels' must be 2 integers in \[0, 10\)", split="test")
    bad.write_bytes(b"not a pickle")
    raises(folder, r"not a CIFAR python batch pickle", split="test")


def test_missing_batch_file(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar10_batches(folder)
    (folder / "data_batch_4").unlink()
    assert len(load_cifar(folder, split="test")) == 3
    with pytest.raises(DataError) as info:
        load_cifar(folder)
    check_error(
        info.value, folder / "data_batch_4", r"missing; expected the cifar-10-batches-py file"
    )


def test_batches_of_the_other_dataset(tmp_path: Path) -> None:
    parent = tmp_path / "d"
    make_cifar10_batches(parent / "cifar-10-batches-py")
    raises(parent / "cifar-10-batches-py", r"holds the cifar10 python batches", dataset="cifar100")
    raises(parent, r"holds cifar-10-batches-py, expected cifar-100-python", dataset="cifar100")
    archive = make_tar(parent, tmp_path / "c10.tar.gz")
    raises(archive, r"holds cifar-10-batches-py, expected cifar-100-python", dataset="cifar100")


def test_empty_path_string_is_not_the_current_folder() -> None:
    with pytest.raises(DataError, match=r"^path: empty; expected an ImageFolder root"):
        load_cifar("")


def test_cifar100_folder_read_as_cifar10_gets_a_hint(tmp_path: Path) -> None:
    make_imagefolder(tmp_path, classes=[f"c{i:03d}" for i in range(100)], n_train=1, n_test=1)
    raises(tmp_path, r"100 class folders, expected 10 for cifar10 \(pass dataset='cifar100'\)$")


def test_unknown_dataset_and_split(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^dataset: unknown data set 'mnist'; expected one of"):
        load_cifar(tmp_path, dataset="mnist")
    with pytest.raises(DataError, match=r"^split: unknown split 'val'; expected 'train' or 'test'"):
        load_cifar(tmp_path, split="val")


def test_restricted_unpickler_reads_a_python3_protocol_5_array(tmp_path: Path) -> None:
    """Batches re-pickled by Python 3 (any protocol, str keys) load as the official ones do."""
    folder = tmp_path / "cifar-10-batches-py"
    expected = make_cifar10_batches(folder)
    x, y = expected["test"]
    buffer = io.BytesIO()
    pickle.dump({"data": x.reshape(-1, 3072), "labels": list(y)}, buffer, protocol=5)
    (folder / "test_batch").write_bytes(buffer.getvalue())
    data = load_cifar(folder, split="test")
    assert np.array_equal(data.images.numpy(), x)
    assert np.array_equal(data.labels.numpy(), y)


def test_symlinked_class_folder_is_followed(tmp_path: Path) -> None:
    """A symlinked class folder is followed, as torchvision does."""
    make_imagefolder(tmp_path / "r")
    shutil.move(tmp_path / "r" / "train" / "cat", tmp_path / "cat-elsewhere")
    (tmp_path / "r" / "train" / "cat").symlink_to(tmp_path / "cat-elsewhere")
    assert load_cifar(tmp_path / "r").labels.bincount().tolist() == [2] * 10
