"""DARTS network sizes from PyTorch's own counters, and the CPU rate of the evaluation size.

Parameters (without and with the auxiliary head) and multiply-adds (half the FLOPs of
``torch.utils.flop_counter``, which counts a multiply-add as two) of the published DARTS
genotypes at the evaluation size (C=36, 20 cells) and the search size (C=16, 8 cells);
then images per second of forward + backward of the
evaluation-size DARTS_V2 network at batch 32 on one CPU thread (3 timed steps after one
warm-up), and what 600 epochs of CIFAR-10 (50,000 images) would take at that rate.

    python benchmarks/darts_sizes.py --out benchmarks/results/darts-sizes.txt
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    from cenas._git import git_commit
    from cenas.nn import build_darts, count_flops
    from cenas.space import DARTS_V1, DARTS_V2

    torch.set_num_threads(1)
    lines = [
        f"# python benchmarks/darts_sizes.py; git {git_commit()}; torch {torch.__version__}; "
        f"python {platform.python_version()}; torch threads 1; load average "
        f"{os.getloadavg()[0]:.2f}",
        "genotype  size             params (no aux)  params (with aux)  multiply-adds",
    ]
    for name, g in (("DARTS_V2", DARTS_V2), ("DARTS_V1", DARTS_V1)):
        for size, c, layers in (("eval C=36 L=20", 36, 20), ("search C=16 L=8", 16, 8)):
            net = build_darts(g, c, layers, 10, auxiliary=True)
            macs = count_flops(build_darts(g, c, layers, 10, auxiliary=False), (3, 32, 32)) // 2
            lines.append(
                f"{name:<9} {size:<16} {net.count_params():>15,}  "
                f"{net.count_params(auxiliary=True):>17,}  {macs:>13,}"
            )
    lines.append(
        "published: DARTS (second order) 3.3 M parameters (Liu et al., ICLR 2019, Table 1)"
    )
    torch.manual_seed(0)
    net = build_darts(DARTS_V2, 36, 20, 10, auxiliary=True, drop_path_prob=0.2)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9)
    x = torch.randn(32, 3, 32, 32)
    y = torch.randint(0, 10, (32,))

    def step() -> None:
        logits, aux = net(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        if aux is not None:
            loss = loss + 0.4 * torch.nn.functional.cross_entropy(aux, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    rate = 32 * args.steps / (time.perf_counter() - t0)
    hours = 600 * 50_000 / rate / 3600
    lines.append(
        f"evaluation-size DARTS_V2 forward+backward, batch 32, 1 CPU thread: {rate:.1f} images/s "
        f"({args.steps} steps); 600 epochs x 50,000 images at that rate: {hours:,.0f} CPU-hours"
    )
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
