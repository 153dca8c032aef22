"""The carbon-aware step loop of CE-NAS.

Zhao, Liu, Jiang, Guo — "CE-NAS: An End-to-End Carbon-Efficient Neural Architecture Search
Framework", NeurIPS 2024. Each scheduling step (default one hour) a policy splits the GPU
pool between *estimation* and *training*:

* an estimating GPU asks the optimiser for a new cell (from LaMOO's chosen region),
  estimates it with the configured estimator and pushes it, with its estimated objectives,
  into a bounded candidate queue (when the queue is full it idles);
* a training GPU resumes an unfinished training, or takes the queued candidate whose
  estimate adds the most hypervolume to the estimates of the cells trained so far (the
  lowest dominance number within the queue when none adds any), or — with an empty queue —
  a fresh cell from the optimiser, and trains it; only trained results reach
  ``optimizer.tell``.

Inside a step the loop serves workers in the order the :class:`~cenas.engine.backend.Backend`
frees them (simulated, local processes or Ray actors: the loop does not know which). The
simulated backend hands over a job's result when the job is dispatched (it knows it from
the table; a look-ahead kept so that simulated results stay those of earlier versions),
a live backend when the job finishes. A job that does not fit in the step is paused and
carries over; its seconds are charged once, in the steps and on the workers where they ran.
Every charge goes to a :class:`~cenas.engine.energy.Ledger` entry at the actual intensity of
its hour, saying whether its energy was measured and by which meter. No cell is ever
estimated or trained twice.

One-time estimator work (a supernet's training, :attr:`Estimator.init_cost_s`) is a job
of kind ``init`` that the estimating GPUs work off first, before any estimate: from the
start of each step it is shared equally by that step's estimating GPUs (data-parallel), it
pauses in steps where none estimate, carries over between steps, draws training power and is
charged to the ledger at each hour's intensity like any other job. No estimate starts before
the moment it completes.

Each step the policy answers an :class:`~cenas.engine.policy_api.Allocation`: training,
estimating and *released* GPUs. Workers take their roles in that order (the lowest-numbered
train). A released GPU does no work and draws nothing in that step (ledger kind
``released``, 0 J in simulation); one that was released in the previous step and works again
first spends ``EngineConfig.release_delay_s`` getting back (charged at idle power, no work).
Unfinished jobs are never held by a released GPU: every job pauses at the end of a step.
The allocation's ``cap`` picks one of ``EngineConfig.power_caps`` for the step's working GPUs
(:meth:`Backend.set_cap`): work at training power then runs ``time_factor`` times longer at
``power_factor`` times the draw.

Budgets: the loop stops after ``hours`` or when the carbon budget is spent. A step whose
worst-case carbon (all its GPUs busy) would cross the budget runs only for the share of
the hour the remaining budget allows, and the study stops there: spending never exceeds
the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from cenas.engine.backend import Backend, Job, JobKind, JobResult
from cenas.engine.clock import Clock, SimulatedClock
from cenas.engine.energy import JOULES_PER_KWH, LedgerEntry, PowerCap, PowerModel
from cenas.engine.evaluators import onehot_ops
from cenas.engine.policy_api import Allocation, Decision, Policy, State, as_allocation
from cenas.engine.screen import Screen
from cenas.engine.signal import CarbonSignal
from cenas.engine.spatial import MigrationCost, ZoneChooser, ZoneSignal
from cenas.optimize.base import Optimizer
from cenas.optimize.hypervolume import (
    dominance_number,
    hypervolume,
    hypervolume_gains,
    pareto_front,
)

Role = Literal["train", "estimate", "release"]


class Task(Protocol):
    """What the engine needs of a task: objectives' reference point and hypervolume.

    :class:`cenas.bench.NB201Task` (tabular, with HV_max) and
    :class:`cenas.live.LiveNB201Task` (measured objectives, no HV_max) are tasks.
    """

    @property
    def ref_point(self) -> NDArray[np.float64]:
        """Reference point of the hypervolume, in minimisation form."""
        ...

    @property
    def hv_max(self) -> float | None:
        """Hypervolume of the true front, where known."""
        ...

    def hypervolume(self, y: Any) -> float:
        """Hypervolume of minimisation-form objectives."""
        ...

    def arch_str(self, index: int) -> str:
        """Human-readable form of architecture ``index``."""
        ...


@dataclass
class Arch:
    """What the study knows about one cell."""

    arch: int
    estimated: NDArray[np.float64] | None = None
    true: NDArray[np.float64] | None = None
    estimate_step: int = -1
    train_step: int = -1
    source: str = "queue"


@dataclass(frozen=True)
class StepRecord:
    """The outcome of one step."""

    step: int
    intensity: float
    n_train: int
    n_estimate: int
    seconds: float
    energy_j: float
    carbon_g: float
    cum_carbon_g: float
    hv: float
    hv_ratio: float
    log_hv_diff: float
    n_trained: int
    n_estimated: int
    queue_len: int
    stop: str | None = None
    n_release: int = 0
    cap: int = 0


@dataclass(frozen=True)
class EngineConfig:
    """Settings of the step loop.

    Attributes:
        n_gpus: GPUs in the pool.
        hours: Time budget in hours.
        step_hours: Length of a scheduling step in hours.
        carbon_budget_g: Carbon budget in grams (``None``: unlimited).
        queue_capacity: Bound of the estimated-candidate queue (default ``4 * n_gpus``).
        queue_policy: When the queue is full, ``replace`` keeps estimating and drops the
            worst estimate (highest dominance number), so training picks the best of many
            cheap estimates — CE-NAS's point; ``block`` idles the estimating GPUs instead.
        estimate_ratio: Estimates allowed per training, counted as
            ``estimate_ratio * (n_trained + queue capacity)`` estimates in all; past that
            the estimating GPUs idle until more trainings finish. Estimation exists to pick
            the best of several candidates per training, and an unbounded pipeline would burn
            energy on candidates that will never be trained (``None``: unbounded).
        selection: How a training GPU picks from the queue. ``hvi`` takes the candidate
            whose estimate adds the most hypervolume to the *estimates* of the cells already
            trained (both sides in the estimator's units, so a biased estimator such as
            12-epoch accuracy, about 18 points below the final one, is compared like with
            like), falling back to ``dominance`` when no candidate adds any; ``dominance``
            takes the lowest dominance number within the queue, blind to what was already
            trained. On 50 unseen 2023 windows (``benchmarks/rl.py``, static half split,
            LaMOO) ``hvi`` raises the mean HV/HV_max under a 5 kg budget from 0.9943 to
            0.9965 and is level at the log10(HV_max - HV) <= 0.3 target (1.66x less carbon
            than vanilla against 1.71x); with a perfect estimator ``dominance`` reaches that
            target in 19 of 50 windows (it keeps training cells the trained front already
            covers), ``hvi`` in all 50.
        power: GPU power model.
        step_seconds: Seconds one step lasts, when not ``step_hours`` of time (a live
            demonstration replays one hour of the trace per ``step_seconds`` of wall time).
        release_delay_s: Seconds a GPU released in one step needs, in the next step it
            works, before it can work (provisioning or power-up; charged at idle power).
        train_unscreened: What a training GPU does when no queued candidate is worth
            training: ``True`` trains anyway (the lowest dominance number in the queue, or a
            fresh cell from the optimiser when the queue is empty — unscreened); ``False``
            trains only a queued candidate whose estimate adds hypervolume to the trained
            cells' estimates (any queued candidate while no trained cell has an estimate)
            and otherwise estimates; while the estimator's one-time work is unfinished, no
            estimate is possible and a training GPU trains unscreened.
        train_full_queue: With ``train_unscreened = False``: a full queue's best candidate
            (lowest dominance number) trains even when its estimate adds nothing, so the
            search never stalls with a full queue and the estimation cap reached.
        screen: Proposals the estimating GPUs choose each estimate among (``0`` or ``1``:
            estimate each proposal of the optimiser as it comes). With ``k > 1`` the engine
            keeps ``k`` proposals and estimates the one a surrogate fitted on the estimates
            so far predicts best (:class:`cenas.engine.screen.Screen`); the surrogate is
            refitted at the start of each step.
        steer: Where estimates act: ``queue`` — they only choose which candidates train;
            ``optimizer`` — also, calibrated on the trained cells (a least-squares line per
            objective from estimate to trained value), every estimated cell not trained yet
            is given to the optimiser (:meth:`Optimizer.set_estimates`) as weaker evidence
            of where good cells lie; LaMOO fits its partition tree on them too.
        release_idle: Whether a working GPU left with nothing to do is released for the rest
            of the step (0 W in simulation, as a cloud GPU billed by the second; it then
            pays ``release_delay_s`` when it works again) instead of idling at idle power.
            Simulation only: a live worker with nothing to do stays free for work that comes
            later in the step (and a local device cannot be powered down).
        power_caps: Power-cap levels a policy may pick for a step (``Allocation.cap``, 1
            based; empty: caps are off); see :data:`cenas.engine.energy.POWER_CAP_TABLES`.
    """

    n_gpus: int = 8
    hours: int = 80
    step_hours: float = 1.0
    carbon_budget_g: float | None = None
    queue_capacity: int | None = None
    queue_policy: Literal["replace", "block"] = "replace"
    estimate_ratio: float | None = 8.0
    selection: Literal["hvi", "dominance"] = "hvi"
    power: PowerModel = field(default_factory=PowerModel)
    step_seconds: float | None = None
    release_delay_s: float = 0.0
    train_unscreened: bool = True
    train_full_queue: bool = False
    screen: int = 0
    steer: Literal["queue", "optimizer"] = "queue"
    power_caps: tuple[PowerCap, ...] = ()
    release_idle: bool = False

    @property
    def n_steps(self) -> int:
        """Steps in the time budget."""
        return math.ceil(self.hours / self.step_hours - 1e-9)

    @property
    def capacity(self) -> int:
        """Effective queue capacity."""
        return self.queue_capacity if self.queue_capacity is not None else 4 * self.n_gpus


class Engine:
    """Runs the carbon-aware search, one step at a time.

    Args:
        config: Loop settings.
        task: The task (objectives' reference point, HV_max).
        optimizer: Where new candidates come from (ask/tell).
        backend: Where jobs run and who charges their energy (simulated, local, Ray).
        policy: GPU split per step.
        signal: Actual intensity and forecast over the window.
        clock: Simulated or wall clock.
        on_step: Called after each step with the record and the engine (persistence, UI).
    """

    def __init__(
        self,
        config: EngineConfig,
        task: Task,
        optimizer: Optimizer,
        backend: Backend,
        policy: Policy,
        signal: CarbonSignal,
        clock: Clock | None = None,
        on_step: Callable[[StepRecord, Engine], None] | None = None,
        zones: ZoneChooser | None = None,
        migration: MigrationCost | None = None,
    ) -> None:
        if config.n_gpus <= 0:
            raise ValueError("n_gpus must be positive")
        if backend.n_workers != config.n_gpus:
            raise ValueError(
                f"the backend has {backend.n_workers} workers, the config {config.n_gpus} GPUs"
            )
        self.config = config
        self.task = task
        self.optimizer = optimizer
        self.backend = backend
        self.policy = policy
        self.signal = signal
        self.clock = clock or SimulatedClock()
        self.on_step = on_step
        self.ledger = backend.ledger
        self.jobs: list[Job] = []
        self.archs: dict[int, Arch] = {}
        self.queue: list[int] = []  # cells estimated, waiting for training
        self.paused: dict[JobKind, list[Job]] = {"train": [], "estimate": []}
        self.trained_x: list[int] = []
        self.trained_y: list[NDArray[np.float64]] = []
        self.records: list[StepRecord] = []
        self.step_index = 0
        self.cum_carbon_g = 0.0
        self.stop_reason: str | None = None
        self._hv = 0.0
        self._new_trained: list[int] = []
        self._n_estimate_jobs = 0
        self.released: set[int] = set()
        """Workers released in the last step run."""
        self.proposals: list[int] = []
        """Proposals waiting to be screened (``EngineConfig.screen``)."""
        self.screen = Screen(seed=getattr(optimizer, "seed", 0)) if config.screen > 1 else None
        self.init_job: Job | None = None
        """The estimator's one-time work (``None`` when it has none)."""
        self._init_ready: tuple[int, float] | None = None  # (step, second) it completed
        init_s = float(backend.init_cost_s)
        if init_s > 0:
            self.init_job = Job(id=0, kind="init", arch=-1, total_s=init_s)
            self.jobs.append(self.init_job)
        self.zones = zones
        """Picks each step's zone when ``signal`` is a :class:`ZoneSignal` (spatial study)."""
        self.migration = migration or MigrationCost()
        self.zone_steps: list[str] = []
        """The zone each step ran in (spatial study)."""
        self._migrate_n: int | None = None  # jobs to move at the start of this step
        if zones is not None and not isinstance(signal, ZoneSignal):
            raise ValueError("a zone chooser needs a ZoneSignal")
        self.replay_until = 0
        """Steps below this index are being replayed (resume): time jumps, nothing waits."""

    # ------------------------------------------------------------------ state
    @property
    def hv(self) -> float:
        """Hypervolume of the trained cells' true objectives."""
        return self._hv

    @property
    def hv_ratio(self) -> float:
        """HV / HV_max; on a task without HV_max (live), HV over its reference box's volume."""
        hv_max = self.task.hv_max
        if hv_max is not None:
            return self._hv / hv_max
        return self._hv / float(self.task.box_volume)  # type: ignore[attr-defined]

    @property
    def log_hv_diff(self) -> float:
        """log10(HV_max - HV); NaN on a task without HV_max."""
        hv_max = self.task.hv_max
        if hv_max is None:
            return math.nan
        return math.log10(max(hv_max - self._hv, 1e-12))

    @property
    def init_pending(self) -> bool:
        """Whether the estimator's one-time work is still unfinished."""
        return self.init_job is not None and self._init_ready is None

    @property
    def done(self) -> bool:
        """Whether the study has stopped."""
        return self.stop_reason is not None

    def observe(self) -> State:
        """The state the policy sees before the next step."""
        cfg = self.config
        budget = cfg.carbon_budget_g
        carbon_left = 1.0 if budget is None else max(0.0, 1.0 - self.cum_carbon_g / budget)
        return State(
            step=self.step_index,
            n_steps=cfg.n_steps,
            n_gpus=cfg.n_gpus,
            time_left=1.0 - self.step_index / cfg.n_steps,
            carbon_left=carbon_left,
            intensity=self.signal.intensity(self.step_index),
            forecast=self.signal.forecast(self.step_index),
            intensity_scale=self.signal.scale,
            hv_ratio=self.hv_ratio,
            n_trained=len(self.trained_x),
            n_estimated=sum(1 for a in self.archs.values() if a.estimated is not None),
            queue_len=len(self.queue),
            queue_capacity=cfg.capacity,
            n_paused_train=len(self.paused["train"]),
            n_released=len(self.released),
            release_delay_s=cfg.release_delay_s,
            n_cap_levels=len(cfg.power_caps),
            cap_energy=tuple(c.energy_factor for c in cfg.power_caps),
            cap_time=tuple(c.time_factor for c in cfg.power_caps),
        )

    # ------------------------------------------------------------------- loop
    def run(self) -> list[StepRecord]:
        """Run steps until the time or carbon budget is spent."""
        while not self.done:
            self.step()
        return self.records

    def step(self, decision: Decision | None = None) -> StepRecord:
        """Run one scheduling step.

        Args:
            decision: This step's :class:`Allocation`, or its number of training GPUs (the
                rest estimate); ``None`` asks the policy.

        Returns:
            The step's record.
        """
        if self.done:
            raise RuntimeError(f"study already stopped ({self.stop_reason})")
        cfg, s = self.config, self.step_index
        step_s = cfg.step_seconds if cfg.step_seconds is not None else cfg.step_hours * 3600.0
        self._migrate_n = None
        if self.zones is not None:
            zsig = self.signal
            assert isinstance(zsig, ZoneSignal)
            zone = self.zones.choose(self, zsig)
            if zone != zsig.active and s > 0:
                self._migrate_n = len(self.paused["train"]) + len(self.paused["estimate"])
            zsig.select(zone)
            self.zone_steps.append(zone)
        intensity = self.signal.intensity(s)
        if decision is None:
            decision = self.policy.decide(self.observe())
        alloc = as_allocation(decision, cfg.n_gpus)
        n_train, n_est = alloc.train, alloc.estimate
        if alloc.cap > len(cfg.power_caps):
            raise ValueError(
                f"cap level {alloc.cap} asked for, the study offers {len(cfg.power_caps)}"
            )
        cap = cfg.power_caps[alloc.cap - 1] if alloc.cap else None

        duration, stop = step_s, None
        if cfg.carbon_budget_g is not None:
            est_class = self.backend.estimate_power_class
            power = cfg.power.capped(cap, est_class == "train")
            est_w = max(power.estimator_w(est_class), power.idle_w)
            if self.init_pending:  # estimating GPUs may train the supernet
                est_w = max(est_w, power.train_w)
            watts = n_train * max(power.train_w, power.idle_w) + n_est * est_w
            worst_g_per_s = watts * intensity / JOULES_PER_KWH
            left = cfg.carbon_budget_g - self.cum_carbon_g
            if self._migrate_n is not None:
                left -= self.migration.network_j(self._migrate_n) * intensity / JOULES_PER_KWH
            if worst_g_per_s > 0 and worst_g_per_s * step_s > left:
                duration = max(left / worst_g_per_s, 0.0)
                stop = "carbon budget spent"

        t0 = self.clock.now()
        if self.screen is not None:
            self._fit_screen()
        self.backend.set_cap(cap)
        entries = self._simulate(s, alloc, duration, intensity)
        if s < self.replay_until:
            self.clock.jump_to(t0 + duration)
        else:
            self.clock.advance_to(t0 + duration)
        if self._new_trained:
            self.backend.update(np.asarray(self.trained_x), np.vstack(self.trained_y))
            self._new_trained = []
        if cfg.steer == "optimizer":
            self._steer_optimizer()
        energy = float(sum(e.energy_j for e in entries))
        carbon = float(sum(e.carbon_g for e in entries))
        self.cum_carbon_g += carbon
        self.step_index += 1
        if stop is None and self.step_index >= cfg.n_steps:
            stop = "time budget spent"
        if (
            stop is None
            and self.optimizer.n_available == 0
            and not self.proposals
            and not self.queue
            and not any(self.paused.values())
        ):
            stop = "search space exhausted"
        self.stop_reason = stop
        hv_ratio = self.hv_ratio
        record = StepRecord(
            step=s,
            intensity=intensity,
            n_train=n_train,
            n_estimate=n_est,
            seconds=duration,
            energy_j=energy,
            carbon_g=carbon,
            cum_carbon_g=self.cum_carbon_g,
            hv=self._hv,
            hv_ratio=hv_ratio,
            log_hv_diff=self.log_hv_diff,
            n_trained=len(self.trained_x),
            n_estimated=sum(1 for a in self.archs.values() if a.estimated is not None),
            queue_len=len(self.queue),
            stop=stop,
            n_release=alloc.release,
            cap=alloc.cap,
        )
        self.records.append(record)
        if self.on_step is not None:
            self.on_step(record, self)
        return record

    # ------------------------------------------------------------ simulation
    def _simulate(
        self, s: int, alloc: Allocation, duration: float, intensity: float
    ) -> list[LedgerEntry]:
        """Run one step's work on the backend, worker by worker in the order they are free."""
        cfg, backend = self.config, self.backend
        first = len(self.ledger.entries)
        train: list[Role] = ["train"]
        estimate: list[Role] = ["estimate"]
        release: list[Role] = ["release"]
        roles = train * alloc.train + estimate * alloc.estimate + release * alloc.release
        delay = min(cfg.release_delay_s, duration) if cfg.release_delay_s > 0 else 0.0
        back = {g for g in self.released if roles[g] != "release"} if delay > 0 else set()
        if self._migrate_n is not None and duration > 0:  # a new zone: the whole pool waits
            delay = min(max(delay, self.migration.seconds(self._migrate_n)), duration)
            back = {g for g in range(cfg.n_gpus) if roles[g] != "release"}
        estimating = [g for g in range(cfg.n_gpus) if roles[g] == "estimate" and g not in back]
        free_at: dict[int, float] = dict.fromkeys(back, delay)
        init_share = None
        if self.init_pending and estimating and duration > 0:
            init_share = self._run_init(s, estimating, duration)
            free_at.update(dict.fromkeys(estimating, init_share))
        backend.begin_step(s, duration, intensity, free_at)
        if init_share is not None:
            assert self.init_job is not None
            backend.charge_shared(self.init_job, estimating, init_share)
        for g in sorted(back):
            backend.wait(g, delay)
        if self._migrate_n is not None and duration > 0:
            self.ledger.record(
                s,
                -1,
                "migrate",
                None,
                0.0,
                self.migration.network_j(self._migrate_n),
                intensity,
                False,
                "model:network",
            )
        idle_released: set[int] = set()
        while (event := backend.next_free()) is not None:
            t, g, result = event
            if result is not None:
                self._complete(result, s)
            role = roles[g]
            if role == "release":
                backend.release(g, t)
                continue
            job = self._next_job(role, s)
            if job is None:  # nothing to do: idle (or released) for the rest of the step
                if cfg.release_idle and not backend.live:
                    backend.release(g, t)
                    idle_released.add(g)
                else:
                    backend.idle(g, t)
                continue
            result = backend.start(job, g, t)
            if result is not None:
                self._complete(result, s)
        unfinished, late = backend.end_step()
        for result in late:
            self._complete(result, s)
        for job in unfinished:  # unfinished work carries over to any GPU of its kind
            self.paused[job.kind].append(job)
        self.released = {g for g in range(cfg.n_gpus) if roles[g] == "release"} | idle_released
        return self.ledger.entries[first:]

    def _run_init(self, s: int, gpus: list[int], duration: float) -> float:
        """Share the pending init job equally among the step's estimating ``gpus`` from t = 0
        (the caller charges it, once the backend's step is open).

        Returns the second they are free again (the same for all: data-parallel work ends
        together).
        """
        job = self.init_job
        assert job is not None and gpus
        slow = self.backend.cap_time_factor("init")  # wall seconds per second of work
        share = min(job.remaining_s / len(gpus) * slow, duration)
        if job.start_step < 0:
            job.start_step = s
        job.gpu = gpus[0]
        job.done_s += share / slow * len(gpus)
        if job.remaining_s <= 1e-6:
            job.done_s = job.total_s
            job.end_step = s
            self._init_ready = (s, share)
        return share

    def _new_job(self, kind: JobKind, arch: int, s: int) -> Job:
        cost = self.backend.cost_s(kind, arch)
        job = Job(id=len(self.jobs), kind=kind, arch=arch, total_s=float(cost), start_step=s)
        self.jobs.append(job)
        return job

    def _steer_optimizer(self) -> None:
        """Give the optimiser the calibrated estimates of the estimated, untrained cells."""
        pairs = [
            (a.estimated, a.true)
            for a in self.archs.values()
            if a.estimated is not None and a.true is not None
        ]
        pending = [a for a in self.archs.values() if a.estimated is not None and a.true is None]
        if len(pairs) < 3 or not pending:
            return
        est = np.vstack([p[0] for p in pairs])
        true = np.vstack([p[1] for p in pairs])
        y = np.vstack([a.estimated for a in pending])  # type: ignore[misc]
        for k in range(y.shape[1]):
            if np.allclose(est[:, k], true[:, k]) or np.ptp(est[:, k]) <= 0:
                continue
            slope, icept = np.polyfit(est[:, k], true[:, k], 1)
            y[:, k] = icept + slope * y[:, k]
        self.optimizer.set_estimates([a.arch for a in pending], y)

    def _next_job(self, role: Literal["train", "estimate"], s: int) -> Job | None:
        if self.paused[role]:
            return self.paused[role].pop(0)
        unscreened = self.policy.trains_unscreened
        if unscreened is None:
            unscreened = self.config.train_unscreened
        if role == "train" and not unscreened and not self.init_pending:
            best = self._pop_screened()
            if best is not None:
                return self._new_job("train", best, s)
            return self._next_job("estimate", s)
        if role == "train":
            if self.queue:
                return self._new_job("train", self._pop_best(), s)
            cand = self.optimizer.ask(1)
            if cand.size == 0:
                return None
            arch = int(cand[0])
            self.archs[arch] = Arch(arch=arch, source="direct")
            return self._new_job("train", arch, s)
        full = len(self.queue) + len(self.paused["estimate"]) >= self.config.capacity
        if full and self.config.queue_policy == "block":
            return None
        ratio = self.config.estimate_ratio
        if ratio is not None and self._n_estimate_jobs >= ratio * (
            len(self.trained_x) + self.config.capacity
        ):
            return None
        proposal = self._propose()
        if proposal is None:
            return None
        self.archs[proposal] = Arch(arch=proposal)
        self._n_estimate_jobs += 1
        return self._new_job("estimate", proposal, s)

    def _features(self, keys: list[int]) -> NDArray[np.float64]:
        """One-hot operations of NAS-Bench-201 cells (the surrogate's inputs)."""
        return onehot_ops(self.optimizer.space, np.asarray(keys, dtype=np.int64))

    def _fit_screen(self) -> None:
        assert self.screen is not None
        done = [a for a in self.archs.values() if a.estimated is not None]
        if done:
            self.screen.fit(
                self._features([a.arch for a in done]),
                np.vstack([a.estimated for a in done]),  # type: ignore[misc]
            )

    def _propose(self) -> int | None:
        """The next cell to estimate: the optimiser's proposal, or the screened best of
        ``EngineConfig.screen`` of them."""
        if self.screen is None:
            cand = self.optimizer.ask(1)
            return None if cand.size == 0 else int(cand[0])
        need = self.config.screen - len(self.proposals)
        if need > 0:
            self.proposals.extend(int(c) for c in self.optimizer.ask(need))
        if not self.proposals:
            return None
        best = self.screen.choose(self._features(self.proposals), self.task.ref_point)
        return self.proposals.pop(best)

    def _pop_screened(self) -> int | None:
        """The queued cell worth training (see ``EngineConfig.train_unscreened``), if any."""
        if not self.queue:
            return None
        est = np.vstack([self.archs[a].estimated for a in self.queue])  # type: ignore[misc]
        if not any(self.archs[a].estimated is not None for a in self.trained_x):
            return self.queue.pop(self._lowest_dominance(est))
        best = self._largest_improvement(est)
        if best is not None:
            return self.queue.pop(best)
        if self.config.train_full_queue and len(self.queue) >= self.config.capacity:
            return self.queue.pop(self._lowest_dominance(est))
        return None

    def _pop_best(self) -> int:
        """Take the queued cell to train next (see ``EngineConfig.selection``)."""
        est = np.vstack([self.archs[a].estimated for a in self.queue])  # type: ignore[misc]
        if self.config.selection == "hvi":
            best = self._largest_improvement(est)
            if best is not None:
                return self.queue.pop(best)
        return self.queue.pop(self._lowest_dominance(est))

    def _largest_improvement(self, est: NDArray[np.float64]) -> int | None:
        """Queue index whose estimate adds the most hypervolume to the trained cells' estimates.

        ``None`` when no trained cell has an estimate or no candidate adds any. Ties go to
        the oldest entry.
        """
        known = [self.archs[a].estimated for a in self.trained_x]
        front_list = [e for e in known if e is not None]
        if not front_list:
            return None
        front = pareto_front(np.vstack(front_list))
        gains = hypervolume_gains(front, est, self.task.ref_point)
        if gains.max() <= 1e-12:
            return None
        return int(np.argmax(gains))

    def _lowest_dominance(self, est: NDArray[np.float64]) -> int:
        """Queue index with the lowest dominance number among the queued estimates.

        Ties (typically the queue's estimated front) go to the largest exclusive hypervolume
        contribution within that front, then to the oldest entry.
        """
        rank = dominance_number(est)
        ties = np.flatnonzero(rank == rank.min())
        if ties.size == 1:
            return int(ties[0])
        ref = np.maximum(est.max(axis=0), self.task.ref_point) + 1e-6
        total = hypervolume(est[ties], ref)
        contrib = [
            total - hypervolume(np.delete(est[ties], i, axis=0), ref) for i in range(ties.size)
        ]
        return int(ties[int(np.argmax(contrib))])

    def _drop_worst(self) -> None:
        """Drop the queued estimate with the highest dominance number (ties: newest)."""
        est = np.vstack([self.archs[a].estimated for a in self.queue])  # type: ignore[misc]
        rank = dominance_number(est)
        worst = int(np.flatnonzero(rank == rank.max())[-1])
        self.archs[self.queue.pop(worst)].source = "dropped"

    def _complete(self, result: JobResult, s: int) -> None:
        job = result.job
        arch = self.archs[job.arch]
        if result.status != "completed" or result.objectives is None:
            arch.source = f"failed-{job.kind}"
            return
        if job.kind == "estimate":
            arch.estimated = result.objectives
            arch.estimate_step = s
            self.queue.append(job.arch)
            if len(self.queue) > self.config.capacity:
                self._drop_worst()
            return
        y = result.objectives
        arch.true = y
        arch.train_step = s
        self.trained_x.append(job.arch)
        self.trained_y.append(y)
        self._new_trained.append(job.arch)
        self.optimizer.tell([job.arch], y[None, :])
        self._hv = self.task.hypervolume(np.vstack(self.trained_y))

    # ---------------------------------------------------------------- results
    def summary(self) -> dict[str, Any]:
        """Headline numbers of the study so far."""
        split = self.ledger.measured_split()
        return {
            "steps": self.step_index,
            "stop": self.stop_reason,
            "hv": self._hv,
            "hv_ratio": self.hv_ratio,
            "log_hv_diff": self.log_hv_diff,
            "carbon_g": self.cum_carbon_g,
            "energy_kwh": self.ledger.total_energy_j / JOULES_PER_KWH,
            "energy_measured_kwh": split["measured_j"] / JOULES_PER_KWH,
            "energy_modelled_kwh": split["modelled_j"] / JOULES_PER_KWH,
            "meters": sorted(k.removeprefix("meter:") for k in split if k.startswith("meter:")),
            "n_trained": len(self.trained_x),
            "n_estimated": sum(1 for a in self.archs.values() if a.estimated is not None),
            "queue_len": len(self.queue),
        }


__all__ = ["Arch", "Engine", "EngineConfig", "Job", "JobKind", "StepRecord"]
