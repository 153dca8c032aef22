"""`cenas estimators` (the proxy table job, shipping it) and `cenas estimate` (one cell).

``cenas estimators table`` measures zero-cost proxies of NAS-Bench-201 cells on real data,
resumably (:mod:`cenas.estimators._table`); ``cenas estimators ship`` merges its shards into
the package's table; ``cenas estimate`` runs any live estimator on one cell of the user's
own data. Other modules add commands to :data:`estimators_app`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from cenas.errors import CenasError

if TYPE_CHECKING:  # torch loads only when an estimator command runs
    import torch

    from cenas.datasets import ImageSet

estimators_app = typer.Typer(
    help="Live estimators: the NAS-Bench-201 zero-cost proxy table, shipping it.",
    no_args_is_help=True,
)

console = Console()
_err = Console(stderr=True, soft_wrap=True)

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="CIFAR copy: ImageFolder root, .tar(.gz) of one, or the python batches "
        "(default: the packaged CIFAR-10 subset).",
    ),
]
DatasetOpt = Annotated[str, typer.Option("--dataset", help="cifar10 or cifar100.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu or cuda.")]


def _load(data: Path | None, dataset: str, split: str = "train") -> ImageSet:
    from cenas.datasets import load_cifar

    return load_cifar(data, dataset=dataset, split=split)


def _device(name: str) -> torch.device:
    import torch

    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise CenasError(f"--device: expected cpu or cuda, got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CenasError("--device cuda: no CUDA device is available")
    return torch.device(name)


@estimators_app.command("table")
def table_cmd(
    out: Annotated[Path, typer.Option("--out", help="Table folder (shards, provenance).")],
    data: DataOpt = None,
    dataset: DatasetOpt = "cifar10",
    shard: Annotated[str, typer.Option("--shard", help="I/N: every N-th cell from I.")] = "0/1",
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the first K cells of the shard.")
    ] = None,
    device: DeviceOpt = "cpu",
    proxies: Annotated[
        str | None,
        typer.Option(
            "--proxies",
            help="Comma-separated (default: synflow,naswot,jacob_cov,snip,grad_norm,grasp,"
            "fisher; the fast fill: params,flops).",
        ),
    ] = None,
    channels: Annotated[int, typer.Option("--channels", help="C of the networks.")] = 16,
    cells_per_stage: Annotated[
        int, typer.Option("--cells-per-stage", help="N of the networks.")
    ] = 5,
    batch_seed: Annotated[int, typer.Option("--batch-seed", help="Seed of the batch.")] = 0,
    init_seed: Annotated[int, typer.Option("--init-seed", help="Seed of the init.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No per-cell progress lines.")] = False,
    remeasure_over: Annotated[
        float | None,
        typer.Option(
            "--remeasure-over",
            help="First measure again the cells whose seconds for a proxy exceed this many "
            "times its median in the shard file (a shared or paused CPU).",
        ),
    ] = None,
) -> None:
    """Measure proxies of every NAS-Bench-201 cell (seeded order, resumable, row by row)."""
    from cenas.estimators._table import TableConfig, parse_proxies, parse_shard, run_table

    shard_ij = parse_shard(shard)
    names = parse_proxies(proxies)
    if channels < 1 or cells_per_stage < 1:
        raise CenasError("--channels and --cells-per-stage must be positive")
    _device(device)
    images = _load(data, dataset)
    config = TableConfig(
        channels=channels,
        cells_per_stage=cells_per_stage,
        batch_seed=batch_seed,
        init_seed=init_seed,
        dataset=images.dataset,
        num_classes=images.num_classes,
    )

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    run = run_table(
        images,
        out,
        shard=shard_ij,
        limit=limit,
        device=device,
        proxies=names,
        config=config,
        data_path=data,
        log=None if quiet else log,
        remeasure_over=remeasure_over,
    )
    console.print(
        f"{run.path}: {run.done_before} cells before, {run.written} written "
        f"({run.remeasured} measured again), "
        f"{run.remaining} remaining, {run.seconds:.1f} s",
        highlight=False,
    )


@estimators_app.command("ship")
def ship_cmd(
    src: Annotated[Path, typer.Option("--from", help="Table folder of `estimators table`.")],
    to: Annotated[
        Path | None,
        typer.Option("--to", help="Destination folder (default: the package's data/nb201)."),
    ] = None,
) -> None:
    """Merge a table folder's shards into nb201_proxies.csv.gz and nb201_proxies.json."""
    from cenas.estimators._table import TableError, ship_table

    if not src.is_dir():
        raise TableError(f"--from {src}: no such folder")
    record = ship_table(src, to)
    cov = ", ".join(f"{k} {v}" for k, v in record["coverage"].items())
    console.print(f"shipped {record['cells']} cells; coverage: {cov}", highlight=False)


