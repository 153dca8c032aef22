"""Live mode: real jobs on real workers behind the engine's backend interface.

:class:`LocalBackend` runs one worker process per device slot; :class:`RayBackend` runs the
same workers as Ray actors. Workers train and estimate NAS-Bench-201 cells for real
(:mod:`cenas.train`, :mod:`cenas.estimators`) and measure each job's energy
(:mod:`cenas.meters`); :func:`build_live_engine` assembles the engine of a live study.
"""

from __future__ import annotations

from cenas.live._build import build_live_engine, make_backend, resolve_devices, worker_setup
from cenas.live._local import BackendError, LocalBackend
from cenas.live._predictor import LivePredictor
from cenas.live._ray import RayBackend
from cenas.live._task import LiveDartsTask, LiveNB201Task
from cenas.live._worker import (
    JobOutcome,
    WorkerContext,
    WorkerSetup,
    WorkItem,
    run_darts_job,
    run_nb201_job,
)

__all__ = [
    "BackendError",
    "JobOutcome",
    "LiveDartsTask",
    "LiveNB201Task",
    "LivePredictor",
    "LocalBackend",
    "RayBackend",
    "WorkItem",
    "WorkerContext",
    "WorkerSetup",
    "build_live_engine",
    "make_backend",
    "resolve_devices",
    "run_darts_job",
    "run_nb201_job",
    "worker_setup",
]
