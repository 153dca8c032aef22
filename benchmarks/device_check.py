"""The one-call GPU check of issue 11: measured power, training, proxies and a supernet.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) charges every GPU-second at the grid's
intensity, so the simulator needs the power a GPU really draws while it trains, estimates
and idles. This script measures it on one GPU, under a hard overall deadline
(``--minutes``, 9 by default); every phase has a time box, stops cleanly at it and keeps
what it has:

1. ``idle``: 20 s with nothing running (NVML power only; CUDA is not touched yet).
2. ``train-parallel`` (or ``train-sequential``): three NAS-Bench-201 cells (the best, the
   median and the 10th-percentile cell by the table's 12-epoch CIFAR-10 test accuracy)
   trained with ``cenas.train.train`` and ``TrainConfig.low_fidelity()`` (12 epochs, C=16,
   N=5, bf16 autocast and channels-last on CUDA) on the full training split, one process
   per cell on the one GPU, then evaluated on the test split; test accuracy beside the
   table's ``cifar10_test_acc_12ep``, epoch seconds, images/s. ``train-solo``: then the best
   cell alone, two epochs in this process, so the parallel run's aggregate images/s can be
   compared with one job's (``training.parallel_speedup``).
3. ``inference``: images/s of the largest cell (every edge ``nor_conv_3x3``) in evaluation
   mode on the test split.
4. ``supernet-train`` and ``supernet-eval``: a one-shot (SPOS) supernet
   (``cenas.estimators._supernet.OneShotEstimator``) trained one epoch, then estimates of
   ~50 cells by weight inheritance; the two are separate power phases, so
   ``supernet-eval`` holds the estimates only.
5. ``proxies``: the zero-cost proxy table, ``cenas estimators table --device cuda --shard
   i/K`` as K processes (the rest of the deadline); each writes its shard file row by row,
   so a stopped run keeps every finished cell and a rerun on the same ``--table-dir``
   resumes.

It writes, into ``--out``: ``power.json`` (per phase: seconds, samples, mean and max W,
energy J and its source, ``counter`` (NVML's energy counter) or ``samples`` (integral of
the power samples), or ``not measured`` without NVML, and the work done), ``power.txt``
(the same as a table), ``device_check.json`` (versions, git commit, GPU name, every number
above), ``proxies-table.tar.gz`` (the table folder: shard files and provenance) and
``device_check.log``. Nothing modelled is ever reported as measured: without NVML the
power fields are ``null`` and the source says ``not measured``.

How to run it with the ``device`` tool. That machine reaches no package registry; its
``python3`` (3.12) has PyTorch, nvidia-ml-py, pandas, scipy, typer and rich, but not
moocore (imported by ``cenas.bench``) nor cffi and platformdirs (moocore's imports), so
``pip install -e '.[gpu]'`` cannot work there (it would fetch the pinned torch==2.13.0 and
the other dependencies); ``src`` on ``PYTHONPATH`` and three carried wheels suffice. Here,
first::

    sh benchmarks/device_prep.sh

which fills the git-ignored ``.device-data/``: the shared CIFAR-10 tarball, the wheels
(``.device-data/wheels``) and ``git-commit.txt`` (the device copy has no ``.git``; commit
first). Then one ``run`` with ``carry: [".device-data"]``, ``timeout_s: 600`` and the
command::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \\
        --target /tmp/site .device-data/wheels/*.whl && \\
    export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 && \\
    python3 benchmarks/device_check.py --data .device-data/cifar10-jpeg.tar.gz --out $OUT

With the default ``--minutes 9`` that leaves about a minute of the 10-minute call for the
install and imports. Commit the files that come back to ``benchmarks/results/device/``
and extract ``proxies-table.tar.gz`` into ``benchmarks/results/`` (it holds the folder
``nb201-proxies-gpu/``: its own folder, since the CPU table in
``benchmarks/results/nb201-proxies/`` has another device's seconds). To continue an
unfinished GPU table in a later call, extract it into ``.device-data/`` and add
``--table-dir .device-data/nb201-proxies-gpu``: every shard resumes where it stopped.

On CPU, ``--smoke`` runs every phase at toy sizes (C=4, N=1, 256 training and 128 test
images of the packaged subset, one epoch, one cell per proxy shard, a second or less per
phase box) in 15-50 s; its numbers check the plumbing and are not benchmarks.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

BEST = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
MEDIAN = "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|"
POOR = "|none~0|+|avg_pool_3x3~0|skip_connect~1|+|none~0|nor_conv_3x3~1|skip_connect~2|"
LARGEST = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
CELLS: dict[str, str] = {"best": BEST, "median": MEDIAN, "poor": POOR}
"""The trained cells: the table's best, median and 10th-percentile cell by
``cifar10_test_acc_12ep`` (89.16, 79.62 and 60.99 %)."""

NOT_MEASURED = "not measured"

PHASES: tuple[str, ...] = ("idle", "training", "solo", "inference", "supernet", "proxies")
"""The phases, in the order they run (``--phases`` selects some)."""


@dataclass(frozen=True)
class Sizes:
    """Network and data sizes of one mode (full or smoke).

    Attributes:
        channels: ``C`` of the trained and estimated networks.
        cells_per_stage: ``N``.
        epochs: Epochs of the trained cells (12: the low-fidelity schedule).
        train_images: Training images used (``None``: the whole split).
        test_images: Test images used (``None``: the whole split).
        solo_epochs: Epochs of the solo comparison run.
        estimates: Cells estimated with the supernet.
        table_limit: ``--limit`` of each proxy shard (``None``: all its cells).
        shards: Proxy-table processes.
        idle_s: Seconds of the idle phase.
        train_s: Time box of the training phases.
        inference_s: Time box of the inference phase.
        supernet_s: Time box of the supernet phases.
        reserve_s: Seconds kept at the end for writing the results.
    """

    channels: int
    cells_per_stage: int
    epochs: int
    train_images: int | None
    test_images: int | None
    solo_epochs: int
    estimates: int
    table_limit: int | None
    shards: int
    idle_s: float
    train_s: float
    inference_s: float
    supernet_s: float
    reserve_s: float


FULL = Sizes(16, 5, 12, None, None, 2, 50, None, 12, 20.0, 210.0, 10.0, 75.0, 20.0)
SMOKE = Sizes(4, 1, 1, 256, 128, 1, 3, 1, 2, 0.5, 60.0, 0.5, 30.0, 2.0)


# ----------------------------------------------------------------------------- helpers


class Log:
    """Lines to stderr and to ``device_check.log``, each with the seconds since the start."""

    def __init__(self, path: Path) -> None:
        self.t0 = time.perf_counter()
        self.path = path
        self.path.write_text("", encoding="utf-8")

    def __call__(self, line: str) -> None:
        text = f"[{time.perf_counter() - self.t0:7.1f} s] {line}"
        print(text, file=sys.stderr, flush=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")


class Meter:
    """Power per phase through :class:`cenas.meters.NvmlPowerSampler`, or seconds alone.

    Without NVML (no NVIDIA driver, or ``nvidia-ml-py`` missing) a phase records its
    seconds and work, and ``energy_source`` is ``"not measured"`` with null power fields.
    """

    def __init__(self, gpu: int, use_nvml: bool, nvml: Any = None) -> None:
        self.gpu = gpu
        self.sampler: Any = None
        self.phases: list[dict[str, Any]] = []
        self.why_not = ""
        if use_nvml:
            from cenas.meters import NvmlPowerSampler, nvml_available

            if nvml is not None or nvml_available():
                self.sampler = NvmlPowerSampler(gpu=gpu, interval_s=0.05, nvml=nvml)
                self.sampler.__enter__()
            else:
                self.why_not = "NVML cannot be initialised here (no NVIDIA driver or GPU)"
        else:
            self.why_not = "NVML not used (--no-nvml)"

    def close(self) -> None:
        """Shut NVML down."""
        if self.sampler is not None:
            self.sampler.__exit__(None, None, None)
            self.sampler = None

    def gpu_info(self) -> dict[str, Any]:
        """The GPU's name, driver and power limit as NVML reports them."""
        if self.sampler is None:
            return {"nvml": NOT_MEASURED, "why": self.why_not}
        nvml = self.sampler._nvml
        handle = self.sampler._handle
        info: dict[str, Any] = {"nvml": "ok", "index": self.gpu}
        for key, call in (
            ("name", lambda: nvml.nvmlDeviceGetName(handle)),
            ("driver", lambda: nvml.nvmlSystemGetDriverVersion()),
            ("power_limit_w", lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0),
            ("memory_total_bytes", lambda: int(nvml.nvmlDeviceGetMemoryInfo(handle).total)),
        ):
            try:
                value = call()
                info[key] = value.decode() if isinstance(value, bytes) else value
            except Exception as exc:  # an NVML call this driver does not support
                info[key] = f"unavailable ({' '.join(str(exc).split())[:80]})"
        return info

    @contextlib.contextmanager
    def phase(self, name: str, log: Log) -> Iterator[dict[str, Any]]:
        """Measure one phase; the caller fills ``work`` in the yielded dict."""
        work: dict[str, Any] = {}
        log(f"phase {name}: start")
        t0 = time.perf_counter()
        measure = self.sampler.phase(name) if self.sampler is not None else None
        reading = None
        try:
            with measure if measure is not None else contextlib.nullcontext() as reading:
                yield work
        except Exception as exc:  # the phase failed: keep what it measured, say so
            work["failed"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            raise
        finally:
            if reading is not None:
                record = reading.to_dict()
            else:
                record = {
                    "phase": name,
                    "gpu": None,
                    "seconds": time.perf_counter() - t0,
                    "samples": 0,
                    "mean_w": None,
                    "max_w": None,
                    "energy_j": None,
                    "energy_source": NOT_MEASURED,
                }
            record["work"] = work
            self.phases.append(record)
            watts = "" if record["mean_w"] is None else f", mean {record['mean_w']:.1f} W"
            log(f"phase {name}: {record['seconds']:.1f} s{watts}")


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(SRC), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["OMP_NUM_THREADS"] = str(threads)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait_all(procs: Sequence[subprocess.Popen[bytes]], until: float, log: Log) -> list[int]:
    """Wait for every process until the wall time ``until``; then end the rest (SIGTERM,
    then SIGKILL). Returns the exit codes (negative: ended by that signal)."""
    while time.time() < until and any(p.poll() is None for p in procs):
        time.sleep(0.2)
    for p in procs:
        if p.poll() is None:
            log(f"pid {p.pid}: past its time box, sent SIGTERM")
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return [int(p.returncode) for p in procs]


def _git_commit(data: Path | None, given: str | None) -> str:
    if given:
        return given
    from cenas.estimators._table import git_commit

    commit = git_commit()
    if commit == "unknown" and data is not None:
        recorded = data.parent / "git-commit.txt"
        if recorded.is_file():
            return recorded.read_text(encoding="utf-8").strip() + " (from git-commit.txt)"
    return commit


def _versions() -> dict[str, Any]:
    import pandas

    import cenas

    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "cenas": cenas.__version__,
        "cpu_count": os.cpu_count(),
    }
    try:
        import pynvml

        out["nvidia_ml_py"] = getattr(pynvml, "__version__", "installed")
    except ImportError:
        out["nvidia_ml_py"] = None
    return out