def estimate_cmd(
    arch: Annotated[str, typer.Option("--arch", help="Cell: arch_str or enumeration index.")],
    estimator: Annotated[
        str,
        typer.Option("--estimator", help="zero-cost:<proxy>, zero-cost:vote, low-fidelity, ..."),
    ] = "zero-cost:synflow",
    data: DataOpt = None,
    dataset: DatasetOpt = "cifar10",
    device: DeviceOpt = "cpu",
    seed: Annotated[
        int,
        typer.Option("--seed", help="Seed of the proxies' batch and init, or of the training."),
    ] = 0,
    epochs: Annotated[
        int | None,
        typer.Option(
            "--epochs",
            help="Training epochs: low-fidelity (default 12) or the one-shot supernet "
            "(default 600, the few-shot paper's).",
        ),
    ] = None,
    few_shot_epochs: Annotated[
        int | None,
        typer.Option("--few-shot-epochs", help="Epochs of each few-shot sub-supernet (300)."),
    ] = None,
    channels: Annotated[
        int, typer.Option("--channels", help="C of the trained network or supernet.")
    ] = 16,
    cells: Annotated[
        int, typer.Option("--cells", help="N, cells per stage, of the network or supernet.")
    ] = 5,
    supernet: Annotated[
        Path | None,
        typer.Option("--supernet", help="Trained supernet weights to load (one-shot, few-shot)."),
    ] = None,
    save_supernet: Annotated[
        Path | None,
        typer.Option("--save-supernet", help="Where to save the supernet it trained."),
    ] = None,
) -> None:
    """Run one live estimator on one cell of your data; print its score and seconds."""
    from cenas.estimators import make_live_estimator
    from cenas.nn import parse_arch
    from cenas.space import NB201Space

    try:
        arch_str = NB201Space().to_str(parse_arch(arch))
    except ValueError as exc:
        raise CenasError(f"--arch: {' '.join(str(exc).split())}") from None
    dev = _device(device)
    opts: dict[str, object] = {}
    note = ""
    if estimator.startswith("zero-cost:"):
        opts = {"batch_seed": seed, "init_seed": seed}
    elif estimator == "low-fidelity":
        opts = {"seed": seed, "channels": channels, "cells_per_stage": cells}
        if epochs is not None:
            opts["epochs"] = epochs
    elif estimator in ("one-shot", "few-shot"):
        from cenas.estimators._supernet import SupernetConfig

        full = SupernetConfig()
        config = SupernetConfig(
            channels=channels,
            cells_per_stage=cells,
            seed=seed,
            epochs=full.epochs if epochs is None else epochs,
            few_shot_epochs=full.few_shot_epochs if few_shot_epochs is None else few_shot_epochs,
        )
        opts = {"config": config, "weights": supernet}
    if estimator == "zero-cost:vote":
        from cenas.estimators._proxies import shipped_reference

        reference = shipped_reference()
        if reference is not None:
            opts["reference"] = reference
            n_ref = len(next(iter(reference.values())))
            note = (
                f"vote score: mean member percentile among {n_ref} cells of the shipped "
                "NB201 proxy table (CIFAR-10, batch seed 0)"
            )
        else:
            note = "vote score: no shipped proxy table; ranked alone (1.0)"
    est = make_live_estimator(estimator, **opts)
    images = _load(data, dataset)
    prep = est.prepare(images, dev)
    result = est.estimate(arch_str, images, dev)
    console.print(f"arch       {result.arch_str}", highlight=False)
    console.print(f"estimator  {result.estimator} ({est.cost.kind})", highlight=False)
    console.print(f"data       {images.source} ({len(images)} images)", highlight=False)
    console.print(f"score      {result.score:.6g}", highlight=False)
    console.print(f"seconds    {result.seconds:.3f} (prepare {prep:.3f})", highlight=False)
    for key, value in result.extra.items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        console.print(f"  {key:<12} {shown}", highlight=False)
    if note:
        console.print(note, highlight=False)
    if save_supernet is not None:
        saver = getattr(est, "save", None)
        if saver is None:
            raise CenasError(f"--save-supernet: {estimator} has no supernet to save")
        console.print(
            f"supernet   saved to {saver(save_supernet)}", highlight=False, soft_wrap=True
        )


def register(app: typer.Typer) -> None:
    """Add ``estimators`` and ``estimate`` to the top-level app."""
    app.add_typer(estimators_app, name="estimators")
    app.command("estimate")(estimate_cmd)


__all__ = ["estimate_cmd", "estimators_app", "register"]
