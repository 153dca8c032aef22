"""An exact offline lower bound on the carbon of a fixed amount of NAS work.

Setting: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) runs a pool of GPUs under a
time-varying grid carbon intensity and decides, step by step, how much of the pool trains
architectures and how much estimates candidates. The bound here is ours: knowing the whole
window's intensity ahead, it finds the minimum-carbon schedule of exactly the work a run did
(its trainings, estimations and one-time supernet training) as a mixed-integer linear
program, solved to optimality by HiGHS (Huangfu & Hall, Math. Prog. Comp. 2018) through
:func:`scipy.optimize.milp`.

The model, with every step of ``step_s`` seconds and ``I[h]`` the intensity of step ``h``:

* an integer ``n[h]`` in ``[0, n_gpus]``: GPUs powered in step ``h`` (fixed to ``n_gpus``
  when the pool cannot be released);
* per indivisible item ``k`` (a training: one GPU at a time, pausable at step boundaries)
  the seconds ``z[k, h]`` in ``[0, step_s]`` it runs in step ``h``; per divisible item ``w``
  (estimation, supernet training) the GPU-seconds ``u[w, h] >= 0``; each item's seconds
  sum to its work, inside its availability window;
* capacity ``sum_k z[k, h] + sum_w u[w, h] <= step_s * n[h]``;
* objective ``sum_h I[h] / 3.6e6 * (idle_w * step_s * n[h]
  + sum_k (watts_k - idle_w) z[k, h] + sum_w (watts_w - idle_w) u[w, h])`` grams.

Every real schedule of the work is a feasible point with exactly this cost, so the optimum
is a valid **lower bound** on the carbon of any schedule of that work. Two things make it a
relaxation rather than a schedule: the precedence between a candidate's estimate and its
training is not modelled, and within a step the jobs only have to fit in total (at most
one step each, at most ``n[h]`` steps together), which a schedule meets only by moving jobs
between GPUs inside the step (McNaughton's wrap-around rule). Indivisible jobs that are
identical (seconds, power, window, label) are merged into one variable per step bounded
by ``count * step_s``, and divisible items with the same power, window and label into one;
both merges are exact (an even split recovers the individual jobs), and keep the program
small: 200 distinct jobs over 80 steps solve in a fraction of a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import Bounds, LinearConstraint, milp

from cenas.engine.energy import LedgerEntry
from cenas.errors import ConfigError

J_PER_KWH = 3.6e6
"""Joules per kilowatt-hour."""


@dataclass(frozen=True)
class WorkItem:
    """A piece of GPU work to schedule.

    Attributes:
        seconds: GPU-seconds of work.
        watts: Power of a GPU while doing it.
        divisible: ``True`` if it may spread over many GPUs within one step (estimation of
            many candidates, a supernet's training); ``False`` for one job that runs on one
            GPU at a time.
        first_step: First step in which it may run.
        last_step: Last step in which it may run (inclusive); ``None`` for the window's last.
        kind: Label the result reports the work under ("train", "estimate", "init").
    """

    seconds: float
    watts: float
    divisible: bool = False
    first_step: int = 0
    last_step: int | None = None
    kind: str = "train"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds >= 0.0):
            raise ConfigError(f"work item seconds must be finite and >= 0, got {self.seconds}")
        if not (math.isfinite(self.watts) and self.watts >= 0.0):
            raise ConfigError(f"work item watts must be finite and >= 0, got {self.watts}")
        if self.first_step < 0:
            raise ConfigError(f"work item first_step must be >= 0, got {self.first_step}")
        if self.last_step is not None and self.last_step < self.first_step:
            raise ConfigError(
                f"work item last_step {self.last_step} lies before first_step {self.first_step}"
            )


@dataclass(frozen=True)
class BoundResult:
    """The minimum-carbon schedule of a fixed amount of work.

    Attributes:
        carbon_g: The lower bound, grams CO2eq: the proven bound of the solver (equal to the
            schedule's carbon when solved to optimality, at most it when the time limit
            stopped the search); ``inf`` when the work cannot fit.
        energy_j: Energy of the schedule, joules (``inf`` when infeasible).
        feasible: ``False`` if the work cannot fit in the window.
        powered: GPUs powered in each step.
        work_s: Per kind label, the GPU-seconds of that work scheduled in each step.
        status: The solver's message.
    """

    carbon_g: float
    energy_j: float
    feasible: bool
    powered: NDArray[np.int64]
    work_s: dict[str, NDArray[np.float64]]
    status: str


@dataclass(frozen=True)
class _Group:
    """Merged work: ``count`` identical jobs or one divisible pool of ``steps`` of work."""

    steps: float  # total work, in units of step_s
    cap: float  # most work per step, in units of step_s
    watts: float
    first: int
    last: int
    kind: str


def _groups(
    work: Sequence[WorkItem], horizon: int, n_gpus: int, step_s: float, idle_w: float
) -> list[_Group]:
    """Validate the items against the window and merge the identical ones."""
    jobs: dict[tuple[float, float, int, int, str], int] = {}
    pools: dict[tuple[float, int, int, str], float] = {}
    for i, item in enumerate(work):
        if not isinstance(item, WorkItem):
            raise ConfigError(f"work[{i}] must be a WorkItem, got {type(item).__name__}")
        last = horizon - 1 if item.last_step is None else item.last_step
        if item.first_step >= horizon or last >= horizon:
            raise ConfigError(
                f"work[{i}] window [{item.first_step}, {last}] exceeds the {horizon} steps"
            )
        if item.watts < idle_w:
            raise ConfigError(f"work[{i}] watts {item.watts} lies below idle_w {idle_w}")
        if item.seconds == 0.0:
            continue
        if item.divisible:
            pkey = (item.watts, item.first_step, last, item.kind)
            pools[pkey] = pools.get(pkey, 0.0) + item.seconds
        else:
            jkey = (item.seconds, item.watts, item.first_step, last, item.kind)
            jobs[jkey] = jobs.get(jkey, 0) + 1
    groups = [
        _Group(count * sec / step_s, float(count), w, f, la, kd)
        for (sec, w, f, la, kd), count in jobs.items()
    ]
    groups += [
        _Group(sec / step_s, float(n_gpus), w, f, la, kd) for (w, f, la, kd), sec in pools.items()
    ]
    return groups


def offline_bound(
    intensity: ArrayLike,
    work: Sequence[WorkItem],
    n_gpus: int,
    step_s: float = 3600.0,
    idle_w: float = 55.0,
    allow_release: bool = True,
    time_limit_s: float = 30.0,
) -> BoundResult:
    """Minimum carbon of doing exactly ``work`` in the window, knowing its whole intensity.

    A lower bound on the carbon of any schedule of that work (see the module docstring for
    the model and why it is a relaxation).

    Args:
        intensity: Carbon intensity of every step, gCO2eq/kWh.
        work: The work to schedule.
        n_gpus: GPUs in the pool.
        step_s: Seconds per step.
        idle_w: Power of a powered GPU doing nothing, watts.
        allow_release: Whether GPUs may be released (0 W) in a step; if not, every GPU is
            powered in every step.
        time_limit_s: Solver time limit, seconds.

    Returns:
        The bound and the schedule attaining it.

    Raises:
        ConfigError: On invalid input.
    """
    if isinstance(n_gpus, bool) or not isinstance(n_gpus, int | np.integer) or n_gpus <= 0:
        raise ConfigError(f"n_gpus must be a positive integer, got {n_gpus!r}")
    if not (math.isfinite(step_s) and step_s > 0.0):
        raise ConfigError(f"step_s must be finite and > 0, got {step_s}")
    if not (math.isfinite(idle_w) and idle_w >= 0.0):
        raise ConfigError(f"idle_w must be finite and >= 0, got {idle_w}")
    if not (math.isfinite(time_limit_s) and time_limit_s > 0.0):
        raise ConfigError(f"time_limit_s must be finite and > 0, got {time_limit_s}")
    ci = np.asarray(intensity, dtype=np.float64)
    if ci.ndim != 1 or ci.size == 0:
        raise ConfigError(f"intensity must be a non-empty 1-D array, got shape {ci.shape}")
    if not (np.all(np.isfinite(ci)) and np.all(ci >= 0.0)):
        raise ConfigError("intensity must be finite and >= 0 in every step")
    n_gpus = int(n_gpus)
    horizon = ci.size
    groups = _groups(work, horizon, n_gpus, step_s, idle_w)
    kinds = list(dict.fromkeys(item.kind for item in work))

    # Variables: n[0..H-1], then per group its steps first..last, in units of step_s.
    spans = [g.last - g.first + 1 for g in groups]
    offsets = np.concatenate(([horizon], horizon + np.cumsum(spans))).astype(np.int64)
    n_vars = int(offsets[-1])
    g_per_kwh = ci / J_PER_KWH
    cost = np.empty(n_vars)
    cost[:horizon] = g_per_kwh * idle_w * step_s
    lower = np.zeros(n_vars)
    upper = np.empty(n_vars)
    upper[:horizon] = n_gpus
    if not allow_release:
        lower[:horizon] = n_gpus
    cap_rows: list[NDArray[np.int64]] = [np.arange(horizon)]
    cap_cols: list[NDArray[np.int64]] = [np.arange(horizon)]
    cap_vals: list[NDArray[np.float64]] = [np.full(horizon, -1.0)]
    sum_rows: list[NDArray[np.int64]] = []
    for i, g in enumerate(groups):
        cols = np.arange(offsets[i], offsets[i + 1])
        steps = np.arange(g.first, g.last + 1)
        cost[cols] = g_per_kwh[steps] * (g.watts - idle_w) * step_s
        upper[cols] = g.cap
        cap_rows.append(steps)
        cap_cols.append(cols)
        cap_vals.append(np.ones(cols.size))
        sum_rows.append(np.full(cols.size, i))
    capacity = sp.csr_array(
        (np.concatenate(cap_vals), (np.concatenate(cap_rows), np.concatenate(cap_cols))),
        shape=(horizon, n_vars),
    )
    constraints = [LinearConstraint(capacity, -np.inf, 0.0)]
    if groups:
        totals = np.array([g.steps for g in groups])
        n_cols = n_vars - horizon
        summing = sp.csr_array(
            (np.ones(n_cols), (np.concatenate(sum_rows), np.arange(horizon, n_vars))),
            shape=(len(groups), n_vars),
        )
        constraints.append(LinearConstraint(summing, totals, totals))
    integrality = np.zeros(n_vars)
    integrality[:horizon] = 1
    res = milp(
        cost,
        integrality=integrality,
        bounds=Bounds(lower, upper),
        constraints=constraints,
        options={"time_limit": float(time_limit_s), "mip_rel_gap": 1e-9},
    )
    status = str(res.message)
    if res.status == 2:
        return BoundResult(
            carbon_g=math.inf,
            energy_j=math.inf,
            feasible=False,
            powered=np.zeros(horizon, dtype=np.int64),
            work_s={k: np.zeros(horizon) for k in kinds},
            status=status,
        )
    if res.x is None:
        raise RuntimeError(f"offline bound: the solver found no schedule ({status})")
    x = np.asarray(res.x, dtype=np.float64)
    powered = np.rint(x[:horizon]).astype(np.int64)
    work_s = {k: np.zeros(horizon) for k in kinds}
    energy_h = idle_w * step_s * powered.astype(np.float64)
    for i, g in enumerate(groups):
        seconds = np.clip(x[offsets[i] : offsets[i + 1]], 0.0, None) * step_s
        work_s[g.kind][g.first : g.last + 1] += seconds
        energy_h[g.first : g.last + 1] += (g.watts - idle_w) * seconds
    carbon = float(np.dot(g_per_kwh, energy_h))
    dual = res.get("mip_dual_bound")
    if dual is not None and math.isfinite(dual):
        carbon = min(carbon, float(dual))
    return BoundResult(
        carbon_g=carbon,
        energy_j=float(energy_h.sum()),
        feasible=True,
        powered=powered,
        work_s=work_s,
        status=status,
    )


def work_of(entries: Sequence[LedgerEntry], until_step: int) -> list[WorkItem]:
    """The work a run did in steps ``0..until_step``, from its ledger: one indivisible item
    per training job (all its seconds so far, finished or not), and one divisible item per
    power level of the estimation and of the one-time ``init`` work. Idle and released time
    is not work: the bound decides its own.
    """
    trains: dict[int | None, list[float]] = {}
    pooled: dict[tuple[str, float], float] = {}
    for e in entries:
        if e.step > until_step or e.seconds <= 0 or e.kind in ("idle", "released"):
            continue
        watts = e.energy_j / e.seconds
        if e.kind == "train":
            acc = trains.setdefault(e.job_id, [0.0, 0.0])
            acc[0] += e.seconds
            acc[1] += e.energy_j
        else:
            key = (e.kind, round(watts, 6))
            pooled[key] = pooled.get(key, 0.0) + e.seconds
    items = [
        WorkItem(seconds=sec, watts=joules / sec, divisible=False, kind="train")
        for sec, joules in trains.values()
    ]
    items += [
        WorkItem(seconds=sec, watts=watts, divisible=True, kind=kind)
        for (kind, watts), sec in sorted(pooled.items())
    ]
    return items


__all__ = [
    "BoundResult",
    "WorkItem",
    "offline_bound",
    "work_of",
]
