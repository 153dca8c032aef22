"""Where jobs run: the backend interface the scheduler drives, and the simulated backend.

The scheduler (:class:`cenas.engine.loop.Engine`) decides *what* runs: which worker trains,
which estimates, which candidate goes next, when a step ends. A :class:`Backend` decides
*how*: it starts a job (a training or an estimate of one architecture) on a worker, tells
the scheduler when a worker is free again and with which result, pauses every unfinished
job at the end of a step (a live worker checkpoints it) so that any worker of the same role
can resume it in a later step, and charges every second of every worker to the study's
:class:`~cenas.engine.energy.Ledger`, saying whether the energy was measured or modelled and
by which meter. The scheduler never learns which world it runs in, as in syne-tune's
``TrialBackend`` with its simulator backend and time keeper (Salinas et al., "Syne Tune",
AutoML 2022).

Within one step, times are seconds since the step began. A step runs as::

    backend.begin_step(step, duration, intensity, free_at)
    while (event := backend.next_free()) is not None:   # in time order
        t, worker, result = event                        # result of the job it finished
        job = <scheduler's choice for the worker's role>  # or None
        result = backend.start(job, worker, t) if job else backend.idle(worker, t)
    unfinished, late = backend.end_step()                # paused, in worker order

:class:`SimulatedBackend` replays the tabular benchmark: it knows each job's cost before the
job starts and its result at once, so :meth:`Backend.start` returns the result of a job
that fits in the step when the job is dispatched — the simulator's results are known from
the moment a job starts, a look-ahead a live backend does not have (it returns results from
:meth:`Backend.next_free` when they finish). That is ``results="at-dispatch"``, which keeps
the simulator's results those of the engine before this interface
(``tests/engine/test_golden.py``); ``results="at-finish"`` hands a result over when its job
finishes, as a live backend does (a job that finishes exactly at the end of the step delivers
it from :meth:`Backend.end_step`).

Besides work and idle time, a worker can be *released* for a step (:meth:`Backend.release`:
0 W in simulation) and, when it comes back, *wait* for its release delay
(:meth:`Backend.wait`: idle power, no work). Before a step opens, :meth:`Backend.set_cap`
sets the power cap of every worker for the step (``None``: the default limit); the simulator
applies the cap's published trade-off to work at training power, a live backend sets the
GPUs' limits through NVML and measures what follows, and a backend that cannot cap refuses
with :class:`PowerCapError`.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from cenas.engine.energy import Ledger, PowerCap, PowerClass, PowerModel
from cenas.engine.evaluators import Estimator, Trainer
from cenas.errors import CenasError

JobKind = Literal["train", "estimate", "init"]
JobStatus = Literal["completed", "failed"]
ResultTiming = Literal["at-dispatch", "at-finish"]
RESULT_TIMINGS: tuple[str, ...] = ("at-dispatch", "at-finish")


class PowerCapError(CenasError):
    """A power cap the backend cannot apply (no NVML, no permission, a CPU worker...)."""


@dataclass
class Job:
    """One unit of work on one architecture (``arch = -1`` for an estimator's ``init`` job).

    Attributes:
        id: Job number within the study (0 is the ``init`` job when there is one).
        kind: ``train``, ``estimate`` or ``init``.
        arch: The architecture's key in the study (an NB201 index).
        total_s: Seconds of work the job needs; known in simulation, ``0`` until it
            finishes on a live backend (then its measured seconds).
        done_s: Seconds of work done so far.
        start_step: Step it started in.
        end_step: Step it finished in (``-1`` while unfinished).
        gpu: Worker it last ran on.
        attempts: Times it was started after a failure (live backends retry).
        status: ``pending``, ``running``, ``paused``, ``completed`` or ``failed``.
    """

    id: int
    kind: JobKind
    arch: int
    total_s: float
    done_s: float = 0.0
    start_step: int = -1
    end_step: int = -1
    gpu: int = -1
    attempts: int = 0
    status: str = "pending"

    @property
    def remaining_s(self) -> float:
        """Seconds of work still to run (simulation)."""
        return max(self.total_s - self.done_s, 0.0)


@dataclass(frozen=True)
class JobResult:
    """What a finished job produced.

    Attributes:
        job: The job.
        t: Seconds since the step began at which the result is known.
        status: ``completed`` or ``failed`` (after the backend's retries).
        objectives: The architecture's objectives in minimisation form (``None`` if failed).
        reason: Why it failed, in one line (``""`` otherwise).
        detail: Backend-specific facts (a live training's accuracies, epochs, images/s...).
    """

    job: Job
    t: float
    status: JobStatus
    objectives: NDArray[np.float64] | None
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """Runs the scheduler's jobs on workers and charges their energy (see the module doc)."""

    name: str = "backend"
    live: bool = False
    """Whether jobs run for real (results arrive when they finish, time passes)."""

    def __init__(self, n_workers: int) -> None:
        if n_workers <= 0:
            raise ValueError("n_workers must be positive")
        self.n_workers = n_workers
        self.ledger = Ledger()

    # -------------------------------------------------------------- the jobs
    @property
    def init_cost_s(self) -> float:
        """Seconds of one-time estimator work before any estimate (a supernet's training)."""
        return 0.0

    @property
    def estimate_power_class(self) -> PowerClass:
        """What the estimates compute, for the carbon budget's worst case (short training
        unless the backend knows better)."""
        return "train"

    @abstractmethod
    def cost_s(self, kind: JobKind, arch: int) -> float:
        """Seconds of work a new job needs, if known before it runs (else ``0``)."""

    def update(self, archs: NDArray[np.int64], objectives: NDArray[np.float64]) -> None:
        """Every trained result so far, after a step that trained some (for estimators
        that learn from them, such as a predictor); nothing by default."""
        return None

    # ------------------------------------------------------------- one step
    @abstractmethod
    def begin_step(
        self, step: int, duration: float, intensity: float, free_at: dict[int, float]
    ) -> None:
        """Open a step of ``duration`` seconds at ``intensity`` gCO2eq/kWh; every worker is
        free from ``free_at.get(worker, 0.0)``."""

    @abstractmethod
    def next_free(self) -> tuple[float, int, JobResult | None] | None:
        """The next moment a worker is free before the step ends, in time order (ties: the
        lower worker), with the result of the job it just finished (``None`` when it had
        none, or the result was already returned by :meth:`start`); ``None`` once no
        worker is free before the end of the step."""

    @abstractmethod
    def start(self, job: Job, worker: int, t: float) -> JobResult | None:
        """Start (or resume, when ``job.done_s > 0``) ``job`` on ``worker`` at ``t``; a
        backend that knows the result at once returns it here."""

    @abstractmethod
    def idle(self, worker: int, t: float) -> None:
        """``worker`` has nothing to do from ``t`` to the end of the step."""

    @abstractmethod
    def end_step(self) -> tuple[list[Job], list[JobResult]]:
        """Close the step: pause every unfinished job.

        Returns:
            The paused jobs in worker order, and the results of jobs that finished while
            being paused (a live job ends its current epoch or estimate first).
        """

    @abstractmethod
    def release(self, worker: int, t: float) -> None:
        """``worker`` is released from ``t`` to the end of the step: it takes no job."""

    @abstractmethod
    def wait(self, worker: int, seconds: float) -> None:
        """``worker`` spends the first ``seconds`` of the step coming back from release (the
        step opened with it free from ``seconds``)."""

    def set_cap(self, cap: PowerCap | None) -> None:
        """Cap every worker's power for the coming step (``None``: the default limit).

        Raises:
            PowerCapError: If this backend cannot cap its workers.
        """
        if cap is not None:
            raise PowerCapError(f"the {self.name} backend cannot cap GPU power")

    def cap_time_factor(self, kind: JobKind) -> float:
        """How many times longer a unit of ``kind`` work takes under the step's cap, for
        the scheduler's share of the ``init`` job (``1``: uncapped, or a live backend, whose
        jobs simply run as fast as they do)."""
        return 1.0

    def charge_shared(self, job: Job, workers: list[int], seconds: float) -> None:
        """Charge ``seconds`` of data-parallel ``job`` work (the ``init`` job) to each of
        ``workers``; only backends with one-time estimator work have any."""
        raise NotImplementedError(f"the {self.name} backend has no one-time estimator work")

    def close(self) -> None:  # noqa: B027 - a backend without workers has nothing to release
        """Release the workers."""


class SimulatedBackend(Backend):
    """The tabular benchmark as a backend: costs and results from tables, energy from a
    power model (every ledger entry modelled), time that jumps.

    Args:
        n_workers: GPUs in the pool.
        estimator: Tabular estimates and their costs.
        trainer: Tabular trainings and their costs.
        power: Power of a GPU in each state; estimates draw the power of the estimator's
            :attr:`~cenas.engine.evaluators.Estimator.power_class`.
        results: When a job's result reaches the scheduler (see the module doc).
    """

    name = "simulated"
    live = False

    def __init__(
        self,
        n_workers: int,
        estimator: Estimator,
        trainer: Trainer,
        power: PowerModel,
        results: ResultTiming = "at-dispatch",
    ) -> None:
        super().__init__(n_workers)
        if results not in RESULT_TIMINGS:
            raise ValueError(f"results must be one of {', '.join(RESULT_TIMINGS)}")
        self.estimator = estimator
        self.trainer = trainer
        self.power = power.for_estimator(estimator.power_class)
        self.base_power = self.power
        """The uncapped power model (``power`` is the step's, under its cap)."""
        self.cap: PowerCap | None = None
        self.results = results
        self._step = 0
        self._duration = 0.0
        self._intensity = 0.0
        self._heap: list[tuple[float, int]] = []
        self._running: dict[int, Job] = {}
        self._pending: dict[int, JobResult] = {}

    @property
    def estimate_power_class(self) -> PowerClass:
        return self.estimator.power_class

    @property
    def init_cost_s(self) -> float:
        return float(self.estimator.init_cost_s)

    def cost_s(self, kind: JobKind, arch: int) -> float:
        cost = self.trainer.cost_s(arch) if kind == "train" else self.estimator.cost_s(arch)
        return float(cost)

    def update(self, archs: NDArray[np.int64], objectives: NDArray[np.float64]) -> None:
        self.estimator.update(archs, objectives)

    def set_cap(self, cap: PowerCap | None) -> None:
        """Apply ``cap``'s published trade-off to the step's work at training power."""
        self.cap = cap
        self.power = self.base_power.capped(cap, self.estimator.power_class == "train")

    def cap_time_factor(self, kind: JobKind) -> float:
        if self.cap is None:
            return 1.0
        if kind == "estimate" and self.estimator.power_class != "train":
            return 1.0
        return self.cap.time_factor

    def charge_shared(self, job: Job, workers: list[int], seconds: float) -> None:
        """Charge ``seconds`` of data-parallel ``job`` work (the ``init`` job) to each worker."""
        for w in workers:
            self.ledger.charge(
                self._step, w, job.kind, job.id, seconds, self.power, self._intensity
            )

    def begin_step(
        self, step: int, duration: float, intensity: float, free_at: dict[int, float]
    ) -> None:
        self._step, self._duration, self._intensity = step, duration, intensity
        self._heap = [(free_at.get(w, 0.0), w) for w in range(self.n_workers)]
        heapq.heapify(self._heap)
        self._running = {}
        self._pending = {}

    def next_free(self) -> tuple[float, int, JobResult | None] | None:
        while self._heap:
            t, w = heapq.heappop(self._heap)
            if t < self._duration - 1e-9 and w not in self._running:
                return t, w, self._pending.pop(w, None)
        return None

    def start(self, job: Job, worker: int, t: float) -> JobResult | None:
        job.gpu, job.status = worker, "running"
        slow = self.cap_time_factor(job.kind)  # wall seconds per second of work
        run = min(job.remaining_s * slow, self._duration - t)
        self.ledger.charge(self._step, worker, job.kind, job.id, run, self.power, self._intensity)
        job.done_s += run / slow
        heapq.heappush(self._heap, (t + run, worker))
        if job.remaining_s > 1e-9:
            self._running[worker] = job
            return None
        job.done_s, job.end_step, job.status = job.total_s, self._step, "completed"
        if job.kind == "estimate":
            y = self.estimator.estimate(job.arch)
        else:
            y = self.trainer.train(job.arch)
        if self.results == "at-dispatch":
            return JobResult(job=job, t=t, status="completed", objectives=y)
        self._pending[worker] = JobResult(job=job, t=t + run, status="completed", objectives=y)
        return None

    def idle(self, worker: int, t: float) -> None:
        self.ledger.charge(
            self._step, worker, "idle", None, self._duration - t, self.power, self._intensity
        )

    def release(self, worker: int, t: float) -> None:
        self.ledger.charge(
            self._step, worker, "released", None, self._duration - t, self.power, self._intensity
        )

    def wait(self, worker: int, seconds: float) -> None:
        self.ledger.charge(self._step, worker, "idle", None, seconds, self.power, self._intensity)

    def end_step(self) -> tuple[list[Job], list[JobResult]]:
        out = [self._running[w] for w in sorted(self._running)]
        for job in out:
            job.status = "paused"
        late = [self._pending[w] for w in sorted(self._pending, key=lambda w: self._pending[w].t)]
        self._running = {}
        self._pending = {}
        self._heap = []
        return out, late


__all__ = [
    "RESULT_TIMINGS",
    "Backend",
    "Job",
    "JobKind",
    "JobResult",
    "PowerCapError",
    "ResultTiming",
    "SimulatedBackend",
]