# ----------------------------------------------------------------------------- training


def _train_worker(spec_path: Path) -> int:
    """One training process: train the spec's cells in turn, write the results JSON."""
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    torch.set_num_threads(int(spec["threads"]))
    from cenas.datasets import ImageSet
    from cenas.train import TrainConfig, TrainProgress, train

    blob = torch.load(spec["data"], weights_only=True)
    classes = tuple(blob["classes"])
    train_set = ImageSet(blob["train_images"], blob["train_labels"], classes, "cifar10", "x")
    test_set = ImageSet(blob["test_images"], blob["test_labels"], classes, "cifar10", "x")
    deadline = float(spec["deadline"])
    config = TrainConfig.low_fidelity(
        epochs=int(spec["epochs"]),
        channels=int(spec["channels"]),
        cells_per_stage=int(spec["cells_per_stage"]),
    )

    class _Deadline(Exception):
        pass

    def on_term(signum: int, frame: object) -> None:
        raise _Deadline  # the parent's time box: record the cell as stopped

    signal.signal(signal.SIGTERM, on_term)
    results: list[dict[str, Any]] = []
    for arch in spec["cells"]:
        records: list[dict[str, Any]] = []

        def on_progress(p: TrainProgress, records: list[dict[str, Any]] = records) -> None:
            now = time.time()
            if p.epoch_done and p.record is not None:
                records.append(p.record)
                last = float(p.record["seconds"])
                if p.epoch < p.epochs and now + 1.1 * last > deadline:
                    raise _Deadline
            elif now > deadline:
                raise _Deadline

        began = time.perf_counter()
        try:
            res = train(arch, train_set, None, config, spec["device"], None, test_set, on_progress)
            out = res.to_dict()
            out.pop("history", None)
        except _Deadline:
            secs = [float(r["seconds"]) for r in records]
            images = sum(int(r["images"]) for r in records)
            out = {
                "arch": arch,
                "status": "stopped at the time box",
                "epochs": config.epochs,
                "epochs_completed": len(records),
                "test_acc": None,
                "epoch_seconds": secs,
                "train_seconds": sum(secs),
                "images_per_second": images / sum(secs) if secs else 0.0,
            }
        out["process_seconds"] = time.perf_counter() - began
        results.append(out)
        Path(spec["result"]).write_text(json.dumps(results, indent=1), encoding="utf-8")
        if time.time() > deadline:
            break
    return 0


