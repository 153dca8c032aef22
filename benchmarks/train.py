"""Speed of the NAS-Bench-201 trainer (cenas.train) on this machine.

(a) A reduced network (C=8, N=1) trains on the packaged CIFAR-10 subset's whole training
    split (batch 256, NAS-Bench-201 recipe) for two epochs, for the mean-cost cell and the
    largest cell; the second epoch's time is the one compared with the target (<= 30 s on
    two CPU cores), the first includes one-time kernel set-up.
(b) The full-size network (C=16, N=5): training images per second (a handful of batches of
    256, timed from the trainer's own per-step progress events, the first step excluded as
    warm-up) and inference images per second (evaluation mode, no gradients), for the same
    two cells.

The mean-cost cell is the cell whose modelled training cost (cenas.bench: measured GTX
1080 Ti latency at batch 256) is closest to the mean over all 15,625 cells; the largest is
every edge ``nor_conv_3x3`` (most parameters and FLOPs).

    python benchmarks/train.py --threads 2,1
    python benchmarks/train.py --threads 1 --sections c --out benchmarks/results/train-lf.txt

(c), with ``--sections c``: the low-fidelity estimator (12 epochs by default, a reduced
network by default) on the packaged training split, its score and seconds.

Writes benchmarks/results/train.txt (or --out) with the command, git commit, torch version,
threads and the load average.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cenas.bench import get_task
from cenas.datasets import BatchLoader, ImageSet, load_cifar
from cenas.estimators._low_fidelity import LowFidelityEstimator
from cenas.nn import build_nb201, count_flops, count_params
from cenas.space import NB201Space
from cenas.study import git_commit
from cenas.train import TrainConfig, TrainProgress, train

LARGEST = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)


def mean_cost_cell() -> str:
    """The cell whose modelled 200-epoch training cost is closest to the mean."""
    task = get_task()
    space = NB201Space()
    cost = task.train_cost(np.arange(space.size))
    i = int(np.argmin(np.abs(cost - cost.mean())))
    return space.to_str(space.from_index(i))


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} / {b:.2f} / {c:.2f}"


def one_epoch(arch: str, data: ImageSet, test: ImageSet, device: str) -> dict[str, float]:
    """(a): two epochs of the reduced network through ``train`` (the first warms up)."""
    cfg = TrainConfig(epochs=2, channels=8, cells_per_stage=1, batch_size=256)
    r = train(arch, data, None, cfg, device=device, test_set=test)
    return {
        "first_s": r.epoch_seconds[0],
        "epoch_s": r.epoch_seconds[1],
        "wall_s": r.wall_seconds,
        "img_s": r.images_per_second,
        "test_acc": float(r.test_acc or 0.0),
        "params": r.params,
    }


def train_speed(arch: str, data: ImageSet, batches: int, device: str) -> dict[str, float]:
    """(b): training images per second of the full network, warm-up step excluded."""
    n = 256 * (batches + 1)
    subset = data.subset(torch.arange(n) % len(data))
    stamps: list[float] = []

    def tick(p: TrainProgress) -> None:
        if not p.epoch_done:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())

    cfg = TrainConfig(epochs=1, channels=16, cells_per_stage=5, batch_size=256)
    r = train(arch, subset, None, cfg, device=device, progress=tick)
    timed = stamps[-1] - stamps[0]
    return {
        "img_s": 256 * (len(stamps) - 1) / timed,
        "first_step_s": r.epoch_seconds[0] - timed,
        "params": r.params,
    }


@torch.no_grad()
def infer_speed(arch: str, data: ImageSet, batches: int, device: str) -> float:
    """(b): inference images per second of the full network (batch 256), warm-up excluded."""
    dev = torch.device(device)
    model = build_nb201(arch, 16, 5, 10).to(dev).eval()
    cuda = dev.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    subset = data.subset(torch.arange(256 * (batches + 1)) % len(data))
    loader = BatchLoader(subset, 256, shuffle=False, augment=False, device=dev, channels_last=cuda)
    xs = [x for x, _ in loader.epoch(0)]
    ctx = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if cuda
        else torch.autocast("cpu", enabled=False)
    )
    with ctx:
        model(xs[0])
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for x in xs[1:]:
            model(x)
        if cuda:
            torch.cuda.synchronize()
    return 256 * (len(xs) - 1) / (time.perf_counter() - t0)


def measure(
    cells: dict[str, str], train_set: ImageSet, test_set: ImageSet, args: argparse.Namespace
) -> list[str]:
    """The chosen sections at the current torch thread count."""
    lines = [f"## torch threads {torch.get_num_threads()}; load average at start: {load()}"]
    if "a" in args.sections:
        lines.append(
            "(a) one epoch, C=8 N=1, batch 256, whole training split (target <= 30 s on 2 cores)"
        )
    for name, arch in cells.items() if "a" in args.sections else ():
        w0, c0 = time.perf_counter(), time.process_time()
        a = one_epoch(arch, train_set, test_set, args.device)
        cores = (time.process_time() - c0) / (time.perf_counter() - w0)
        verdict = "meets" if a["epoch_s"] <= 30 else "misses"
        lines.append(
            f"  {name:<9} epoch {a['epoch_s']:6.2f} s (first epoch, with warm-up, "
            f"{a['first_s']:.2f} s; {a['img_s']:.0f} img/s over both; {a['params']:,} params; "
            f"test acc after 2 epochs {a['test_acc']:.2f} %; CPU/wall {cores:.2f}): "
            f"{verdict} the target"
        )
    if "b" in args.sections:
        lines.append(
            f"(b) full network C=16 N=5, batch 256, {args.batches} timed batches after one warm-up"
        )
    for name, arch in cells.items() if "b" in args.sections else ():
        w0, c0 = time.perf_counter(), time.process_time()
        b = train_speed(arch, train_set, args.batches, args.device)
        inf = infer_speed(arch, train_set, args.batches, args.device)
        cores = (time.process_time() - c0) / (time.perf_counter() - w0)
        per_epoch = 50_000 / b["img_s"]
        lines.append(
            f"  {name:<9} training {b['img_s']:7.1f} img/s (first step {b['first_step_s']:.2f} s; "
            f"a 50k-image epoch would take {per_epoch / 60:.1f} min), "
            f"inference {inf:7.1f} img/s (CPU/wall {cores:.2f})"
        )
    if "c" in args.sections:
        lines.append(
            f"(c) LowFidelityEstimator, {args.lf_epochs} epochs, C={args.lf_channels} "
            f"N={args.lf_cells}, 20 % of the training split held out for validation"
        )
    for name, arch in cells.items() if "c" in args.sections else ():
        est = LowFidelityEstimator(
            epochs=args.lf_epochs, channels=args.lf_channels, cells_per_stage=args.lf_cells
        )
        out = est.estimate(arch, train_set, torch.device(args.device))
        lines.append(
            f"  {name:<9} score (validation accuracy) {out.score:.2f} % on "
            f"{out.extra['val_images']} images after training on {out.extra['train_images']}; "
            f"final train loss {out.extra['train_loss']:.4f}; {out.seconds:.1f} s "
            f"({out.extra['images_per_second']:.0f} img/s)"
        )
    lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--threads", default="2", help="torch thread counts, comma-separated (one run each)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, default=4, help="timed batches in (b)")
    parser.add_argument("--sections", default="ab", help="any of a, b, c (c: the estimator)")
    parser.add_argument("--lf-epochs", type=int, default=12, help="epochs in (c)")
    parser.add_argument("--lf-channels", type=int, default=8, help="C in (c)")
    parser.add_argument("--lf-cells", type=int, default=1, help="N in (c)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train.txt"))
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    command = "python " + " ".join([sys.argv[0], *sys.argv[1:]])
    lines = [
        f"# {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC: {command}",
        f"# git {git_commit()}, torch {torch.__version__}, python {platform.python_version()}, "
        f"device {args.device}, torch threads {args.threads} (machine: {os.cpu_count()} cores)",
    ]
    t0 = time.perf_counter()
    train_set = load_cifar(None, "cifar10", "train")
    test_set = load_cifar(None, "cifar10", "test")
    lines.append(
        f"data: {train_set.source}, {len(train_set)} train / {len(test_set)} test images "
        f"(decoded in {time.perf_counter() - t0:.2f} s)"
    )
    cells = {"mean-cost": mean_cost_cell(), "largest": LARGEST}
    for name, arch in cells.items():
        net = build_nb201(arch, 16, 5, 10)
        lines.append(
            f"{name} cell {arch}: C=16 N=5 {count_params(net):,} params, "
            f"{count_flops(net) / 2e6:.1f} M multiply-adds per image"
        )
    lines.append("")
    for n in threads:
        torch.set_num_threads(n)
        if n == threads[0]:
            print("\n".join(lines), flush=True)
        section = measure(cells, train_set, test_set, args)
        lines.extend(section)
        print("\n".join(section), flush=True)
    lines.append(
        "# CPU/wall: CPU seconds of this process per wall second during the measurement, the"
    )
    lines.append("# cores it actually obtained (at most the torch threads; less under contention)")
    lines.append(f"# load average at end: {load()}; total {time.perf_counter() - t0:.1f} s")
    text = "\n".join(lines) + "\n"
    print("\n".join(lines[-3:]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
