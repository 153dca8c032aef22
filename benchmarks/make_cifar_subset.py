"""Build the CIFAR-10 subset shipped in the package, byte-identically, from the full JPEG tarball.

The input is the ImageFolder tarball of all 60,000 CIFAR-10 JPEGs (quality 75;
``cifar10/{train,test}/<class>/NNNN.jpg``). For each split and class, the files are ranked by
the SHA-256 of ``"<seed>:<split>/<class>/<file name>"`` (hexadecimal, ascending) and the
first 300 (train) or 60 (test) are kept: a seeded choice that depends on no library's random
generator. The chosen files' bytes are copied unchanged into an uncompressed tar laid out as
``train/<class>/NNNN.jpg`` and ``test/<class>/NNNN.jpg``, members sorted by path, every
folder listed before its contents, with fixed headers (USTAR format, mtime 0, uid/gid 0, no
user or group names, mode 0644 for files and 0755 for folders), so the same input always
gives the same bytes.

    python benchmarks/make_cifar_subset.py --data ../shared/data/cifar10/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import hashlib
import io
import tarfile
from pathlib import Path, PurePosixPath

SEED = "cenas-cifar10-subset-v1"
"""The seed string of the ranking hash."""

PER_CLASS = {"train": 300, "test": 60}
"""Images kept per class in each split."""

DEFAULT_OUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "cenas"
    / "data"
    / "cifar10-subset"
    / "cifar10-subset.tar"
)


def read_source(data: Path) -> dict[tuple[str, str], dict[str, bytes]]:
    """Every JPEG of the source tarball: ``(split, class) -> {file name: bytes}``."""
    found: dict[tuple[str, str], dict[str, bytes]] = {}
    with tarfile.open(data, "r|*") as archive:
        for member in archive:
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) < 3 or not parts[-1].endswith(".jpg"):
                continue
            split, cls, name = parts[-3:]
            if split not in PER_CLASS:
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            found.setdefault((split, cls), {})[name] = handle.read()
    return found


def rank_key(split: str, cls: str, name: str) -> str:
    """The ranking hash of one file (smallest kept first)."""
    return hashlib.sha256(f"{SEED}:{split}/{cls}/{name}".encode()).hexdigest()


def choose(found: dict[tuple[str, str], dict[str, bytes]]) -> dict[tuple[str, str], list[str]]:
    """The kept file names of each ``(split, class)``, in name order."""
    chosen: dict[tuple[str, str], list[str]] = {}
    for (split, cls), files in found.items():
        ranked = sorted(files, key=lambda name: rank_key(split, cls, name))
        keep = ranked[: PER_CLASS[split]]
        if len(keep) < PER_CLASS[split]:
            raise SystemExit(f"{split}/{cls}: only {len(keep)} images, need {PER_CLASS[split]}")
        chosen[(split, cls)] = sorted(keep)
    return chosen


def _header(name: str, size: int, is_dir: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir else 0o644
    info.size = 0 if is_dir else size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_subset(
    found: dict[tuple[str, str], dict[str, bytes]],
    chosen: dict[tuple[str, str], list[str]],
    out: Path,
) -> bytes:
    """Write the subset tar to ``out`` and return its bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for split in sorted(PER_CLASS):
            archive.addfile(_header(f"{split}/", 0, True))
            for cls in sorted(c for s, c in chosen if s == split):
                archive.addfile(_header(f"{split}/{cls}/", 0, True))
                for name in chosen[(split, cls)]:
                    blob = found[(split, cls)][name]
                    info = _header(f"{split}/{cls}/{name}", len(blob), False)
                    archive.addfile(info, io.BytesIO(blob))
    blob = buffer.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return blob


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="cifar10-jpeg.tar.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the subset tar to write")
    args = parser.parse_args()
    source = args.data.read_bytes()
    found = read_source(args.data)
    chosen = choose(found)
    blob = write_subset(found, chosen, args.out)
    counts = {s: sum(len(v) for (sp, _), v in chosen.items() if sp == s) for s in PER_CLASS}
    print(f"source {args.data} sha256 {hashlib.sha256(source).hexdigest()}")
    print(f"wrote {args.out}: {len(blob):,} bytes, sha256 {hashlib.sha256(blob).hexdigest()}")
    print(f"classes {len({c for _, c in chosen})}, images {counts}")


if __name__ == "__main__":
    main()