def _save_data(train_set: Any, test_set: Any, path: Path) -> None:
    torch.save(
        {
            "train_images": train_set.images,
            "train_labels": train_set.labels,
            "test_images": test_set.images,
            "test_labels": test_set.labels,
            "classes": list(train_set.classes),
        },
        path,
    )


def _phase_training(
    args: argparse.Namespace,
    sizes: Sizes,
    meter: Meter,
    log: Log,
    work: Path,
    data_file: Path,
    until: float,
    hard_end: float,
    n_train: int,
) -> dict[str, Any]:
    from cenas.bench import load_nb201_table

    table = load_nb201_table().set_index("arch_str")
    groups = (
        [[arch] for arch in CELLS.values()]
        if args.train_mode == "parallel"
        else [list(CELLS.values())]
    )
    procs: list[subprocess.Popen[bytes]] = []
    result_files: list[Path] = []
    with meter.phase(f"train-{args.train_mode}", log) as w:
        t0 = time.perf_counter()
        for i, cells in enumerate(groups):
            spec = {
                "cells": cells,
                "data": str(data_file),
                "device": args.device,
                "epochs": sizes.epochs,
                "channels": sizes.channels,
                "cells_per_stage": sizes.cells_per_stage,
                "deadline": until,
                "threads": 1,
                "result": str(work / f"train-{i}.json"),
            }
            spec_path = work / f"train-{i}.spec.json"
            spec_path.write_text(json.dumps(spec), encoding="utf-8")
            result_files.append(Path(spec["result"]))
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), "--train-worker", spec_path],
                    env=_child_env(1),
                    stdout=subprocess.DEVNULL,
                    stderr=(work / f"train-{i}.stderr").open("wb"),
                )
            )
        codes = _wait_all(procs, min(until + 15.0, hard_end), log)
        wall = time.perf_counter() - t0
        cells_out: list[dict[str, Any]] = []
        for i, f in enumerate(result_files):
            if f.is_file():
                cells_out += json.loads(f.read_text(encoding="utf-8"))
            err = (work / f"train-{i}.stderr").read_text(encoding="utf-8", errors="replace")
            if codes[i] != 0:
                log(f"training process {i} exit {codes[i]}: {err.strip()[-400:]}")
        images = sum(n_train * int(c.get("epochs_completed", 0)) for c in cells_out)
        w.update({"images_trained": images, "cells": len(cells_out), "exit_codes": codes})
    for c in cells_out:
        name = next(k for k, v in CELLS.items() if v == c["arch"])
        c["role"] = name
        c["table_test_acc_12ep"] = float(table.loc[c["arch"], "cifar10_test_acc_12ep"])
        acc = c.get("test_acc")
        c["difference_pp"] = (
            float(acc) - c["table_test_acc_12ep"] if isinstance(acc, float) else None
        )
        log(
            f"  {name}: status {c['status']}, test acc {acc}, table "
            f"{c['table_test_acc_12ep']:.2f}, {c.get('images_per_second', 0):.0f} img/s"
        )
    secs = [float(c.get("train_seconds") or 0.0) for c in cells_out]
    # training time alone (no process start, data copy or evaluation): the processes run
    # side by side in parallel mode, one after another in sequential mode
    span = (max(secs) if args.train_mode == "parallel" else sum(secs)) if secs else 0.0
    return {
        "mode": args.train_mode,
        "epochs": sizes.epochs,
        "channels": sizes.channels,
        "cells_per_stage": sizes.cells_per_stage,
        "train_images": n_train,
        "phase_wall_seconds": wall,
        "aggregate_images_per_second_phase": images / wall if wall > 0 else 0.0,
        "aggregate_images_per_second": images / span if span > 0 else 0.0,
        "aggregate_note": "images trained over the training seconds alone (the longest "
        "process in parallel mode, the sum in sequential mode); _phase divides by the "
        "phase's wall time, process start-up and evaluation included",
        "cells": cells_out,
    }


