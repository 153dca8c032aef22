"""The local backend: one worker process per device slot, running real jobs.

Each worker (:func:`cenas.live._worker.worker_main`) is a ``spawn``-ed process with its own
device (``cuda:N`` or a CPU slot of ``threads`` torch threads). The backend sends it a
:class:`~cenas.live._worker.WorkItem`; the result comes back on one shared queue with the
energy the worker's meter read over the job (measured, or modelled and flagged). Time is
the wall clock: a step of ``duration`` seconds ends that many seconds after it began.

* **Pause.** At the end of a step every running job is asked to pause: a training stops at
  the end of its current epoch, once that epoch's checkpoint is written (an estimate
  finishes), so it resumes later from its last epoch on whichever worker takes it.
* **Faults.** A job that raises (a bug, out of memory, a NaN loss) is started again from its
  checkpoint up to ``max_retries`` times, then reported failed and the study goes on. A worker
  process that dies (killed, segfault) is replaced by a fresh one and its job resumed from its
  checkpoint; the seconds it ran are charged with the power model (its meter died with it).
* **Energy.** Every job segment is one ledger entry with the worker's reading; idle time is
  charged with the power model of the slot (``model:idle``), never as measured.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue as queue_mod
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from cenas.engine.backend import Backend, Job, JobKind, JobResult
from cenas.errors import CenasError
from cenas.live._worker import WorkerSetup, WorkItem, worker_main


class BackendError(CenasError):
    """A live backend that cannot start or keep its workers."""


@dataclass
class _Running:
    job: Job
    started: float  # seconds since the step began
    pausing: bool = False


class LocalBackend(Backend):
    """Real jobs on local worker processes (see the module doc).

    Args:
        setup: What every worker loads and runs.
        devices: One device per worker (``cpu`` or ``cuda:N``; repeat a GPU to share it).
        arch_str: Human-readable form of an architecture key (sent with each job).
        max_retries: Restarts of a job that raised before it counts as failed.
        idle_w: Modelled power of an idle worker slot in watts.
        pause_timeout_s: Longest wait for a job to reach its pause point at a step's end;
            a worker still busy then is replaced and its job resumes from its checkpoint.
        start_timeout_s: Longest wait for the workers to start.
    """

    name = "local"
    live = True

    def __init__(
        self,
        setup: WorkerSetup,
        devices: list[str],
        arch_str: Any,
        max_retries: int = 2,
        idle_w: float = 0.0,
        pause_timeout_s: float = 600.0,
        start_timeout_s: float = 300.0,
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
        self._ctx = mp.get_context("spawn")
        self._results: Any = self._ctx.Queue()
        self._procs: list[Any] = [None] * self.n_workers
        self._inboxes: list[Any] = [None] * self.n_workers
        self._pause: list[Any] = [None] * self.n_workers
        self._step = 0
        self._duration = 0.0
        self._intensity = 0.0
        self._t0 = 0.0
        self._free: list[tuple[float, int]] = []
        self._running: dict[int, _Running] = {}
        self._idle_from: dict[int, float] = {}
        self._paused_now: list[Job] = []
        self.busy_s = 0.0
        """Worker-seconds spent inside jobs (measured by the workers)."""
        self.restarts = 0
        """Worker processes replaced after dying."""
        self.failures: list[tuple[int, int, str]] = []
        """(job id, attempt, reason) of every failed attempt."""
        for w in range(self.n_workers):
            self._spawn(w)
        self._wait_ready(set(range(self.n_workers)), start_timeout_s)

    # ------------------------------------------------------------ processes
    def _spawn(self, w: int) -> None:
        self._inboxes[w] = self._ctx.Queue()
        self._pause[w] = self._ctx.Event()
        proc = self._ctx.Process(
            target=worker_main,
            args=(w, self.devices[w], self.setup, self._inboxes[w], self._results, self._pause[w]),
            name=f"cenas-worker-{w}",
            daemon=True,
        )
        proc.start()
        self._procs[w] = proc

    def _wait_ready(self, waiting: set[int], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise BackendError(f"workers {sorted(waiting)} did not start in {timeout_s:.0f} s")
            try:
                msg = self._results.get(timeout=min(left, 0.5))
            except queue_mod.Empty:
                dead = [w for w in waiting if not self._procs[w].is_alive()]
                if dead:
                    code = self._procs[dead[0]].exitcode
                    self.close()
                    raise BackendError(
                        f"worker {dead[0]} ({self.devices[dead[0]]}) exited with code {code} "
                        "before its first job"
                    ) from None
                continue
            if msg[0] == "ready":
                waiting.discard(msg[1])
            else:  # a result of a worker that died before: stale
                continue

    def worker_pid(self, w: int) -> int:
        """Process id of worker ``w`` (for fault-injection tests)."""
        return int(self._procs[w].pid)

    # --------------------------------------------------------------- time
    def _now(self) -> float:
        return time.monotonic() - self._t0

    # ------------------------------------------------------------- backend
    def cost_s(self, kind: JobKind, arch: int) -> float:
        return 0.0

    def begin_step(
        self, step: int, duration: float, intensity: float, free_at: dict[int, float]
    ) -> None:
        self._step, self._duration, self._intensity = step, duration, intensity
        self._t0 = time.monotonic()
        self._free = [(0.0, w) for w in range(self.n_workers) if w not in self._running]
        self._idle_from = {}

    def start(self, job: Job, worker: int, t: float) -> JobResult | None:
        job.gpu, job.status = worker, "running"
        self._pause[worker].clear()
        self._running[worker] = _Running(job, self._now())
        item = WorkItem(job.id, job.kind, job.arch, self._arch_str(job.arch), job.attempts)
        self._inboxes[worker].put(item)
        return None

    def idle(self, worker: int, t: float) -> None:
        self._idle_from[worker] = t

    def next_free(self) -> tuple[float, int, JobResult | None] | None:
        if self._free:
            _, w = self._free.pop(0)
            return self._now(), w, None
        while self._running:
            left = self._duration - self._now()
            if left <= 0:
                return None
            event = self._poll(min(left, 0.25))
            if event is not None:
                return event
        left = self._duration - self._now()
        if left > 0:  # everyone idle: the step's time passes
            time.sleep(left)
        return None

    def _poll(self, timeout: float) -> tuple[float, int, JobResult | None] | None:
        """Handle one message or one dead worker; a finished job's event, if any."""
        try:
            msg = self._results.get(timeout=timeout)
        except queue_mod.Empty:
            self._replace_dead()
            return None
        if msg[0] != "result":
            return None
        _, w, job_id, outcome, reading, wall = msg
        run = self._running.get(w)
        if run is None or run.job.id != job_id:  # stale: from a replaced worker
            return None
        return self._handle(w, run, outcome, reading, wall)

    def _handle(
        self, w: int, run: _Running, outcome: dict[str, Any], reading: dict[str, Any], wall: float
    ) -> tuple[float, int, JobResult | None] | None:
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
        return t, w, JobResult(job, t, "completed", y, detail=detail)

    def _replace_dead(self) -> None:
        for w, run in list(self._running.items()):
            proc = self._procs[w]
            if proc.is_alive():
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
            self._wait_ready({w}, 300.0)
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
            self._pause[w].set()
        deadline = time.monotonic() + self.pause_timeout_s
        while self._running and time.monotonic() < deadline:
            event = self._poll(0.25)
            if event is not None and event[2] is not None:
                late.append(event[2])
        for w in list(self._running):  # never reached its pause point: replace it
            self._procs[w].kill()
            self._procs[w].join(5)
        if self._running:
            self._replace_dead()
        end = max(self._now(), self._duration)
        for w in range(self.n_workers):
            start = self._idle_from.get(w)
            if start is not None and end > start:
                self.ledger.record(
                    self._step,
                    w,
                    "idle",
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

    def close(self) -> None:
        for w, proc in enumerate(self._procs):
            if proc is None:
                continue
            with contextlib.suppress(Exception):
                self._inboxes[w].put(None)
        for proc in self._procs:
            if proc is None:
                continue
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        self._procs = [None] * self.n_workers


__all__ = ["BackendError", "LocalBackend"]
