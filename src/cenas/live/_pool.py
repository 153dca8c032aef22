"""What every live backend shares, whatever carries its messages: a pool of worker slots.

A live backend runs the scheduler's jobs on real workers, one per device slot (see
:mod:`cenas.engine.backend` for the step protocol). How a job reaches a worker and how its
result comes back is the transport's business (spawned processes and queues in
:class:`~cenas.live.LocalBackend`, Ray actors in :class:`~cenas.live.RayBackend`); everything
else is here, once:

* **Time** is the wall clock: a step of ``duration`` seconds ends that many seconds after it
  began.
* **Bookkeeping.** A worker runs one job segment at a time; its result is the job's result,
  and a result of a job the worker no longer runs (from a replaced worker) is dropped.
* **Pause.** At the end of a step every running job is asked to pause: a training stops at
  the end of its current epoch, once that epoch's checkpoint is written (an estimate
  finishes), so it resumes later from its last epoch on whichever worker takes it. A job
  still running after ``pause_timeout_s`` has its worker replaced and resumes from its
  checkpoint.
* **Faults.** A job that raises is started again from its checkpoint up to ``max_retries``
  times (in the next step when it failed while pausing), then reported failed and the study
  goes on. A worker that dies is replaced by a fresh one and its job resumed from its
  checkpoint; the seconds it ran are charged with the power model (``model:lost-worker``:
  its meter died with it).
* **Energy.** Every job segment is one ledger entry with the worker's meter reading; idle
  time is charged with the power model of the slot (``model:idle``), never as measured.
* **Predictor.** With a :attr:`WorkerPool.predictor` (:mod:`cenas.live._predictor`), the
  plain ``predictor`` answers an estimate in the coordinator when it is started (no worker
  job; the slot is free again at once) and ``predictor:<base>`` maps each base estimate
  that comes back; the coordinator's seconds are a modelled ledger entry of the job.

The fault handling follows the restart-from-checkpoint model of trial schedulers such as
Ray Tune's (Liaw et al., "Tune: A Research Platform for Distributed Model Selection and
Training", 2018): a trial's state lives in its checkpoint, not in the worker that ran it.
"""

from __future__ import annotations

import bisect
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cenas.engine.backend import Backend, Job, JobKind, JobResult, PowerCapError
from cenas.errors import CenasError
from cenas.live._worker import WorkerSetup, WorkItem

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from cenas.engine.energy import PowerCap
    from cenas.live._predictor import LivePredictor
    from cenas.meters import EnergyReading, NvmlPowerLimiter

Message = tuple[int, int, dict[str, Any], dict[str, Any], float]
"""A finished job segment: ``(worker, job id, outcome dict, meter reading dict, wall s)``."""

Event = tuple[float, int, JobResult | None]
"""What :meth:`~cenas.engine.backend.Backend.next_free` returns."""


class BackendError(CenasError):
    """A live backend that cannot start or keep its workers."""


@dataclass
class _Running:
    job: Job
    started: float  # seconds since the step began
    pausing: bool = False