def _phase_solo(
    args: argparse.Namespace, sizes: Sizes, meter: Meter, log: Log, train_set: Any, until: float
) -> dict[str, Any]:
    """The best cell alone in this process, for the parallel-versus-one comparison."""
    from cenas.train import TrainConfig, TrainProgress, train

    config = TrainConfig.low_fidelity(
        channels=sizes.channels, cells_per_stage=sizes.cells_per_stage
    )
    records: list[dict[str, Any]] = []

    class _Stop(Exception):
        pass

    def on_progress(p: TrainProgress) -> None:
        if p.epoch_done and p.record is not None:
            records.append(p.record)
        if time.time() > until:
            raise _Stop

    with meter.phase("train-solo", log) as w:
        with contextlib.suppress(_Stop):
            train(
                BEST, train_set, None, config, args.device, None, None, on_progress,
                max_epochs=sizes.solo_epochs,
            )  # fmt: skip
        w["images_trained"] = sum(int(r["images"]) for r in records)
    secs = [float(r["seconds"]) for r in records]
    last = secs[-1] if secs else None
    return {
        "arch": BEST,
        "epoch_seconds": secs,
        "images_per_second_last_epoch": (len(train_set) / last) if last else None,
    }


def _phase_inference(
    args: argparse.Namespace, sizes: Sizes, meter: Meter, log: Log, test_set: Any, until: float
) -> dict[str, Any]:
    from cenas.datasets import BatchLoader
    from cenas.nn import build_nb201, count_params

    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    torch.manual_seed(0)
    model = build_nb201(LARGEST, sizes.channels, sizes.cells_per_stage, 10).to(dev)
    if cuda:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    model.eval()
    batch = 512
    loader = BatchLoader(
        test_set, batch, shuffle=False, augment=False, device=dev, channels_last=cuda
    )
    batches = list(loader.epoch(0))

    def run(n: int) -> int:
        done = 0
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
        )
        with torch.no_grad(), autocast:
            for i in range(n):
                x, _ = batches[i % len(batches)]
                model(x)
                done += int(x.shape[0])
        if cuda:
            torch.cuda.synchronize(dev)
        return done

    run(min(3, len(batches)))  # warm-up: cuDNN kernel choice
    images, seconds = 0, 0.0
    with meter.phase("inference", log) as w:
        t0 = time.perf_counter()
        while time.time() < until:
            images += run(len(batches))
        seconds = time.perf_counter() - t0
        w["images"] = images
    return {
        "arch": LARGEST,
        "params": count_params(model),
        "batch_size": batch,
        "images": images,
        "seconds": seconds,
        "images_per_second": images / seconds if seconds > 0 else None,
        "precision": "bf16 autocast, channels-last" if cuda else "fp32",
    }


