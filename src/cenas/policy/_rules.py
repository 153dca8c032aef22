"""Rule-based allocation policies: vanilla, one-shot, static split, heuristic, elastic,
day-ahead, clairvoyant.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024). The heuristic follows the
rule-based allocator of CE-NAS's earlier version, which trains more when the intensity is
low relative to the coming hours; the elastic rule follows CarbonScaler (Hanafy, Liang, Lee,
Irwin, Shenoy, "CarbonScaler: Leveraging Cloud Workload Elasticity for Optimizing Carbon
Efficiency", SIGMETRICS 2024), which scales a job's servers up in the hours of lowest
marginal carbon before its deadline and releases them otherwise; the day-ahead rule commits,
once a day, to the cleanest hours of the day-ahead forecast, as carbon-aware schedulers
that shift batch work by day-ahead forecasts do (e.g. Radovanović et al., "Carbon-Aware
Computing for Datacenters", IEEE Trans. Power Systems 2023); the clairvoyant policy is
an oracle rule, not from the paper (the exact offline bound is :mod:`cenas.policy.bound`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cenas.engine.energy import PowerModel, most_efficient
from cenas.policy.base import Allocation, Decision, Policy, State, clip_gpus, with_cap


class VanillaPolicy(Policy):
    """Vanilla NAS: every GPU trains what the optimiser proposes, whatever the grid (no
    estimation, so nothing is screened)."""

    name = "vanilla"
    trains_unscreened = True

    def decide(self, state: State) -> int:
        return state.n_gpus


class OneShotPolicy(Policy):
    """All GPUs estimate but one, which trains the best estimated candidates."""

    name = "one-shot"

    def decide(self, state: State) -> int:
        return min(1, state.n_gpus)


class StaticPolicy(Policy):
    """A fixed split, blind to the grid: a share of the GPUs trains, a share is released
    (0 W), the rest estimate.

    Args:
        fraction: Share of training GPUs, in [0, 1].
        release: Share of released GPUs, in [0, 1 - fraction].
    """

    name = "static"

    def __init__(self, fraction: float = 0.5, release: float = 0.0) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("static fraction must lie in [0, 1]")
        if not 0.0 <= release <= 1.0 - fraction + 1e-9:
            raise ValueError("static release share must lie in [0, 1 - fraction]")
        self.fraction = fraction
        self.release = release

    def decide(self, state: State) -> Decision:
        n = state.n_gpus
        train = clip_gpus(self.fraction * n, n)
        if self.release <= 0:
            return train
        release = min(clip_gpus(self.release * n, n), n - train)
        return Allocation(train, n - train - release, release)


class HeuristicPolicy(Policy):
    """Train more when the intensity is low relative to the coming hours.

    With ``p`` the share of the next ``horizon`` forecast hours that are cleaner than now,
    all GPUs train when ``p <= low`` (now is among the cleanest hours), ``min_train`` train
    when ``p >= high``, and the count falls linearly in between. Training also goes to all
    GPUs once the time budget is nearly spent (``time_left <= endgame``), so estimated
    candidates are not left untrained.

    Args:
        horizon: Forecast hours compared with now (24: the daily cycle).
        low: Percentile at or below which all GPUs train.
        high: Percentile at or above which ``min_train`` GPUs train.
        min_train: Training GPUs in the dirtiest hours.
        endgame: Time-left fraction from which all GPUs train.
    """

    name = "heuristic"

    def __init__(
        self,
        horizon: int = 24,
        low: float = 0.25,
        high: float = 0.6,
        min_train: int = 0,
        endgame: float = 0.0,
    ) -> None:
        if not 0.0 <= low < high <= 1.0:
            raise ValueError("heuristic thresholds need 0 <= low < high <= 1")
        self.horizon, self.low, self.high = horizon, low, high
        self.min_train, self.endgame = min_train, endgame

    def decide(self, state: State) -> int:
        if state.time_left <= self.endgame:
            return state.n_gpus
        p = state.intensity_percentile(self.horizon)
        if p <= self.low:
            share = 1.0
        elif p >= self.high:
            share = 0.0
        else:
            share = (self.high - p) / (self.high - self.low)
        lo = min(self.min_train, state.n_gpus)
        return clip_gpus(lo + share * (state.n_gpus - lo), state.n_gpus)


class ElasticPolicy(Policy):
    """Scale the training up in the cleanest coming hours, release the pool otherwise.

    CarbonScaler's rule (Hanafy et al., SIGMETRICS 2024) for an elastic job before a
    deadline: rank the hours by marginal carbon per unit of work and give servers to the
    cheapest first. Training throughput grows linearly with GPUs here (one candidate per
    GPU), so the marginal carbon of a GPU-hour is the hour's intensity and the greedy plan
    trains with the whole pool in the cleanest ``train_share`` of the hours known ahead
    (now and the forecast, up to ``horizon`` hours and never past the time budget), with
    the ``estimate_gpus`` feeding the candidate queue in every hour and the rest released
    in the other hours. With ``estimate_share`` the estimation is scaled the same way:
    only the next-cleanest ``estimate_share`` of the hours estimate, and the dirtiest hours
    release the whole pool. Once the queue is full, the estimating GPUs are released too,
    and at the end of the time budget (``time_left <= endgame``) the whole pool trains.

    Args:
        horizon: Hours ahead (forecast) the current hour is ranked among.
        train_share: Share of those hours that train with the whole pool.
        estimate_gpus: GPUs that estimate in the hours that do not train (the rest are
            released), and beside the training GPUs in the hours that do.
        endgame: Time-left fraction from which all GPUs train.
        estimate_share: Share of the hours, after the training ones, that estimate
            (``None``: every hour estimates).
    """

    name = "elastic"

    def __init__(
        self,
        horizon: int = 24,
        train_share: float = 0.5,
        estimate_gpus: int = 4,
        endgame: float = 0.0,
        estimate_share: float | None = None,
    ) -> None:
        if horizon < 1:
            raise ValueError("elastic horizon must be at least one hour")
        if not 0.0 < train_share <= 1.0:
            raise ValueError("elastic train_share must lie in (0, 1]")
        if estimate_gpus < 0:
            raise ValueError("elastic estimate_gpus must be non-negative")
        if estimate_share is not None and not 0.0 <= estimate_share <= 1.0:
            raise ValueError("elastic estimate_share must lie in [0, 1]")
        self.horizon, self.train_share = horizon, train_share
        self.estimate_gpus, self.endgame = estimate_gpus, endgame
        self.estimate_share = estimate_share

    def _cleanest(self, state: State, share: float) -> bool:
        """Whether the current hour is among the cleanest ``share`` of the hours ahead."""
        left = max(state.n_steps - state.step - 1, 0)
        coming = np.asarray(state.forecast[: min(self.horizon, left)], dtype=np.float64)
        hours = np.concatenate([[state.intensity], coming])
        k = max(1, math.ceil(min(share, 1.0) * hours.size - 1e-9))
        return bool(state.intensity <= np.sort(hours)[k - 1])

    def trains_now(self, state: State) -> bool:
        """Whether the current hour is among the cleanest ``train_share`` of those ahead."""
        return self._cleanest(state, self.train_share)

    def decide(self, state: State) -> Decision:
        n = state.n_gpus
        if state.time_left <= self.endgame:
            return Allocation(n, 0, 0)
        est = min(self.estimate_gpus, n)
        if state.queue_len >= state.queue_capacity:
            est = 0
        if self.trains_now(state):
            return Allocation(n - est, est, 0)
        share = self.estimate_share
        if share is not None and not self._cleanest(state, self.train_share + share):
            est = 0
        return Allocation(0, est, n - est)


class DayAheadPolicy(Policy):
    """Work only in the cleanest hours of each day, as the day's forecast ranks them, and
    spend what the carbon budget leaves over late in the window.

    At the first hour of every block of ``block`` hours the rule ranks that hour (its
    measured intensity) and the next ``block - 1`` forecast hours, and commits to the
    ``work_hours`` cleanest: in those the pool runs the static split (``fraction`` of the
    GPUs train, the rest estimate); in the others the whole pool is released (0 W). The
    plan is not revised inside the block: an hour is compared with forecasts made at the
    same time, never its measured intensity with a later forecast, whose errors would
    otherwise keep pushing the work to a cleaner-looking future. Hours past the forecast's
    end do not work, nor hours past the study's: a last block cut short by the study's end
    works its share of ``work_hours`` (at least one hour). A policy that first sees a block
    after its first hour (a live study resumed inside it; simulated studies resume by
    replay) plans the block's remaining hours then. Defaults tuned on the 2022 windows
    (``benchmarks/lever.py --tune-day-ahead``): 6 of 24 hours.

    **Budget pacing** (``spend_surplus``): a study with a carbon budget that this plan
    would leave partly unspent works more hours, latest first, in the spirit of
    CarbonScaler (Hanafy et al., SIGMETRICS 2024: scale the work with the carbon of each
    hour within the deadline). The rule measures what a working hour costs from the
    budget share each one used (the drop of ``State.carbon_left`` per gCO2eq/kWh of the
    hour's intensity). At a block's first hour it projects the spend of this block's plan
    and of the same plan in every later block (this block's forecast standing in for
    theirs), keeps ``reserve`` of the budget left, and lets the later blocks, last first,
    absorb the surplus up to working every hour; what they cannot absorb adds this
    block's next-cleanest hours. The first block, before any working hour has been
    measured, and a study without a budget keep the plain plan. Early hours stay
    selective, so the carbon to a given hypervolume is the plain rule's, while a large
    budget is not left unused at the deadline.

    Args:
        block: Hours per plan.
        work_hours: Hours of each block that work (at least; pacing may add more).
        fraction: Share of the working pool that trains.
        spend_surplus: Pace the budget as above.
        reserve: Share of the remaining budget pacing keeps unspent.
    """

    name = "day-ahead"

    def __init__(
        self,
        block: int = 24,
        work_hours: int = 6,
        fraction: float = 0.5,
        spend_surplus: bool = True,
        reserve: float = 0.05,
    ) -> None:
        if block < 1 or not 1 <= work_hours <= block:
            raise ValueError("day-ahead needs block >= 1 and 1 <= work_hours <= block")
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("day-ahead fraction must lie in [0, 1]")
        if not 0.0 <= reserve < 1.0:
            raise ValueError("day-ahead reserve must lie in [0, 1)")
        self.block, self.work_hours, self.fraction = block, work_hours, fraction
        self.spend_surplus, self.reserve = spend_surplus, reserve
        self.reset()

    def reset(self) -> None:
        self._plan_start = self._last_step = -1
        self._work: frozenset[int] = frozenset()
        self._costs: list[float] = []  # budget share per gCO2eq/kWh of a working hour
        self._worked: tuple[int, float, float] | None = None  # step, carbon_left, intensity

    def _measure(self, state: State) -> None:
        """Record the budget share the previous step used, if it worked."""
        if state.step < self._last_step:  # a new study on the same policy
            self._costs, self._worked = [], None
        if self._worked is not None and state.step == self._worked[0]:
            return  # asked again within the step
        if self._worked is not None and state.step == self._worked[0] + 1:
            used = self._worked[1] - state.carbon_left
            if used > 0.0 and self._worked[2] > 0.0:
                self._costs.append(used / self._worked[2])
        self._worked = None

    def _paced_hours(self, state: State, ranked: NDArray[np.float64], start: int, k: int) -> int:
        """Hours of this block to work: the plan's ``k`` plus what the surplus pays for."""
        k = min(k, ranked.size)
        if not (self.spend_surplus and self._costs):
            return k
        cost = float(np.mean(self._costs))
        plan = cost * float(ranked[:k].sum())
        full = cost * float(ranked.sum())
        later: list[float] = []  # later blocks' lengths, in this block's hours
        rest = state.n_steps - (start + self.block)
        while rest > 0:
            later.append(min(self.block, rest) / ranked.size)
            rest -= self.block
        surplus = state.carbon_left * (1.0 - self.reserve) - plan * (1.0 + sum(later))
        for share in reversed(later):  # the last block absorbs first
            surplus -= min(max(surplus, 0.0), (full - plan) * share)
        while k < ranked.size and cost * float(ranked[k]) <= surplus:
            surplus -= cost * float(ranked[k])
            k += 1
        return k

    def plan(self, state: State) -> frozenset[int]:
        """The steps of the current block that work (planned at its first step; a step
        before the last one seen is a new study's, planned afresh even without a reset)."""
        self._measure(state)
        start = state.step - state.step % self.block
        if start != self._plan_start or state.step < self._last_step:
            end = min(start + self.block, max(state.n_steps, state.step + 1))
            left = end - state.step  # hours of the block from now on, within the study
            ahead = np.asarray(state.forecast[: left - 1], dtype=np.float64)
            hours = np.concatenate([[state.intensity], ahead])
            order = np.argsort(hours, kind="stable")
            k = self.work_hours  # a block cut short by the study's end works its share
            if end - start < self.block:
                k = max(1, round(self.work_hours * (end - start) / self.block))
            k = self._paced_hours(state, hours[order], start, k)
            self._plan_start = start
            self._work = frozenset(state.step + int(i) for i in order[:k])
        self._last_step = state.step
        return self._work

    def decide(self, state: State) -> Allocation:
        n = state.n_gpus
        if state.step not in self.plan(state):
            return Allocation(0, 0, n)
        self._worked = (state.step, state.carbon_left, state.intensity)
        train = clip_gpus(self.fraction * n, n)
        return Allocation(train, n - train, 0)


class CapRule(Policy):
    """Adds a power-cap level to another policy's allocation, every step.

    Power capping trades time for energy: below the default limit a GPU's training runs a
    little slower and draws markedly less (Zeus, You, Chung, Chowdhury, NSDI 2023, whose
    published profiles give the study's levels). ``efficient`` runs every step at the
    level with the least energy per unit of training; ``carbon`` does so only in the hours
    dirtier than the median of the coming ``horizon`` hours and runs uncapped in the
    cleaner ones, where the extra throughput is worth most. The inner policy's split is
    kept.

    Args:
        inner: The policy whose split is capped.
        mode: ``efficient`` or ``carbon``.
        horizon: Forecast hours the ``carbon`` rule ranks the current hour among.
    """

    def __init__(self, inner: Policy, mode: str = "efficient", horizon: int = 24) -> None:
        if mode not in ("efficient", "carbon"):
            raise ValueError("cap rule mode must be 'efficient' or 'carbon'")
        self.inner, self.mode, self.horizon = inner, mode, horizon
        self.name = inner.name
        self.trains_unscreened = inner.trains_unscreened

    def level(self, state: State) -> int:
        """The cap level for ``state`` (0: uncapped)."""
        best = most_efficient(state.cap_energy)
        if best == 0 or self.mode == "efficient":
            return best
        return best if state.intensity_percentile(self.horizon) > 0.5 else 0

    def decide(self, state: State) -> Allocation:
        return with_cap(self.inner.decide(state), state.n_gpus, self.level(state))

    def reset(self) -> None:
        self.inner.reset()


class ClairvoyantPolicy(Policy):
    """Knows the whole window's intensity ahead and trains only in its cleanest hours.

    The reference bound for learned policies. Hours are added to the training set in order
    of increasing intensity — at most the cleanest ``train_fraction`` of the window, and
    only while the training in the chosen hours (every GPU at training power) fits
    ``budget_margin`` of the carbon budget, the rest being left for estimation and idle
    time: a fractional-knapsack argument, since for a fixed amount of training the cleanest
    hours are the cheapest. The other hours estimate.

    Args:
        window: Intensity of every step of the window, gCO2eq/kWh.
        n_gpus: GPUs in the pool.
        power: GPU power model.
        step_hours: Hours per step.
        carbon_budget_g: Carbon budget, or ``None``.
        train_fraction: Share of hours that train when there is no budget.
        budget_margin: Share of the budget the training plan may use.
    """

    name = "clairvoyant"

    def __init__(
        self,
        window: ArrayLike,
        n_gpus: int,
        power: PowerModel,
        step_hours: float = 1.0,
        carbon_budget_g: float | None = None,
        train_fraction: float = 0.3,
        budget_margin: float = 0.8,
    ) -> None:
        values = np.asarray(window, dtype=np.float64)
        order = np.argsort(values, kind="stable")
        kwh = step_hours * n_gpus / 1000.0
        self.train_steps = np.zeros(values.shape[0], dtype=bool)
        k = max(1, round(train_fraction * values.shape[0]))
        spent = 0.0
        limit = math.inf if carbon_budget_g is None else budget_margin * carbon_budget_g
        for s in order[:k]:
            extra = float(values[s] * kwh * power.train_w)
            if spent + extra > limit:
                break
            spent += extra
            self.train_steps[s] = True

    def decide(self, state: State) -> int:
        if state.step >= self.train_steps.shape[0]:
            return state.n_gpus
        return state.n_gpus if self.train_steps[state.step] else 0


__all__ = [
    "CapRule",
    "ClairvoyantPolicy",
    "DayAheadPolicy",
    "ElasticPolicy",
    "HeuristicPolicy",
    "OneShotPolicy",
    "StaticPolicy",
    "VanillaPolicy",
]