class WorkerPool(Backend):
    """The transport-independent part of a live backend (see the module doc).

    A subclass starts its workers with :meth:`_start_workers` at the end of its constructor
    and implements the transport: :meth:`_spawn`, :meth:`_wait_ready`, :meth:`_dispatch`,
    :meth:`_ask_pause`, :meth:`_receive`, :meth:`_alive` and :meth:`_kill`.

    Args:
        setup: What every worker loads and runs.
        devices: One device per worker (``cpu`` or ``cuda:N``; repeat a GPU to share it).
        arch_str: Human-readable form of an architecture key (sent with each job).
        max_retries: Restarts of a job that raised before it counts as failed.
        idle_w: Modelled power of an idle worker slot in watts.
        pause_timeout_s: Longest wait for a job to reach its pause point at a step's end.
        replace_timeout_s: Longest wait for a replacement worker to start.
    """

    live = True

    def __init__(
        self,
        setup: WorkerSetup,
        devices: list[str],
        arch_str: Callable[[int], str],
        max_retries: int = 2,
        idle_w: float = 0.0,
        pause_timeout_s: float = 600.0,
        replace_timeout_s: float = 300.0,
    ) -> None:
        super().__init__(len(devices))
        if max_retries < 0:
            raise BackendError("max_retries: must be non-negative")
        self.setup = setup
        self.devices = list(devices)
        self._arch_str = arch_str
        self.max_retries = max_retries
        self.idle_w = float(idle_w)
        self.pause_timeout_s = pause_timeout_s
        self.replace_timeout_s = replace_timeout_s
        self._step = 0
        self._duration = 0.0
        self._intensity = 0.0
        self._t0 = 0.0
        self._free: list[tuple[float, int]] = []
        self._running: dict[int, _Running] = {}
        self._idle_from: dict[int, float] = {}
        self._released_now: set[int] = set()
        self._paused_now: list[Job] = []
        self.busy_s = 0.0
        """Worker-seconds spent inside jobs (measured by the workers)."""
        self.restarts = 0
        """Workers replaced after dying."""
        self.failures: list[tuple[int, int, str]] = []
        """(job id, attempt, reason) of every failed attempt."""
        self.limiter: NvmlPowerLimiter | None = None
        """Sets the GPUs' power limits once a step is capped (``None`` until then)."""
        self.predictor: LivePredictor | None = None
        """The GP predictor of a ``predictor`` or ``predictor:<base>`` study (set by
        :func:`cenas.live.make_backend`; ``None``: estimates are the workers' own)."""

    # ------------------------------------------------------------ transport
    def _start_workers(self, timeout_s: float) -> None:
        """Start every worker and wait until all are ready (subclass constructors call it)."""
        for w in range(self.n_workers):
            self._spawn(w)
        self._wait_ready(set(range(self.n_workers)), timeout_s)

    @abstractmethod
    def _spawn(self, w: int) -> None:
        """Start worker ``w`` (a fresh one when it is replaced), without waiting for it."""

    @abstractmethod
    def _wait_ready(self, waiting: set[int], timeout_s: float) -> None:
        """Wait until the ``waiting`` workers can take jobs.

        Raises:
            BackendError: If one fails to start or they are not ready in ``timeout_s``.
        """

    @abstractmethod
    def _dispatch(self, w: int, item: WorkItem) -> None:
        """Send ``item`` to worker ``w``, with its pause request cleared."""

    @abstractmethod
    def _ask_pause(self, w: int) -> None:
        """Ask the job running on worker ``w`` to pause at its next pause point."""

    @abstractmethod
    def _receive(self, timeout: float) -> Message | None:
        """The next finished job segment, or ``None`` after ``timeout`` seconds without one
        (or when a message was not a result)."""

    @abstractmethod
    def _alive(self, w: int) -> bool:
        """Whether worker ``w`` still runs."""

    @abstractmethod
    def _kill(self, w: int) -> None:
        """Stop worker ``w`` at once (it did not reach its pause point in time)."""

    # --------------------------------------------------------------- time
    def _now(self) -> float:
        return time.monotonic() - self._t0

    # ------------------------------------------------------------- backend
    def cost_s(self, kind: JobKind, arch: int) -> float:
        return 0.0

    def update(self, archs: NDArray[np.int64], objectives: NDArray[np.float64]) -> None:
        if self.predictor is not None:
            self.predictor.update(archs, objectives)

    def _charge_coordinator(self, w: int, job: Job, reading: EnergyReading) -> None:
        """A modelled ledger entry of the coordinator's work on ``job`` (the predictor's)."""
        self.ledger.record(
            self._step,
            w,
            job.kind,
            job.id,
            reading.seconds,
            reading.joules,
            self._intensity,
            reading.measured,
            reading.meter,
        )
        job.done_s += reading.seconds
        job.total_s = job.done_s

    def set_cap(self, cap: PowerCap | None) -> None:
        """Set the power limit of the pool's GPUs through NVML (a share of each default
        limit; ``None``: the defaults); the workers' meters measure what follows.

        Raises:
            PowerCapError: For a CPU worker, without NVML, or where NVML refuses.
        """
        if self.limiter is None:
            if cap is None:
                return
            self.limiter = self._make_limiter()
        from cenas.meters import MeterError

        try:
            self.limiter.apply(None if cap is None else cap.limit)
        except MeterError as exc:
            raise PowerCapError(str(exc)) from None

    def _make_limiter(self) -> NvmlPowerLimiter:
        from cenas.meters import MeterError, NvmlPowerLimiter, nvml_index

        cpu = [d for d in self.devices if not d.startswith("cuda")]
        if cpu:
            raise PowerCapError(
                f"power caps: set GPU power limits through NVML; worker device {cpu[0]!r} is "
                "not a CUDA GPU"
            )
        try:
            cuda = sorted({int(d.partition(":")[2] or 0) for d in self.devices})
            return NvmlPowerLimiter([nvml_index(i) for i in cuda])
        except MeterError as exc:
            raise PowerCapError(str(exc)) from None

    def restore_caps(self) -> None:
        """Put the GPUs' default power limits back (after a capped study)."""
        if self.limiter is not None:
            limiter, self.limiter = self.limiter, None
            limiter.restore()

    def begin_step(
        self, step: int, duration: float, intensity: float, free_at: dict[int, float]
    ) -> None:
        self._step, self._duration, self._intensity = step, duration, intensity
        self._t0 = time.monotonic()
        self._free = [(0.0, w) for w in range(self.n_workers) if w not in self._running]
        self._idle_from = {}
        self._released_now = set()

    def start(self, job: Job, worker: int, t: float) -> JobResult | None:
        job.gpu, job.status = worker, "running"
        if job.kind == "estimate" and self.predictor is not None and self.predictor.base is None:
            y, reading = self.predictor.answer(job.arch)  # in the coordinator, at once
            job.status, job.end_step = "completed", self._step
            self._charge_coordinator(worker, job, reading)
            now = self._now()
            bisect.insort(self._free, (now, worker))
            return JobResult(job, now, "completed", y, detail={"estimator": self.predictor.name})
        self._running[worker] = _Running(job, self._now())
        item = WorkItem(job.id, job.kind, job.arch, self._arch_str(job.arch), job.attempts)
        self._dispatch(worker, item)
        return None

    def idle(self, worker: int, t: float) -> None:
        self._idle_from[worker] = t

    def release(self, worker: int, t: float) -> None:
        """The worker takes no job for the rest of the step. A local device is not powered
        down, so its time is charged at the slot's idle power, as kind ``released``."""
        self._idle_from[worker] = t
        self._released_now.add(worker)

    def wait(self, worker: int, seconds: float) -> None:
        """The worker takes no job for the first ``seconds`` of the step (its release delay),
        charged at the slot's idle power."""
        self._free = [(t, w) for t, w in self._free if w != worker]
        bisect.insort(self._free, (seconds, worker))
        self.ledger.record(
            self._step,
            worker,
            "idle",
            None,
            seconds,
            self.idle_w * seconds,
            self._intensity,
            False,
            "model:idle",
        )

    def next_free(self) -> Event | None:
        while True:
            now = self._now()
            if self._free and self._free[0][0] <= now:
                _, w = self._free.pop(0)
                return now, w, None
            left = self._duration - now
            if left <= 0:
                return None
            wake = self._free[0][0] - now if self._free else left
            if self._running:
                event = self._poll(min(left, wake, 0.25))
                if event is not None:
                    return event
            else:  # everyone idle or waiting: the step's time passes
                time.sleep(min(left, wake))

    def _poll(self, timeout: float) -> Event | None:
        """Handle one message or the dead workers; a finished job's event, if any."""
        msg = self._receive(timeout)
        if msg is None:
            self._replace_dead()
            return None
        w, job_id, outcome, reading, wall = msg
        run = self._running.get(w)
        if run is None or run.job.id != job_id:  # stale: from a replaced worker
            return None
        return self._handle(w, run, outcome, reading, wall)

    def _handle(
        self, w: int, run: _Running, outcome: dict[str, Any], reading: dict[str, Any], wall: float
    ) -> Event | None:
        job = run.job
        seconds = float(reading.get("seconds", wall))
        self.busy_s += seconds
        self.ledger.record(
            self._step,
            w,
            job.kind,
            job.id,
            seconds,
            float(reading["joules"]),
            self._intensity,
            bool(reading["measured"]),
            str(reading["meter"]),
        )
        job.done_s += seconds
        del self._running[w]
        t = self._now()
        status = outcome["status"]
        if status == "paused":
            job.status = "paused"
            self._paused_now.append(job)
            return None
        if status == "failed":
            self.failures.append((job.id, job.attempts, str(outcome.get("reason", ""))))
            if job.attempts < self.max_retries:
                job.attempts += 1
                if run.pausing:  # retry in a later step
                    job.status = "paused"
                    self._paused_now.append(job)
                    return None
                self.start(job, w, t)
                return None
            job.status, job.end_step, job.total_s = "failed", self._step, job.done_s
            return t, w, JobResult(job, t, "failed", None, str(outcome.get("reason", "")))
        job.status, job.end_step, job.total_s = "completed", self._step, job.done_s
        y = np.asarray(outcome["objectives"], dtype=np.float64)
        detail = dict(outcome.get("detail") or {})
        if job.kind == "estimate" and self.predictor is not None:  # predictor:<base>
            detail["base_objectives"] = y.tolist()
            y, mapped = self.predictor.map(job.arch, y)
            self._charge_coordinator(w, job, mapped)
            t = self._now()
        return t, w, JobResult(job, t, "completed", y, detail=detail)

    def _replace_dead(self) -> None:
        for w, run in list(self._running.items()):
            if self._alive(w):
                continue
            ran = max(self._now() - run.started, 0.0)
            self.ledger.record(
                self._step,
                w,
                run.job.kind,
                run.job.id,
                ran,
                self.idle_w * ran,
                self._intensity,
                False,
                "model:lost-worker",
            )
            self.failures.append((run.job.id, run.job.attempts, f"worker {w} died"))
            self.restarts += 1
            self._spawn(w)
            self._wait_ready({w}, self.replace_timeout_s)
            job = run.job
            del self._running[w]
            if run.pausing:
                job.status = "paused"
                self._paused_now.append(job)
            else:
                self.start(job, w, self._now())

    def end_step(self) -> tuple[list[Job], list[JobResult]]:
        self._paused_now = []
        late: list[JobResult] = []
        for w, run in self._running.items():
            run.pausing = True
            self._ask_pause(w)
        deadline = time.monotonic() + self.pause_timeout_s
        while self._running and time.monotonic() < deadline:
            event = self._poll(0.25)
            if event is not None and event[2] is not None:
                late.append(event[2])
        for w in list(self._running):  # never reached its pause point: replace it
            self._kill(w)
        if self._running:
            self._replace_dead()
        end = max(self._now(), self._duration)
        for w in range(self.n_workers):
            start = self._idle_from.get(w)
            if start is not None and end > start:
                self.ledger.record(
                    self._step,
                    w,
                    "released" if w in self._released_now else "idle",
                    None,
                    end - start,
                    self.idle_w * (end - start),
                    self._intensity,
                    False,
                    "model:idle",
                )
        paused = sorted(self._paused_now, key=lambda j: j.gpu)
        self._paused_now = []
        return paused, late


__all__ = ["BackendError", "Message", "WorkerPool"]