def _phase_supernet(
    args: argparse.Namespace,
    sizes: Sizes,
    meter: Meter,
    log: Log,
    train_set: Any,
    until: float,
) -> dict[str, Any]:
    from scipy.stats import kendalltau, spearmanr

    from cenas.bench import load_nb201_table
    from cenas.estimators._supernet import OneShotEstimator, SupernetConfig
    from cenas.estimators._table import cell_order
    from cenas.space import NB201Space

    dev = torch.device(args.device)
    config = SupernetConfig(
        channels=sizes.channels, cells_per_stage=sizes.cells_per_stage, epochs=1
    )
    estimator = OneShotEstimator(config)
    with meter.phase("supernet-train", log) as w:
        prep_seconds = estimator.prepare(train_set, dev)
        n_sub = len(train_set) - len(estimator.split(train_set)[1])
        w["images_trained"] = n_sub
        w["epochs"] = 1
    space = NB201Space()
    cells = [*CELLS.values()]
    for i in cell_order(0):
        if len(cells) >= sizes.estimates:
            break
        arch = space.to_str(space.from_index(int(i)))
        if arch not in cells:
            cells.append(arch)
    results: list[dict[str, Any]] = []
    with meter.phase("supernet-eval", log) as w:
        for arch in cells:
            if time.time() > until:
                break
            r = estimator.estimate(arch, train_set, dev)
            results.append({"arch": arch, "val_acc": r.score, "seconds": r.seconds})
        w["estimates"] = len(results)
        w["val_images_per_estimate"] = len(estimator.split(train_set)[1])
    table = load_nb201_table().set_index("arch_str")
    truth = [float(table.loc[r["arch"], "cifar10_test_acc_12ep"]) for r in results]
    scores = [r["val_acc"] for r in results]
    rho = tau = None
    if len(results) >= 3 and len(set(scores)) > 1:
        rho = float(spearmanr(scores, truth).statistic)
        tau = float(kendalltau(scores, truth).statistic)
    secs = [r["seconds"] for r in results]
    return {
        "epochs": 1,
        "train_seconds": prep_seconds,
        "estimates": len(results),
        "median_estimate_seconds": float(np.median(secs)) if secs else None,
        "spearman_vs_table_12ep": rho,
        "kendall_vs_table_12ep": tau,
        "note": "a 1-epoch supernet: the ranks are not the estimator's quality, the "
        "seconds and power are the point",
        "cells": results,
    }


