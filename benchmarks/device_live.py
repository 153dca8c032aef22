"""The one-call GPU check of live mode (issues 12 and 14): four workers on one GPU, measured.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) runs its estimates and trainings on a pool of
GPUs and charges each GPU-second at the grid's intensity. Live mode (``cenas.live``) runs
those jobs for real; this script measures, on one GPU and under a hard overall deadline
(``--minutes``, 9 by default; every phase has a time box, stops at it and keeps what it has):

1. ``idle``: 15 s with nothing running (NVML power of the idle GPU; CUDA not touched yet).
2. ``live``: a live NAS-Bench-201 search built by ``cenas.live.build_live_engine`` with
   ``live=True, device="cuda", gpus=4`` (four local worker processes sharing the one GPU),
   the full CIFAR-10 training split (80 % trains, 20 % validates), ``train_epochs=12`` with
   C=16, N=5 (NAS-Bench-201's 12-epoch schedule as the "training"),
   ``estimator="zero-cost:synflow"``, ``policy="static"`` (half the workers train),
   ``optimizer="lamoo"``, steps of ``step_minutes=0.5`` (short, so that four steps fit in
   the phase's 250 s with the workers' start and the waits for their epochs at each
   step's end; ``--step-minutes`` changes it). The first two steps follow the
   policy (two trainings, two estimators); the later ones pass ``n_train=4`` to
   ``Engine.step`` so all four workers train, which is what the 4-worker aggregate is
   measured on. Per step: the GPU's NVML power and utilisation, the training images done
   and the aggregate images/s. From the engine's ledger (``engine.ledger.entries``): the
   measured energy per kind of job (``train``, ``estimate``, ``idle``). From every finished
   job segment (the worker's ``JobOutcome.detail``, also of paused segments, which never
   reach the engine; the script observes them by wrapping the pool's ``_handle``): each
   training's images/s.
3. ``solo``: one tuned training alone in this process (``cenas.train.train``, the same
   recipe, the NAS-Bench-201 best cell, two epochs, through ``device_check._phase_solo``):
   its last epoch's images/s and the GPU utilisation over that epoch. The 4-worker
   aggregate images/s and utilisation are reported against it (``issue12``; the goal is
   at least 60 % of the single tuned training's).
4. ``darts-eval``: images/s of DARTS's evaluation-size network
   (``cenas.nn.build_darts(DARTS_V2, 36, 20, auxiliary=True)``): forward, both losses
   (auxiliary weight 0.4), backward, gradient clip 5 and an SGD step per batch of 96 real
   augmented images (crop, flip, cutout 16), bf16 autocast and channels-last as the trainer
   uses on CUDA, drop path 0.1 (the middle of the 0.2 ramp). From that rate and the
   phase's measured mean power: what DARTS's 600-epoch training on the 50,000 training
   images would take in GPU-hours and kWh (a projection from measured numbers, labelled so).
5. ``darts-live``: a short live DARTS search (``space="darts"``, C=16, 8 cells, a seeded
   pool of 5,000 genotypes, ``estimator="low-fidelity"`` with ``train_epochs=5``: 5-epoch
   estimates and 5-epoch trainings of DARTS's recipe), four workers, steps of one minute,
   the rest of the deadline; per kind of job the measured energy and the segments' images/s.

Outputs, into ``--out``: ``device_live.json`` (every number, the versions, the git commit,
the GPU), ``device_live.txt`` (the same as readable tables) and ``device_live.log``.

What is measured and what is not. NVML reads the *whole GPU*: the per-step and per-phase
power (``power``) is the GPU's. A worker's ``NvmlMeter`` reads the same GPU over its job
and charges that job ``1/4`` of it (four workers share it; one process cannot tell whose
watts they were), so a ledger kind's ``mean_w_per_job`` is a share and ``gpu_mean_w``
(the share times 4) the GPU's draw while those jobs ran, other workers' jobs included. The
ledger's ``idle`` entries are always modelled (``model:idle``, the power model's idle
draw): the measured idle power is the ``idle`` phase's. NVML's GPU utilisation is the
share of time in which a kernel ran, not how full the GPU was. Without NVML (the CPU smoke
run, ``--no-nvml``) every power and utilisation field is ``null`` with the source ``not
measured``, the CPU workers' meters are RAPL where it is readable, else the modelled ones
(``model:cpu``, flagged ``measured: false``), and nothing modelled is reported as measured.
Images/s are measured in every mode (on CPU, of CPU work).

How to run it with the ``device`` tool. That machine reaches no package registry; its
``python3`` (3.12) has PyTorch, nvidia-ml-py, pandas, scipy, scikit-learn, Pillow, typer and
rich, but not moocore (imported by ``cenas.bench``, which ``StudyConfig.validate`` reads)
nor cffi and platformdirs; ``src`` on ``PYTHONPATH`` and the wheels that
``benchmarks/device_prep.sh`` fetches suffice (this script needs no other wheel; Ray is not
used: the local backend). Here, first (commit first: the device copy has no ``.git``)::

    sh benchmarks/device_prep.sh

Then one ``run`` with ``carry: [".device-data"]``, ``timeout_s: 600`` and the command::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \\
        --target /tmp/site .device-data/wheels/*.whl && \\
    export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 && \\
    python3 benchmarks/device_live.py --data .device-data/cifar10-jpeg.tar.gz --out $OUT

With the default ``--minutes 9`` that leaves about a minute of the 10-minute call for the
install and the imports. The three files come back under the reply's ``files_at``; commit
them here::

    mkdir -p benchmarks/results/device
    cp <files_at>/device_live.json <files_at>/device_live.txt <files_at>/device_live.log \\
        benchmarks/results/device/
    git add benchmarks/results/device/device_live.*
    git commit -m "device_live: results on <GPU>" -- benchmarks/results/device/device_live.*

On CPU, ``--smoke`` runs every phase at toy sizes (the packaged CIFAR-10 subset, two CPU
workers, NB201 at C=4, N=1, live DARTS at C=2 with 3 cells, one-epoch jobs, steps of a few
seconds, a fixed number of steps; the solo run on 1,024 images, the evaluation-size DARTS
network at C=4, 5 cells, batch 8) in 30-60 s; its numbers check the plumbing and are not
benchmarks (``tests/meters/test_device_live_smoke.py`` runs it).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

HERE = Path(__file__).resolve().parent


def _device_check() -> ModuleType:
    """``benchmarks/device_check.py``, whose helpers this script uses (the issue-11 check's
    ``Log``, ``Meter``, idle and solo phases, power table, versions and git commit), loaded
    from its file so that ``benchmarks/`` never goes on ``sys.path``."""
    loaded = sys.modules.get("device_check")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("device_check", HERE / "device_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["device_check"] = module
    spec.loader.exec_module(module)
    return module


dc = _device_check()
NOT_MEASURED = dc.NOT_MEASURED
PHASES: tuple[str, ...] = ("idle", "live", "solo", "darts-eval", "darts-live")
"""The phases, in the order they run (``--phases`` selects some)."""
DARTS_TRAIN_IMAGES = 50_000
"""CIFAR-10's training split: what DARTS's final 600-epoch training sees each epoch."""
DARTS_EPOCHS = 600
GOAL_RATIO = 0.6
"""Issue 12: the 4-worker pool should reach 60 % of one tuned training's rate."""
CONFIG_FIELDS = (
    "space", "device", "gpus", "backend", "data", "train_epochs", "channels", "cells_per_stage",
    "layers", "pool_size", "estimator", "policy", "optimizer", "step_minutes", "estimate_ratio",
    "queue_policy", "seed",
)  # fmt: skip
"""The live study's settings recorded with each live phase."""


