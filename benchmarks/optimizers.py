"""Benchmark the optimisers of :mod:`cenas.optimize` against Optuna's samplers.

Every optimiser runs on a tabular task (default ``nb201-cifar10-fpga``) for several seeds up
to the largest budget; the hypervolume of the first ``b`` evaluations is read off the same
run for every budget ``b``. Optuna's samplers search the six edges as categorical
parameters with directions (maximise accuracy, minimise latency); they may propose the same
cell twice, and every trial counts as an evaluation.

Usage::

    python benchmarks/optimizers.py --seeds 10 --budgets 50,100,200 \\
        --optimizers lamoo,random,nsga2,optuna-tpe --out results.json

Prints one table: per optimiser and budget, the median hypervolume and the median
``log10(HV_max - HV)`` over seeds, and the median wall time of a whole run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

# Small matrices and a shared machine: one BLAS/OpenMP thread per process (set before numpy).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from cenas.bench import get_task  # noqa: E402
from cenas.optimize import (  # noqa: E402
    OPTIMIZERS,
    hypervolume,
    log_hv_difference,
    make_optimizer,
)
from cenas.study import git_commit  # noqa: E402

OPTUNA_SAMPLERS: tuple[str, ...] = ("optuna-tpe", "optuna-nsga2", "optuna-gp")
ALL: tuple[str, ...] = OPTIMIZERS + OPTUNA_SAMPLERS
_SLOW_FIRST = {"optuna-gp": 0, "qnehvi": 1, "lamoo-qnehvi": 2}


def _setup_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _warm_imports() -> None:
    """Import the heavy libraries once per process, so run times exclude imports."""
    _setup_worker()
    import botorch  # noqa: F401
    import optuna  # noqa: F401
    import pymoo.algorithms.moo.nsga2  # noqa: F401
    import sklearn.svm  # noqa: F401

    get_task()


def run_cenas(name: str, seed: int, task_name: str, budget: int, batch: int) -> dict[str, Any]:
    """One run of a :mod:`cenas.optimize` optimiser; returns objectives in evaluation order."""
    _setup_worker()
    task = get_task(task_name)
    opt = make_optimizer(name, task.space, task.ref_point, seed=seed)
    ys: list[np.ndarray] = []
    times: list[float] = []
    start = time.perf_counter()
    n = 0
    while n < budget:
        cells = opt.ask(min(batch, budget - n))
        y = task.objectives(cells)
        opt.tell(cells, y)
        ys.append(y)
        n += cells.shape[0]
        times.extend([time.perf_counter() - start] * cells.shape[0])
    return {"y": np.vstack(ys).tolist(), "elapsed": times}


def run_optuna(name: str, seed: int, task_name: str, budget: int) -> dict[str, Any]:
    """One run of an Optuna sampler; every trial is an evaluation, duplicates included."""
    _setup_worker()
    import optuna

    from cenas.space import NB201_OPS

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    task = get_task(task_name)
    if name == "optuna-tpe":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(
            multivariate=True, seed=seed
        )
    elif name == "optuna-nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=seed)
    elif name == "optuna-gp":
        sampler = optuna.samplers.GPSampler(seed=seed)
    else:
        raise ValueError(name)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    ys: list[np.ndarray] = []
    times: list[float] = []
    start = time.perf_counter()

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        ops = [
            NB201_OPS.index(trial.suggest_categorical(f"edge{i}", list(NB201_OPS)))
            for i in range(task.space.n_edges)
        ]
        y = task.objectives([task.space.to_index(ops)])[0]
        ys.append(y)
        times.append(time.perf_counter() - start)
        acc, lat = task.to_natural(y)
        return float(acc), float(lat)

    study.optimize(objective, n_trials=budget)
    return {"y": np.vstack(ys).tolist(), "elapsed": times}


def run_job(name: str, seed: int, task_name: str, budget: int, batch: int) -> dict[str, Any]:
    """Run one (optimiser, seed) job to ``budget`` evaluations."""
    if name in OPTUNA_SAMPLERS:
        return run_optuna(name, seed, task_name, budget)
    return run_cenas(name, seed, task_name, budget, batch)


def summarise(
    results: dict[str, dict[str, Any]], names: list[str], budgets: list[int], task_name: str
) -> str:
    """The side-by-side table of median HV, median log10(HV_max - HV) and wall time."""
    task = get_task(task_name)
    header = f"{'optimizer':<14}" + "".join(
        f"{f'HV@{b}':>9}{f'log@{b}':>9}{f't@{b}(s)':>10}" for b in budgets
    )
    lines = [
        f"git commit: {git_commit()}",
        f"task {task_name}: HV_max = {task.hv_max:.3f}, ref = {task.ref_point.tolist()}",
        "median over seeds; log = log10(HV_max - HV); t = wall seconds of a run up to b evals",
        header,
        "-" * len(header),
    ]
    for name in names:
        runs = [r for key, r in results.items() if key.split("|")[0] == name]
        if not runs:
            continue
        row = f"{name:<14}"
        for b in budgets:
            hv, ld, tt = [], [], []
            for r in runs:
                y = np.asarray(r["y"])
                if y.shape[0] < b:
                    continue
                h = hypervolume(y[:b], task.ref_point)
                hv.append(h)
                ld.append(log_hv_difference(h, task.hv_max))
                tt.append(r["elapsed"][b - 1])
            if hv:
                row += f"{np.median(hv):>9.2f}{np.median(ld):>9.3f}{np.median(tt):>10.2f}"
            else:
                row += f"{'-':>9}{'-':>9}{'-':>10}"
        row += f"   (n={len(runs)})"
        lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="10", help="a count N (seeds 0..N-1) or a list 0,3,7")
    parser.add_argument("--budgets", default="50,100,200", help="comma-separated budgets")
    parser.add_argument("--optimizers", default=",".join(ALL), help=f"from {', '.join(ALL)}")
    parser.add_argument("--task", default="nb201-cifar10-fpga")
    parser.add_argument("--batch", type=int, default=1, help="cells per ask (cenas optimisers)")
    parser.add_argument("--workers", type=int, default=2, help="processes (at most 2)")
    parser.add_argument("--out", type=Path, default=None, help="JSON with every run")
    parser.add_argument("--table", type=Path, default=None, help="also write the table here")
    parser.add_argument("--resume", action="store_true", help="keep runs already in --out")
    args = parser.parse_args(argv)

    seeds = (
        list(range(int(args.seeds)))
        if "," not in args.seeds and args.seeds.isdigit()
        else [int(s) for s in args.seeds.split(",") if s]
    )
    budgets = sorted({int(b) for b in args.budgets.split(",") if b})
    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL]
    if unknown:
        parser.error(f"unknown optimizers {unknown}: expected some of {', '.join(ALL)}")
    budget = max(budgets)

    results: dict[str, dict[str, Any]] = {}
    if args.resume and args.out is not None and args.out.exists():
        results = json.loads(args.out.read_text())["runs"]
    jobs = [(n, s) for n in names for s in seeds if f"{n}|{s}" not in results]
    jobs.sort(key=lambda job: _SLOW_FIRST.get(job[0], len(_SLOW_FIRST)))  # better packing

    def save() -> None:
        if args.out is not None:
            payload = {"task": args.task, "budgets": budgets, "runs": results}
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(payload))
            tmp.replace(args.out)

    workers = max(1, min(2, args.workers))
    with ProcessPoolExecutor(max_workers=workers, initializer=_warm_imports) as pool:
        futures = {
            pool.submit(run_job, n, s, args.task, budget, args.batch): (n, s) for n, s in jobs
        }
        for fut in as_completed(futures):
            n, s = futures[fut]
            res = fut.result()
            results[f"{n}|{s}"] = res
            ld = log_hv_difference(
                hypervolume(np.asarray(res["y"]), get_task(args.task).ref_point),
                get_task(args.task).hv_max,
            )
            print(
                f"done {n} seed {s}: log@{budget} {ld:.3f}, {res['elapsed'][-1]:.1f}s",
                file=sys.stderr,
                flush=True,
            )
            save()
    table = summarise(results, names, budgets, args.task)
    print(table)
    if args.table is not None:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