def _phase_proxies(
    args: argparse.Namespace, sizes: Sizes, meter: Meter, log: Log, table_dir: Path, until: float
) -> dict[str, Any]:
    from cenas.estimators._table import TABLE_PROXIES, merge_shards

    k = args.shards or sizes.shards
    table_dir.mkdir(parents=True, exist_ok=True)
    before = _count_rows(table_dir)
    procs: list[subprocess.Popen[bytes]] = []
    with meter.phase("proxies", log) as w:
        t0 = time.perf_counter()
        for i in range(k):
            cmd = [
                sys.executable, "-m", "cenas", "estimators", "table",
                "--device", args.device, "--out", str(table_dir), "--shard", f"{i}/{k}",
                "--channels", str(sizes.channels),
                "--cells-per-stage", str(sizes.cells_per_stage), "--quiet",
            ]  # fmt: skip
            if args.data is not None:
                cmd += ["--data", str(args.data)]
            limit = args.limit if args.limit is not None else sizes.table_limit
            if limit is not None:
                cmd += ["--limit", str(limit)]
            procs.append(
                subprocess.Popen(
                    cmd,
                    env=_child_env(1),
                    stdout=subprocess.DEVNULL,
                    stderr=(table_dir.parent / f"proxies-{i}.stderr").open("wb"),
                )
            )
            time.sleep(0.05)  # stagger the provenance.json writes of the first run
        codes = _wait_all(procs, until, log)
        wall = time.perf_counter() - t0
        after = _count_rows(table_dir)
        w.update({"cells": after - before, "processes": k, "exit_codes": codes})
    for i, code in enumerate(codes):
        if code not in (0, -signal.SIGTERM, -signal.SIGKILL):
            err = (table_dir.parent / f"proxies-{i}.stderr").read_text(errors="replace")
            log(f"proxy shard {i} exit {code}: {err.strip()[-400:]}")
    per_cell: dict[str, float | None] = {}
    try:
        merged = merge_shards(table_dir)
        for p in TABLE_PROXIES:
            col = merged[f"{p}_s"].dropna()
            per_cell[p] = float(col.median()) if len(col) else None
    except Exception as exc:  # no complete row yet
        log(f"proxy table: {exc}")
    return {
        "processes": k,
        "proxies": list(TABLE_PROXIES),
        "cells_before": before,
        "cells_this_run": after - before,
        "cells_total": after,
        "space_size": 15625,
        "wall_seconds": wall,
        "cells_per_second": (after - before) / wall if wall > 0 else None,
        "median_seconds_per_proxy": per_cell,
        "exit_codes": codes,
        "table_dir": str(table_dir),
    }


def _count_rows(table_dir: Path) -> int:
    from cenas.estimators._table import _complete_rows

    n = 0
    for f in sorted(table_dir.glob("shard-*.csv")):
        raw = f.read_bytes()
        header = raw.split(b"\n", 1)[0].decode().split(",")
        proxies = [c for c in header[2:] if not c.endswith("_s")]
        done, _ = _complete_rows(raw, proxies, f)
        n += len(done)
    return n


# ----------------------------------------------------------------------------- outputs