@dataclass(frozen=True)
class Sizes:
    """Sizes and time boxes of one mode (full or smoke).

    Attributes:
        workers: Live workers (they share the one GPU, or CPU slots).
        channels: ``C`` of the NB201 networks.
        cells_per_stage: ``N`` of the NB201 networks.
        train_epochs: Epochs of an NB201 live training (12: the low-fidelity schedule).
        step_minutes: Wall minutes of one NB201 live step.
        policy_steps: NB201 steps that follow the policy before the all-train steps.
        max_steps: NB201 steps at most (``None``: as many as the time box allows).
        solo_epochs: Epochs of the solo training (device_check's field name).
        solo_images: Training images of the solo run (``None``: a live worker's whole split).
        darts_channels: ``C`` of the live DARTS networks.
        darts_layers: Cells of the live DARTS networks.
        darts_epochs: Epochs of a live DARTS training and low-fidelity estimate.
        darts_pool: Genotypes in the live DARTS pool.
        darts_step_minutes: Wall minutes of one DARTS live step.
        darts_max_steps: DARTS steps at most (``None``: as many as the time box allows).
        eval_channels: ``C`` of the evaluation-size DARTS network (36).
        eval_layers: Its cells (20).
        eval_batch: Its batch (96).
        epoch_guess_s: Assumed seconds of a job's epoch before one is measured (a step
            starts only if it and the wait for the running epochs fit in the box).
        idle_s: Seconds of the idle phase.
        live_s: Time box of the NB201 live phase (worker start included).
        solo_s: Time box of the solo training.
        darts_eval_s: Time box of the evaluation-size DARTS throughput (warm-up included).
        reserve_s: Seconds kept at the end for writing the results.
    """

    workers: int
    channels: int
    cells_per_stage: int
    train_epochs: int
    step_minutes: float
    policy_steps: int
    max_steps: int | None
    solo_epochs: int
    solo_images: int | None
    darts_channels: int
    darts_layers: int
    darts_epochs: int
    darts_pool: int
    darts_step_minutes: float
    darts_max_steps: int | None
    eval_channels: int
    eval_layers: int
    eval_batch: int
    epoch_guess_s: float
    idle_s: float
    live_s: float
    solo_s: float
    darts_eval_s: float
    reserve_s: float


FULL = Sizes(
    workers=4, channels=16, cells_per_stage=5, train_epochs=12, step_minutes=0.5,
    policy_steps=2, max_steps=None, solo_epochs=2, solo_images=None, darts_channels=16,
    darts_layers=8, darts_epochs=5, darts_pool=5000, darts_step_minutes=1.0, darts_max_steps=None,
    eval_channels=36, eval_layers=20, eval_batch=96, epoch_guess_s=30.0, idle_s=15.0,
    live_s=250.0, solo_s=60.0, darts_eval_s=40.0, reserve_s=15.0,
)  # fmt: skip
SMOKE = Sizes(
    workers=2, channels=4, cells_per_stage=1, train_epochs=1, step_minutes=0.05,
    policy_steps=1, max_steps=2, solo_epochs=1, solo_images=1024, darts_channels=2,
    darts_layers=3, darts_epochs=1, darts_pool=300, darts_step_minutes=0.03, darts_max_steps=1,
    eval_channels=4, eval_layers=5, eval_batch=8, epoch_guess_s=1.0, idle_s=0.5,
    live_s=90.0, solo_s=60.0, darts_eval_s=1.0, reserve_s=2.0,
)  # fmt: skip


# ----------------------------------------------------------------------------- helpers


