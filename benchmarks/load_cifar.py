"""Wall and CPU time of :func:`cenas.datasets.load_cifar` on a full CIFAR-10 copy (one thread).

Times each split of the archive (or folder) given, read in one pass without extraction and
decoded with Pillow, and separately the pass over the archive alone (reading the member
bytes, no decoding), so the decode share is visible. Prints the median of ``--repeats``; the
process CPU time is the figure to compare on a machine shared with other work.

    python benchmarks/load_cifar.py --data ../shared/data/cifar10/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import statistics
import tarfile
import time
from pathlib import Path

import torch

from cenas.datasets import load_cifar


def read_only(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds to read every member's bytes of the archive (no decoding)."""
    t, c = time.perf_counter(), time.process_time()
    with tarfile.open(path, "r|*") as archive:
        for member in archive:
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is not None:
                handle.read()
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="CIFAR-10 archive or folder")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load_cifar({args.data}), torch {torch.__version__}, 1 thread, {args.repeats} repeats")
    if args.data.is_file():
        runs = [read_only(args.data) for _ in range(args.repeats)]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"  archive pass only (all members' bytes): wall {wall:.2f} s, CPU {cpu:.2f} s")
    for split in ("train", "test"):
        times: list[float] = []
        cpus: list[float] = []
        n = 0
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            data = load_cifar(args.data, "cifar10", split)
            times.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
            n = len(data)
        med, cpu = statistics.median(times), statistics.median(cpus)
        print(
            f"  {split}: {n} images, wall {med:.2f} s (median; min {min(times):.2f}, "
            f"max {max(times):.2f}), CPU {cpu:.2f} s = {n / cpu:,.0f} images per CPU-second"
        )


if __name__ == "__main__":
    main()