def _power_table(phases: list[dict[str, Any]]) -> str:
    def num(v: Any, fmt: str) -> str:
        return NOT_MEASURED if v is None else format(v, fmt)

    lines = [
        f"{'phase':<18} {'seconds':>9} {'samples':>8} {'mean W':>12} {'max W':>12} "
        f"{'energy J':>12}  source  work",
    ]
    for p in phases:
        work = ", ".join(f"{k}={v}" for k, v in p["work"].items())
        lines.append(
            f"{p['phase']:<18} {p['seconds']:>9.1f} {p['samples']:>8} "
            f"{num(p['mean_w'], '.1f'):>12} {num(p['max_w'], '.1f'):>12} "
            f"{num(p['energy_j'], '.0f'):>12}  {p['energy_source']}  {work}"
        )
    return "\n".join(lines) + "\n"


def _write_outputs(out: Path, report: dict[str, Any], meter: Meter, table_dir: Path) -> None:
    from cenas._json import json_safe

    phases = meter.phases
    power = {
        "description": "Power of one GPU per phase of cenas work, measured with NVML "
        "(cenas.meters.NvmlPowerSampler, 50 ms samples; energy from NVML's counter where "
        "supported). 'not measured' means no NVML here: nothing is modelled.",
        "gpu": report.get("gpu"),
        "git_commit": report.get("git_commit"),
        "phases": phases,
    }
    (out / "power.json").write_text(json.dumps(json_safe(power), indent=2) + "\n")
    header = (
        f"# device_check power table: {report.get('gpu', {}).get('name', NOT_MEASURED)}, "
        f"{report.get('utc')}, git {report.get('git_commit')}\n"
        f"# {report.get('command')}\n"
    )
    (out / "power.txt").write_text(header + _power_table(phases))
    report["power"] = phases
    (out / "device_check.json").write_text(json.dumps(json_safe(report), indent=2) + "\n")
    if table_dir.is_dir():
        with tarfile.open(out / "proxies-table.tar.gz", "w:gz") as tar:
            for f in sorted(table_dir.iterdir()):
                if f.is_file() and (f.name.startswith("shard-") or f.name == "provenance.json"):
                    tar.add(f, arcname=f"{table_dir.name}/{f.name}")


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (``--help`` lists it)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="CIFAR-10 (the shared tarball)")
    ap.add_argument("--out", type=Path, help="folder for the results ($OUT on the device)")
    ap.add_argument("--minutes", type=float, default=9.0, help="hard overall deadline")
    ap.add_argument("--smoke", action="store_true", help="toy sizes, for a CPU check")
    ap.add_argument("--device", default=None, help="cuda (default where available) or cpu")
    ap.add_argument("--shards", type=int, default=None, help="proxy-table processes (12)")
    ap.add_argument(
        "--train-mode", choices=("parallel", "sequential"), default="parallel",
        help="the three cells as three processes at once, or one after another",
    )  # fmt: skip
    ap.add_argument("--limit", type=int, default=None, help="cells per proxy shard (all)")
    ap.add_argument(
        "--phases", default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)} (e.g. proxies alone, to resume)",
    )  # fmt: skip
    for name in ("idle", "train", "supernet"):
        ap.add_argument(
            f"--{name}-s", type=float, default=None,
            help=f"time box of the {name} phase(s) in seconds (full: "
            f"{getattr(FULL, name + '_s'):.0f})",
        )  # fmt: skip
    ap.add_argument("--table-dir", type=Path, default=None, help="proxy table folder (resumed)")
    ap.add_argument("--no-nvml", action="store_true", help="do not read NVML")
    ap.add_argument("--git-commit", default=None, help="commit to record (default: git)")
    ap.add_argument("--train-worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.train_worker is None and args.out is None:
        ap.error("--out is required")
    unknown = sorted(set(args.phases.split(",")) - set(PHASES))
    if unknown:
        ap.error(f"--phases: unknown {','.join(unknown)}; choose from {','.join(PHASES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every phase under the deadline and write the results; the exit code (0)."""
    args = parse_args(argv)
    if args.train_worker is not None:
        return _train_worker(args.train_worker)
    start_wall = time.time()
    end = start_wall + 60.0 * args.minutes
    sizes = SMOKE if args.smoke else FULL
    boxes = {f"{n}_s": getattr(args, f"{n}_s") for n in ("idle", "train", "supernet")}
    sizes = dataclasses.replace(sizes, **{k: v for k, v in boxes.items() if v is not None})
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cpu":
        torch.set_num_threads(1)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "device_check.log")
    meter = Meter(0, use_nvml=not args.no_nvml)
    report: dict[str, Any] = {
        "utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/device_check.py "
        + " ".join(str(a) for a in (argv if argv is not None else sys.argv[1:])),
        "mode": "smoke" if args.smoke else "full",
        "device": args.device,
        "deadline_minutes": args.minutes,
        "sizes": dataclasses.asdict(sizes),
        "phases_run": args.phases.split(","),
        "git_commit": _git_commit(args.data, args.git_commit),
        "versions": _versions(),
        "gpu": meter.gpu_info(),
        "phase_errors": {},
    }
    log(f"device {args.device}, gpu {report['gpu'].get('name', NOT_MEASURED)}, deadline {end}")
    with tempfile.TemporaryDirectory(prefix="device-check-") as tmp:
        work = Path(tmp)
        table_dir = args.table_dir or work / "nb201-proxies-gpu"
        try:
            _run_phases(args, sizes, meter, log, work, table_dir, end, report)
        finally:
            report["wall_seconds"] = time.time() - start_wall
            _write_outputs(out, report, meter, table_dir)
            meter.close()
            log(f"done in {report['wall_seconds']:.1f} s; results in {out}")
    return 0


def _run_phases(
    args: argparse.Namespace,
    sizes: Sizes,
    meter: Meter,
    log: Log,
    work: Path,
    table_dir: Path,
    end: float,
    report: dict[str, Any],
) -> None:
    from cenas.datasets import load_cifar

    def box(seconds: float) -> float:
        """The wall time a phase of at most ``seconds`` must end by."""
        return min(time.time() + seconds, end - sizes.reserve_s)

    t0 = time.perf_counter()
    train_set = load_cifar(args.data, "cifar10", "train")
    test_set = load_cifar(args.data, "cifar10", "test")
    if sizes.train_images is not None:
        # evenly spaced images: the splits are sorted by class
        n_tr, n_te = sizes.train_images, sizes.test_images or 1
        train_set = train_set.subset(torch.arange(n_tr) * len(train_set) // n_tr)
        test_set = test_set.subset(torch.arange(n_te) * len(test_set) // n_te)
    data_file = work / "data.pt"
    _save_data(train_set, test_set, data_file)
    report["data"] = {
        "path": str(args.data) if args.data is not None else "packaged:cifar10-subset",
        "train_images": len(train_set),
        "test_images": len(test_set),
        "load_seconds": time.perf_counter() - t0,
    }
    log(f"data: {len(train_set)} train, {len(test_set)} test images")

    phases: list[tuple[str, Any]] = [
        ("idle", lambda: _idle(meter, log, box(sizes.idle_s))),
        (
            "training",
            lambda: _phase_training(
                args,
                sizes,
                meter,
                log,
                work,
                data_file,
                box(sizes.train_s),
                end - sizes.reserve_s / 2,
                len(train_set),
            ),
        ),
        ("solo", lambda: _phase_solo(args, sizes, meter, log, train_set, box(60.0))),
        (
            "inference",
            lambda: _phase_inference(args, sizes, meter, log, test_set, box(sizes.inference_s)),
        ),
        (
            "supernet",
            lambda: _phase_supernet(args, sizes, meter, log, train_set, box(sizes.supernet_s)),
        ),
        ("proxies", lambda: _phase_proxies(args, sizes, meter, log, table_dir, box(1e9))),
    ]
    wanted = set(args.phases.split(","))
    for name, run in phases:
        if name not in wanted:
            continue
        if time.time() > end - sizes.reserve_s:
            report["phase_errors"][name] = "skipped: the deadline was reached"
            log(f"{name}: skipped, deadline")
            continue
        try:
            report[name] = run()
        except Exception as exc:  # a phase that fails must not lose the others' results
            report["phase_errors"][name] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            log(f"{name}: failed: {report['phase_errors'][name][:300]}")
    training = report.get("training")
    solo = report.get("solo")
    if training and solo and solo.get("images_per_second_last_epoch"):
        report["training"]["solo_images_per_second"] = solo["images_per_second_last_epoch"]
        # > 1: the processes side by side train more images per second than one job alone
        report["training"]["parallel_speedup"] = (
            training["aggregate_images_per_second"] / solo["images_per_second_last_epoch"]
        )


def _idle(meter: Meter, log: Log, until: float) -> dict[str, Any]:
    with meter.phase("idle", log) as w:
        while time.time() < until:
            time.sleep(0.1)
        w["nothing"] = "no process of this script used the GPU"
    return {"seconds": meter.phases[-1]["seconds"]}


if __name__ == "__main__":
    sys.exit(main())