class UtilSampler:
    """GPU utilisation (``nvmlDeviceGetUtilizationRates``) and memory in use, sampled in a
    background thread through the NVML handle of a :class:`device_check.Meter`.

    Without NVML every window is ``not measured`` with null fields.
    """

    def __init__(self, meter: dc.Meter, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.samples: list[tuple[float, float, float, float | None]] = []
        """``(wall time, gpu %, memory-controller %, memory used in bytes)``."""
        self.why_not = meter.why_not
        self._nvml: Any = None
        self._handle: Any = None
        if meter.sampler is not None:
            self._nvml = meter.sampler._nvml
            self._handle = meter.sampler._handle
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        """Whether utilisation is being sampled."""
        return self._thread is not None

    def _read(self) -> tuple[float, float, float, float | None]:
        rates = self._nvml.nvmlDeviceGetUtilizationRates(self._handle)
        try:
            used: float | None = float(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)
        except Exception:  # a driver without memory info: utilisation alone
            used = None
        return time.time(), float(rates.gpu), float(rates.memory), used

    def start(self) -> None:
        """Start sampling (a no-op without NVML or where utilisation cannot be read)."""
        if self._nvml is None or self._thread is not None:
            return
        try:
            self.samples.append(self._read())
        except Exception as exc:
            self.why_not = f"nvmlDeviceGetUtilizationRates failed: {' '.join(str(exc).split())}"
            self._nvml = None
            return
        self._thread = threading.Thread(target=self._run, daemon=True, name="nvml-util")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(Exception):  # one failed read: the next one counts
                self.samples.append(self._read())

    def stop(self) -> None:
        """Stop sampling (before NVML is shut down)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        """Utilisation between wall times ``t0`` and ``t1``."""
        if not self.active:
            return {
                "source": NOT_MEASURED,
                "why": self.why_not,
                "samples": 0,
                "gpu_mean_pct": None,
                "gpu_median_pct": None,
                "memory_mean_pct": None,
                "memory_used_max_bytes": None,
            }
        sel = [s for s in list(self.samples) if t0 <= s[0] <= t1]
        used = [s[3] for s in sel if s[3] is not None]
        return {
            "source": "nvml",
            "samples": len(sel),
            "gpu_mean_pct": statistics.fmean(s[1] for s in sel) if sel else None,
            "gpu_median_pct": statistics.median(s[1] for s in sel) if sel else None,
            "memory_mean_pct": statistics.fmean(s[2] for s in sel) if sel else None,
            "memory_used_max_bytes": max(used) if used else None,
        }


class PhaseTimeout(Exception):
    """The hard end of a phase came (raised from SIGALRM in the main thread)."""


@contextlib.contextmanager
def hard_stop(at: float) -> Iterator[None]:
    """Raise :class:`PhaseTimeout` in the main thread at wall time ``at`` (last resort: a
    phase normally stops itself before). A no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise PhaseTimeout(f"the phase's hard end ({at - time.time():+.1f} s)")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(at - time.time(), 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, old)


def _mean_all(values: Sequence[float | None]) -> float | None:
    """The mean, or ``None`` when there is none or any value was not measured."""
    if not values or any(v is None for v in values):
        return None
    return statistics.fmean(v for v in values if v is not None)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def observe_segments(backend: Any, n_images: int, segments: list[dict[str, Any]]) -> None:
    """Record every finished job segment of a live backend as it is handled.

    The engine sees only completed jobs' results; a paused training's outcome (its
    epochs, images/s) stops in the pool. This wraps the pool's ``_handle`` (instance
    attribute, the source is untouched) to keep each one. ``n_images``: training images
    per epoch (the split a worker trains on). Each segment is appended to ``segments``.
    """
    handle = backend._handle

    def recorded(
        w: int, run: Any, outcome: dict[str, Any], reading: dict[str, Any], wall: float
    ) -> Any:
        detail = dict(outcome.get("detail") or {})
        epochs = None
        if "epochs_completed" in detail:  # a training (or a low-fidelity estimate)
            epochs = int(detail["epochs_completed"]) - int(detail.get("resumed_from") or 0)
        segments.append(
            {
                "t_end": time.time(),
                "worker": w,
                "kind": run.job.kind,
                "job": run.job.id,
                "status": outcome.get("status"),
                "seconds": float(reading.get("seconds", wall)),
                "energy_j": float(reading["joules"]),
                "measured": bool(reading["measured"]),
                "meter": str(reading["meter"]),
                "epochs": epochs,
                "images": None if epochs is None else epochs * n_images,
                "job_images_per_second": detail.get("images_per_second"),
                "epochs_completed": detail.get("epochs_completed"),
                "val_acc": detail.get("val_acc"),
                "score": detail.get("score"),
                "reason": outcome.get("reason") or None,
            }
        )
        return handle(w, run, outcome, reading, wall)

    backend._handle = recorded


def ledger_by_kind(entries: Sequence[Any], shared_by: int) -> dict[str, Any]:
    """Energy per kind of work from ledger entries, measured and modelled kept apart.

    ``measured.mean_w_per_job`` is measured joules over measured seconds (a job's equal
    share of the whole GPU when ``shared_by`` jobs share it); ``measured.gpu_mean_w``
    multiplies it back by ``shared_by`` for NVML meters (the GPU's draw while those jobs
    ran). ``modelled`` holds the entries a power model charged, never counted as measured.
    """
    out: dict[str, Any] = {}
    for kind in sorted({e.kind for e in entries} | {"train", "estimate", "idle"}):
        mine = [e for e in entries if e.kind == kind]
        part: dict[str, Any] = {
            "entries": len(mine),
            "seconds": sum(e.seconds for e in mine),
            "energy_j": sum(e.energy_j for e in mine),
        }
        for label, sel in (("measured", [e for e in mine if e.measured]),
                           ("modelled", [e for e in mine if not e.measured])):  # fmt: skip
            if not sel:
                part[label] = None
                continue
            secs = sum(e.seconds for e in sel)
            joules = sum(e.energy_j for e in sel)
            meters = sorted({e.meter for e in sel})
            block: dict[str, Any] = {
                "entries": len(sel),
                "seconds": secs,
                "energy_j": joules,
                "mean_w_per_job": joules / secs if secs > 0 else None,
                "meters": meters,
            }
            if label == "measured":
                nvml = all(m.startswith("nvml") for m in meters)
                block["gpu_mean_w"] = joules / secs * shared_by if nvml and secs > 0 else None
            part[label] = block
        if part["measured"] is None:
            part["measured_note"] = NOT_MEASURED + (
                " (idle slots are always charged by the power model, model:idle; the "
                "measured idle GPU is the idle phase)"
                if kind == "idle"
                else ""
            )
        out[kind] = part
    return out


# ----------------------------------------------------------------------------- live phases


def _live_config(args: argparse.Namespace, sizes: Sizes, space: str) -> Any:
    from cenas.config import StudyConfig

    common: dict[str, Any] = {
        "live": True,
        "device": args.device,
        "gpus": args.workers or sizes.workers,
        "data": None if args.data is None else str(args.data),
        "policy": "static",
        "optimizer": "lamoo",
        "budget_g": None,
        "hours": 48,
        "threads": 1,
        "seed": 0,
        # throughput checks: the training GPUs train from the first second
        "train_unscreened": True,
    }
    if space == "darts":
        return StudyConfig(
            **common,
            space="darts",
            estimator="low-fidelity",
            train_epochs=sizes.darts_epochs,
            channels=sizes.darts_channels,
            layers=sizes.darts_layers,
            pool_size=sizes.darts_pool,
            step_minutes=args.darts_step_minutes or sizes.darts_step_minutes,
        )
    return StudyConfig(
        **common,
        estimator="zero-cost:synflow",
        train_epochs=sizes.train_epochs,
        channels=sizes.channels,
        cells_per_stage=sizes.cells_per_stage,
        step_minutes=args.step_minutes or sizes.step_minutes,
    )


def run_live(
    name: str,
    cfg: Any,
    sizes: Sizes,
    meter: dc.Meter,
    util: UtilSampler,
    log: dc.Log,
    work: Path,
    n_images: int,
    until: float,
    hard_until: float,
    policy_steps: int | None,
    max_steps: int | None,
) -> dict[str, Any]:
    """One live search, step by step inside its time box; every number it measured.

    Args:
        name: Phase name (``live`` or ``darts-live``).
        cfg: The live :class:`cenas.config.StudyConfig`.
        sizes: The mode's sizes.
        meter: Whole-GPU power per step.
        util: GPU utilisation.
        log: The log.
        work: Scratch folder (the study's job checkpoints).
        n_images: Training images per epoch of a worker's split.
        until: No step starts unless it (and the wait for running epochs) ends by then.
        hard_until: The phase is aborted at this wall time (SIGALRM).
        policy_steps: Steps that follow the policy; later ones train on every worker
            (``None``: every step follows the policy).
        max_steps: Steps at most (``None``: as the box allows).
    """
    from cenas.live import build_live_engine

    t_phase = time.time()
    out: dict[str, Any] = {
        "config": {k: getattr(cfg, k) for k in CONFIG_FIELDS},
        "policy_steps": policy_steps,
        "train_images_per_epoch": n_images,
        "steps": [],
        "aborted": None,
    }
    engine: Any = None
    segments: list[dict[str, Any]] = []
    try:
        with hard_stop(hard_until):
            with meter.phase(f"{name}-start", log) as w:
                engine = build_live_engine(cfg, work / name)
                w["workers"] = cfg.gpus
            out["start_seconds"] = time.time() - t_phase
            out["devices"] = list(engine.backend.devices)
            out["shared_by"] = engine.backend.setup.shared_by(out["devices"][0])
            _live_steps(name, engine, cfg, sizes, meter, util, log, n_images, until,
                        hard_until, policy_steps, max_steps, out, segments)  # fmt: skip
    except PhaseTimeout as exc:
        if engine is None:
            raise
        out["aborted"] = str(exc)
        log(f"  {name}: aborted at its hard end")
    except Exception as exc:  # keep the steps measured before it (a GPU run is not cheap)
        if engine is None:
            raise
        out["aborted"] = f"failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        log(f"  {name}: {out['aborted']}")
    finally:
        if engine is not None:
            t_close = time.time()
            engine.backend.close()
            out["close_seconds"] = time.time() - t_close
    out["wall_seconds"] = time.time() - t_phase
    out.update(_live_results(engine, segments, out["shared_by"], out["steps"], cfg.gpus))
    out["gpu_util_phase"] = util.window(t_phase, time.time())
    return out


def _live_steps(
    name: str,
    engine: Any,
    cfg: Any,
    sizes: Sizes,
    meter: dc.Meter,
    util: UtilSampler,
    log: dc.Log,
    n_images: int,
    until: float,
    hard_until: float,
    policy_steps: int | None,
    max_steps: int | None,
    out: dict[str, Any],
    segments: list[dict[str, Any]],
) -> None:
    """The steps of :func:`run_live`; fills ``out`` and ``segments`` as they come."""
    backend = engine.backend
    step_s = float(cfg.step_minutes) * 60.0
    observe_segments(backend, n_images, segments)
    epoch_s = sizes.epoch_guess_s
    while not engine.done and (max_steps is None or engine.step_index < max_steps):
        k = engine.step_index
        margin = 5.0 + 1.5 * epoch_s
        if max_steps is None and time.time() + step_s + margin > until:
            break
        n_train = None
        if policy_steps is not None and k >= policy_steps:
            n_train = cfg.gpus
        # a job still in its epoch near the hard end is replaced, not waited for
        backend.pause_timeout_s = max(5.0, hard_until - time.time() - step_s - 5.0)
        first = len(segments)
        ts = time.time()
        with meter.phase(f"{name}-step{k}", log) as w:
            rec = engine.step(n_train)
            w.update({"n_train": rec.n_train, "n_estimate": rec.n_estimate})
        te = time.time()
        step = _step_summary(k, rec, ts, te, segments[first:], meter, util)
        mine = [e for e in engine.ledger.entries if e.step == k]
        step["ledger_measured_j"] = sum(e.energy_j for e in mine if e.measured)
        step["ledger_modelled_j"] = sum(e.energy_j for e in mine if not e.measured)
        out["steps"].append(step)
        per_epoch = [s["seconds"] / s["epochs"] for s in segments[first:] if s["epochs"]]
        if per_epoch:
            epoch_s = max(per_epoch)
        log(
            f"  {name} step {k}: {rec.n_train} train / {rec.n_estimate} estimate, "
            f"{te - ts:.1f} s, {step['train_images']} train images, "
            f"{step['aggregate_train_images_per_second']:.0f} img/s aggregate"
        )


def _step_summary(
    k: int,
    rec: Any,
    ts: float,
    te: float,
    segs: list[dict[str, Any]],
    meter: dc.Meter,
    util: UtilSampler,
) -> dict[str, Any]:
    power = meter.phases[-1]
    train = [s for s in segs if s["kind"] == "train"]
    est = [s for s in segs if s["kind"] == "estimate"]
    images = sum(int(s["images"] or 0) for s in train)
    return {
        "step": k,
        "n_train": rec.n_train,
        "n_estimate": rec.n_estimate,
        "wall_seconds": te - ts,
        "t_start": ts,
        "t_end": te,
        "train_segments": len(train),
        "train_images": images,
        "aggregate_train_images_per_second": images / (te - ts) if te > ts else 0.0,
        "estimate_segments": len(est),
        "estimate_images": sum(int(s["images"] or 0) for s in est),
        "completed_trainings": sum(1 for s in train if s["status"] == "completed"),
        "completed_estimates": sum(1 for s in est if s["status"] == "completed"),
        "gpu_power": {key: power[key] for key in ("mean_w", "max_w", "energy_j", "energy_source")},
        "gpu_util": util.window(ts, te),
    }


def _live_results(
    engine: Any,
    segments: list[dict[str, Any]],
    shared_by: int,
    steps: list[dict[str, Any]],
    workers: int,
) -> dict[str, Any]:
    entries = list(engine.ledger.entries)
    split = engine.ledger.measured_split()
    last_of_job: dict[int, dict[str, Any]] = {}
    for s in segments:
        if s["kind"] == "train" or s["epochs"] is not None:
            last_of_job[s["job"]] = s  # images/s over all the job's epochs so far
    rates = [float(s["job_images_per_second"]) for s in last_of_job.values()
             if s["job_images_per_second"]]  # fmt: skip
    all_train = [s for s in steps if s["n_train"] == workers]
    images = sum(s["train_images"] for s in all_train)
    seconds = sum(s["wall_seconds"] for s in all_train)
    utils = [s["gpu_util"]["gpu_mean_pct"] for s in all_train]
    watts = [s["gpu_power"]["mean_w"] for s in all_train]
    summary = engine.summary()
    return {
        "engine_summary": summary,
        "failures": [list(f) for f in engine.backend.failures],
        "restarts": engine.backend.restarts,
        "ledger": {
            "entries": len(entries),
            "measured_j": split["measured_j"],
            "modelled_j": split["modelled_j"],
            "by_meter_j": {k[6:]: v for k, v in split.items() if k.startswith("meter:")},
            "by_kind": ledger_by_kind(entries, shared_by),
            "by_kind_after_step0": ledger_by_kind([e for e in entries if e.step >= 1], shared_by),
            "note": "by_kind_after_step0 leaves out step 0, whose first job on each worker "
            "also loads and splits the data and warms CUDA up",
        },
        "jobs_images_per_second": {
            "note": "each job's images/s over its training seconds so far (its last segment; "
            "trainings, and low-fidelity estimates), while it shared the device",
            "jobs": len(rates),
            "median": statistics.median(rates) if rates else None,
            "min": min(rates) if rates else None,
            "max": max(rates) if rates else None,
        },
        "completed_trainings": [
            {k: s[k] for k in ("job", "val_acc", "epochs_completed", "job_images_per_second")}
            for s in segments
            if s["kind"] == "train" and s["status"] == "completed"
        ],
        "all_train_steps": {
            "steps": [s["step"] for s in all_train],
            "train_images": images,
            "wall_seconds": seconds,
            "aggregate_images_per_second": images / seconds if seconds > 0 else None,
            "gpu_util_mean_pct": _mean_all(utils),
            "gpu_power_mean_w": _mean_all(watts),
            "note": "images trained in the steps where every worker trained, over those "
            "steps' wall seconds (the wait for the last epochs at a step's end included)",
        },
        "segments": [{k: v for k, v in s.items() if k != "t_end"} for s in segments],
    }


# ----------------------------------------------------------------------------- other phases


def phase_solo(
    args: argparse.Namespace,
    sizes: Sizes,
    meter: dc.Meter,
    util: UtilSampler,
    log: dc.Log,
    train_split: Any,
    until: float,
) -> dict[str, Any]:
    """device_check's solo training (the best cell alone), plus its GPU utilisation over
    its last epoch: the final ``epoch_seconds[-1]`` seconds of the phase, which returns
    right after that epoch (``max_epochs`` stops it before any evaluation)."""
    if sizes.solo_images is not None:  # evenly spaced: the split is sorted by class
        n = min(sizes.solo_images, len(train_split))
        train_split = train_split.subset(torch.arange(n) * len(train_split) // n)
    out: dict[str, Any] = dc._phase_solo(args, sizes, meter, log, train_split, until)
    t_end = time.time()
    secs = out.get("epoch_seconds") or []
    out["epochs"] = len(secs)
    out["train_images"] = len(train_split)
    out["channels"], out["cells_per_stage"] = sizes.channels, sizes.cells_per_stage
    out["recipe"] = "TrainConfig.low_fidelity (12-epoch cosine), batch 256"
    out["gpu_util_last_epoch"] = util.window(t_end - secs[-1], t_end) if secs else None
    out["gpu_power_phase"] = {
        k: meter.phases[-1][k] for k in ("mean_w", "max_w", "energy_j", "energy_source")
    }
    return out


def phase_darts_eval(
    args: argparse.Namespace,
    sizes: Sizes,
    meter: dc.Meter,
    util: UtilSampler,
    log: dc.Log,
    train_set: Any,
    until: float,
) -> dict[str, Any]:
    """Training-step throughput of DARTS's evaluation-size network, and the 600-epoch
    projection (see the module doc)."""
    from cenas.datasets import BatchLoader
    from cenas.nn import build_darts
    from cenas.space import DARTS_V2

    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    torch.manual_seed(0)
    model = build_darts(
        DARTS_V2, sizes.eval_channels, sizes.eval_layers, 10, auxiliary=True,
        drop_path_prob=0.1,
    ).to(dev)  # fmt: skip
    if cuda:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    model.train()
    params = model.count_params()
    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = BatchLoader(
        train_set, sizes.eval_batch, shuffle=True, augment=True, seed=0, device=dev,
        channels_last=cuda, cutout=16, drop_last=True,
    )  # fmt: skip
    autocast = (
        (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else contextlib.nullcontext
    )
    bench = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = cuda  # as the trainer sets it on CUDA

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = 0
        while True:
            yield from loader.epoch(epoch)
            epoch += 1

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        with autocast():
            logits, aux = model(x)
            loss = loss_fn(logits.float(), y)
            if aux is not None:
                loss = loss + 0.4 * loss_fn(aux.float(), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    it = batches()
    try:
        t0 = time.perf_counter()
        warm = 0
        for x, y in it:  # warm-up: cuDNN's kernel choice, the allocator
            step(x, y)
            warm += 1
            if warm >= 5 or time.time() > until:
                break
        if cuda:
            torch.cuda.synchronize(dev)
        warm_s = time.perf_counter() - t0
        steps, images, seconds = 0, 0, 0.0
        with meter.phase("darts-eval", log) as w:
            ts = time.time()
            t0 = time.perf_counter()
            for x, y in it:
                step(x, y)
                steps += 1
                images += int(x.shape[0])
                if time.time() > until:
                    break
            if cuda:
                torch.cuda.synchronize(dev)
            seconds = time.perf_counter() - t0
            te = time.time()
            w.update({"images": images, "steps": steps})
    finally:
        torch.backends.cudnn.benchmark = bench
    ips = images / seconds if seconds > 0 else None
    power = meter.phases[-1]
    hours = DARTS_EPOCHS * DARTS_TRAIN_IMAGES / ips / 3600.0 if ips else None
    mean_w = power["mean_w"]
    return {
        "genotype": "DARTS_V2",
        "channels": sizes.eval_channels,
        "layers": sizes.eval_layers,
        "auxiliary": True,
        "params_without_auxiliary": params,
        "batch_size": sizes.eval_batch,
        "precision": "bf16 autocast, channels-last" if cuda else "fp32",
        "step": "forward, cross-entropy + 0.4 x auxiliary, backward, clip 5, SGD; drop path 0.1; "
        "batches of augmented real images (crop, flip, cutout 16) from BatchLoader",
        "warmup_steps": warm,
        "warmup_seconds": warm_s,
        "steps": steps,
        "images": images,
        "seconds": seconds,
        "images_per_second": ips,
        "gpu_util": util.window(ts, te),
        "gpu_power": {k: power[k] for k in ("mean_w", "max_w", "energy_j", "energy_source")},
        "projection_600_epochs": {
            "kind": "projection from the measured rate and power (not a measured run)",
            "images": DARTS_EPOCHS * DARTS_TRAIN_IMAGES,
            "device": args.device,
            "device_hours": hours,
            "energy_kwh": hours * mean_w / 1000.0 if hours is not None and mean_w else None,
            "power_basis": "darts-eval phase's mean NVML power" if mean_w else NOT_MEASURED,
            "left_out": "per-epoch evaluation, checkpoints, process start; one job on the "
            "whole device",
        },
    }


# ----------------------------------------------------------------------------- outputs


def _num(v: Any, fmt: str) -> str:
    return NOT_MEASURED if v is None else format(v, fmt)


def _kind_lines(by_kind: dict[str, Any]) -> list[str]:
    lines = [
        f"  {'kind':<9} {'entries':>7} {'seconds':>9} {'measured J':>12} {'W/job':>14} "
        f"{'GPU W':>14} {'modelled J':>11}  meters",
    ]
    for kind, p in by_kind.items():
        m, mo = p["measured"] or {}, p["modelled"] or {}
        meters = ", ".join([*m.get("meters", []), *mo.get("meters", [])])
        lines.append(
            f"  {kind:<9} {p['entries']:>7} {p['seconds']:>9.1f} "
            f"{_num(m.get('energy_j'), '.0f'):>12} {_num(m.get('mean_w_per_job'), '.1f'):>14} "
            f"{_num(m.get('gpu_mean_w'), '.1f'):>14} {mo.get('energy_j', 0.0):>11.0f}  {meters}"
        )
    return lines


def _live_lines(title: str, live: dict[str, Any]) -> list[str]:
    c = live["config"]
    lines = [
        f"## {title}: {c['space']}, {c['gpus']} workers on "
        f"{', '.join(sorted(set(live['devices'])))}, {c['train_epochs']}-epoch jobs, estimator "
        f"{c['estimator']}, policy {c['policy']}, steps of {c['step_minutes'] * 60:.0f} s; "
        f"workers started in {live['start_seconds']:.1f} s",
        f"  {'step':>4} {'train':>5} {'est.':>4} {'wall s':>7} {'train img':>10} {'agg img/s':>10} "
        f"{'GPU W':>14} {'GPU util %':>14}",
    ]  # fmt: skip
    for s in live["steps"]:
        lines.append(
            f"  {s['step']:>4} {s['n_train']:>5} {s['n_estimate']:>4} {s['wall_seconds']:>7.1f} "
            f"{s['train_images']:>10} {s['aggregate_train_images_per_second']:>10.0f} "
            f"{_num(s['gpu_power']['mean_w'], '.1f'):>14} "
            f"{_num(s['gpu_util']['gpu_mean_pct'], '.1f'):>14}"
        )
    a = live["all_train_steps"]
    j = live["jobs_images_per_second"]
    e = live["engine_summary"]
    lines += [
        f"  all-train steps {a['steps']}: {_num(a['aggregate_images_per_second'], '.0f')} img/s "
        f"aggregate, GPU util {_num(a['gpu_util_mean_pct'], '.1f')} %, "
        f"{_num(a['gpu_power_mean_w'], '.1f')} W",
        f"  per job: median {_num(j['median'], '.0f')} img/s over {j['jobs']} jobs; "
        f"{e['n_trained']} trained, {e['n_estimated']} estimated; "
        f"ledger {live['ledger']['measured_j']:.0f} J measured, "
        f"{live['ledger']['modelled_j']:.0f} J modelled"
        + (f"; ABORTED: {live['aborted']}" if live["aborted"] else ""),
        "  energy per kind of job (W/job: measured J / s, a 1/"
        f"{live['shared_by']} share; GPU W: times {live['shared_by']}):",
        *_kind_lines(live["ledger"]["by_kind"]),
    ]
    return lines


def render_text(report: dict[str, Any], phases: list[dict[str, Any]]) -> str:
    """``device_live.txt``: the power table and the phases' numbers."""
    gpu = report.get("gpu", {})
    lines = [
        f"# device_live: {gpu.get('name', NOT_MEASURED)}, {report.get('utc')}, "
        f"git {report.get('git_commit')}, mode {report.get('mode')}, device {report.get('device')}",
        f"# {report.get('command')}",
        "## power per phase (NVML, whole GPU)",
        dc._power_table(phases).rstrip("\n"),
    ]
    if "live" in report:
        lines += _live_lines("live NB201 search", report["live"])
    solo = report.get("solo")
    if solo:
        u = solo.get("gpu_util_last_epoch") or {}
        lines.append(
            f"## solo training (best cell, {solo['epochs']} epochs): "
            f"{_num(solo.get('images_per_second_last_epoch'), '.0f')} img/s last epoch, GPU util "
            f"{_num(u.get('gpu_mean_pct'), '.1f')} %"
        )
    i12 = report.get("issue12")
    if i12:
        lines.append(
            f"## issue 12: 4-worker aggregate / solo: throughput "
            f"{_num(i12['throughput_ratio'], '.2f')}, utilisation "
            f"{_num(i12['utilisation_ratio'], '.2f')} (goal >= {GOAL_RATIO}); met: "
            f"throughput {i12['throughput_goal_met']}, utilisation {i12['utilisation_goal_met']}"
        )
    de = report.get("darts_eval")
    if de:
        p = de["projection_600_epochs"]
        lines.append(
            f"## DARTS_V2 C={de['channels']} {de['layers']} cells, batch {de['batch_size']} "
            f"({de['precision']}): {_num(de['images_per_second'], '.0f')} img/s, "
            f"{_num(de['gpu_power']['mean_w'], '.1f')} W, GPU util "
            f"{_num(de['gpu_util']['gpu_mean_pct'], '.1f')} %; 600 epochs (projection): "
            f"{_num(p['device_hours'], '.2f')} {p['device']}-hours, "
            f"{_num(p['energy_kwh'], '.2f')} kWh"
        )
    if "darts_live" in report:
        lines += _live_lines("live DARTS search", report["darts_live"])
    if report.get("phase_errors"):
        lines.append(f"## phase errors: {json.dumps(report['phase_errors'])}")
    lines.append(f"# wall {report.get('wall_seconds', 0.0):.1f} s")
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, report: dict[str, Any], meter: dc.Meter) -> None:
    """``device_live.json`` and ``device_live.txt``."""
    from cenas._json import json_safe

    report["power"] = meter.phases
    (out / "device_live.json").write_text(json.dumps(json_safe(report), indent=2) + "\n")
    (out / "device_live.txt").write_text(render_text(report, meter.phases))


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (``--help`` lists it)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="CIFAR-10 (the shared tarball)")
    ap.add_argument("--out", type=Path, required=True, help="results folder ($OUT there)")
    ap.add_argument("--minutes", type=float, default=9.0, help="hard overall deadline")
    ap.add_argument("--smoke", action="store_true", help="toy sizes, for a CPU check")
    ap.add_argument("--device", default=None, help="cuda (default where available) or cpu")
    ap.add_argument("--workers", type=int, default=None, help="live workers (4; smoke 2)")
    ap.add_argument("--step-minutes", type=float, default=None, help="NB201 step (0.5)")
    ap.add_argument("--darts-step-minutes", type=float, default=None, help="DARTS step (1.0)")
    ap.add_argument(
        "--phases", default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)}",
    )  # fmt: skip
    for name in ("idle", "live", "solo", "darts-eval"):
        attr = name.replace("-", "_") + "_s"
        ap.add_argument(
            f"--{name}-s", type=float, default=None, dest=attr,
            help=f"time box of the {name} phase in seconds (full: {getattr(FULL, attr):.0f})",
        )  # fmt: skip
    ap.add_argument("--no-nvml", action="store_true", help="do not read NVML")
    ap.add_argument("--git-commit", default=None, help="commit to record (default: git)")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.phases.split(",")) - set(PHASES))
    if unknown:
        ap.error(f"--phases: unknown {','.join(unknown)}; choose from {','.join(PHASES)}")
    if args.workers is not None and args.workers < 1:
        ap.error("--workers: must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every phase under the deadline and write the results; the exit code (0)."""
    args = parse_args(argv)
    start_wall = time.time()
    end = start_wall + 60.0 * args.minutes
    sizes = SMOKE if args.smoke else FULL
    boxes = {f"{n}_s": getattr(args, f"{n}_s") for n in ("idle", "live", "solo", "darts_eval")}
    sizes = dataclasses.replace(sizes, **{k: v for k, v in boxes.items() if v is not None})
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cpu":
        torch.set_num_threads(1)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    log = dc.Log(out / "device_live.log")
    meter = dc.Meter(0, use_nvml=not args.no_nvml)
    util = UtilSampler(meter)
    util.start()
    report: dict[str, Any] = {
        "utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/device_live.py "
        + " ".join(str(a) for a in (argv if argv is not None else sys.argv[1:])),
        "mode": "smoke" if args.smoke else "full",
        "device": args.device,
        "deadline_minutes": args.minutes,
        "sizes": dataclasses.asdict(sizes),
        "phases_run": args.phases.split(","),
        "git_commit": dc._git_commit(args.data, args.git_commit),
        "versions": dc._versions(),
        "gpu": meter.gpu_info(),
        "utilisation_source": "nvml" if util.active else NOT_MEASURED,
        "measurement_note": "power and utilisation are NVML's readings of the whole GPU; "
        "'not measured' (null) where NVML is not read; ledger entries keep their meter and "
        "measured flag (model:* is modelled, never measured)",
        "phase_errors": {},
    }
    log(f"device {args.device}, gpu {report['gpu'].get('name', NOT_MEASURED)}, deadline {end}")
    try:
        with tempfile.TemporaryDirectory(prefix="device-live-") as tmp:
            _run_phases(args, sizes, meter, util, log, Path(tmp), end, report)
    finally:
        report["wall_seconds"] = time.time() - start_wall
        util.stop()
        write_outputs(out, report, meter)
        meter.close()
        log(f"done in {report['wall_seconds']:.1f} s; results in {out}")
    return 0


def _run_phases(
    args: argparse.Namespace,
    sizes: Sizes,
    meter: dc.Meter,
    util: UtilSampler,
    log: dc.Log,
    work: Path,
    end: float,
    report: dict[str, Any],
) -> None:
    from cenas.datasets import load_cifar, train_val_split

    last = end - sizes.reserve_s

    def box(seconds: float) -> float:
        """The wall time a phase of at most ``seconds`` must end by."""
        return min(time.time() + seconds, last)

    t0 = time.perf_counter()
    train_full = load_cifar(args.data, "cifar10", "train")
    train_split, _ = train_val_split(train_full, 0.2, 0)  # what each live worker trains on
    report["data"] = {
        "path": str(args.data) if args.data is not None else "packaged:cifar10-subset",
        "train_images": len(train_full),
        "live_train_split": len(train_split),
        "load_seconds": time.perf_counter() - t0,
    }
    log(f"data: {len(train_full)} training images, {len(train_split)} in a worker's split")

    def live(space: str, seconds: float | None) -> dict[str, Any]:
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()  # this process's cached blocks: the workers need the GPU
        until = box(seconds if seconds is not None else 1e9)
        hard = min(until + (20.0 if args.smoke else 45.0), end - sizes.reserve_s / 2)
        nb201 = space == "nb201"
        return run_live(
            "live" if nb201 else "darts-live",
            _live_config(args, sizes, space),
            sizes,
            meter,
            util,
            log,
            work,
            len(train_split),
            until,
            hard,
            sizes.policy_steps if nb201 else None,
            sizes.max_steps if nb201 else sizes.darts_max_steps,
        )

    phases: list[tuple[str, str, Any]] = [
        ("idle", "idle", lambda: dc._idle(meter, log, box(sizes.idle_s))),
        ("live", "live", lambda: live("nb201", sizes.live_s)),
        (
            "solo",
            "solo",
            lambda: phase_solo(args, sizes, meter, util, log, train_split, box(sizes.solo_s)),
        ),
        (
            "darts-eval",
            "darts_eval",
            lambda: phase_darts_eval(
                args, sizes, meter, util, log, train_full, box(sizes.darts_eval_s)
            ),
        ),
        ("darts-live", "darts_live", lambda: live("darts", None)),
    ]
    wanted = set(args.phases.split(","))
    for name, key, run in phases:
        if name not in wanted:
            continue
        if time.time() > last:
            report["phase_errors"][name] = "skipped: the deadline was reached"
            log(f"{name}: skipped, deadline")
            continue
        try:
            report[key] = run()
            aborted = str(report[key].get("aborted") or "")
            if aborted.startswith("failed: "):  # a live phase kept its steps, then failed
                report["phase_errors"][name] = aborted.removeprefix("failed: ")
        except Exception as exc:  # a phase that fails must not lose the others' results
            report["phase_errors"][name] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            log(f"{name}: failed: {report['phase_errors'][name][:300]}")
    report["issue12"] = issue12(report)


def issue12(report: dict[str, Any]) -> dict[str, Any]:
    """The 4-worker pool against the single tuned training (issue 12's goal: >= 60 %)."""
    a = (report.get("live") or {}).get("all_train_steps") or {}
    solo = report.get("solo") or {}
    solo_util = (solo.get("gpu_util_last_epoch") or {}).get("gpu_mean_pct")
    tput = _ratio(a.get("aggregate_images_per_second"), solo.get("images_per_second_last_epoch"))
    use = _ratio(a.get("gpu_util_mean_pct"), solo_util)
    judged = report.get("mode") == "full" and str(report.get("device", "")).startswith("cuda")
    return {
        "pool_aggregate_images_per_second": a.get("aggregate_images_per_second"),
        "solo_images_per_second": solo.get("images_per_second_last_epoch"),
        "throughput_ratio": tput,
        "pool_gpu_util_mean_pct": a.get("gpu_util_mean_pct"),
        "solo_gpu_util_mean_pct": solo_util,
        "utilisation_ratio": use,
        "goal_ratio": GOAL_RATIO,
        "throughput_goal_met": (tput >= GOAL_RATIO) if judged and tput is not None else None,
        "utilisation_goal_met": (use >= GOAL_RATIO) if judged and use is not None else None,
        "note": "the pool trains the optimiser's cells, the solo run the NAS-Bench-201 best "
        "cell (same recipe and size); goals are judged only in a full run on CUDA",
    }


if __name__ == "__main__":
    sys.exit(main())
