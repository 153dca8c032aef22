"""Estimators (cheap, approximate objectives) and trainers (expensive, true objectives).

The engine asks an estimator or a trainer two things about a cell: how many GPU-seconds
the work takes and what objectives it yields; an estimator also states the one-time
GPU-seconds it needs before its first estimate (:attr:`Estimator.init_cost_s`, a
supernet's training). Tabular implementations answer from tables; live implementations
(:mod:`cenas.estimators`) run real PyTorch jobs and produce those tables.

Simulator estimators (objectives in minimisation form, as everywhere in
:mod:`cenas.optimize`; latency on the task's device is always the measured one):

* ``low-fidelity``: the real 12-epoch accuracy, at 12/200 of the training cost;
* ``oracle``: the true 200-epoch accuracy at the low-fidelity cost (a reference bound);
* ``one-shot`` / ``few-shot``: the CIFAR-10 validation accuracy each cell reaches with
  weights inherited from a trained supernet (one supernet, or five sub-supernets), as
  published by Zhao, Wei, Wang, Pan, Guo, Ding, Liu, "Few-shot Neural Architecture Search"
  (ICML 2021). CIFAR-10 tasks only. An estimate costs one validation pass of the inherited
  sub-network (:class:`SupernetCostModel`); the supernet training, 6.8 (one-shot) and 10.1
  (few-shot) GPU-hours as the paper reports, is the one-time ``init_cost_s`` that the
  engine charges before the first estimate;
* ``zero-cost:<proxy>`` and ``zero-cost:vote``: zero-cost proxies at initialisation
  (Abdelfattah, Mehrotra, Dudziak, Lane, "Zero-Cost Proxies for Lightweight NAS", ICLR 2021;
  NASWOT: Mellor, Turner, Storkey, Crowley, ICML 2021; definitions in
  :mod:`cenas.estimators`) read from the table
  ``nb201_proxies.csv.gz`` that ``cenas estimators table`` computes. A proxy score is not
  an accuracy, so each is mapped to its **percentile rank** among the table's cells
  (0 = worst, 100 = best, ties share their mean rank, a measured cell whose score is
  undefined ranks below every number): the queue and the hypervolume-gain
  selection compare estimates with estimates, and percentiles put every proxy on one
  accuracy-like 0-100 scale (every proxy's score is oriented higher-better as Abdelfattah et
  al. use it). ``vote`` is the percentile rank of the mean percentile of
  :data:`cenas.estimators.VOTE_MEMBERS`. An estimate costs the seconds the table measured
  for that cell and proxy (vote: the sum of its members), on the table's device;
* ``predictor`` and ``predictor:<estimator>``: a Gaussian process fitted on the trained
  cells' true accuracies, alone or with another estimator's estimate as a feature.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import rankdata
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from cenas.bench import NB201Task, load_nb201_table
from cenas.engine.energy import PowerClass
from cenas.errors import ConfigError, DataError


class Estimator(ABC):
    """Cheap estimate of a cell's objectives."""

    name: str = "estimator"

    @property
    def init_cost_s(self) -> float:
        """GPU-seconds of one-time work before the first estimate (0 for none).

        The engine runs it as a job on the estimating GPUs at the start of a study and
        produces no estimate before it is done (a supernet's training, say).
        """
        return 0.0

    @property
    def cost_basis(self) -> str:
        """Where :meth:`cost_s` comes from, in words (for reports)."""
        return "modelled from the measured GTX 1080 Ti batch-256 latency"

    @property
    def power_class(self) -> PowerClass:
        """What an estimate computes, for its power (:meth:`PowerModel.estimator_w`): short
        training by default."""
        return "train"

    @abstractmethod
    def cost_s(self, arch: int) -> float:
        """GPU-seconds one estimate of ``arch`` takes."""

    @abstractmethod
    def estimate(self, arch: int) -> NDArray[np.float64]:
        """Estimated objectives of ``arch`` (minimisation form)."""

    def update(self, archs: NDArray[np.int64], objectives: NDArray[np.float64]) -> None:  # noqa: B027
        """Learn from trained results (default: nothing)."""

    def tabulate(self) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """Accuracy-like score (higher better) and cost in seconds of every cell.

        Arrays of the space's size in enumeration order, NaN where a table has no value;
        ``None`` for estimators that learn (their answers depend on what was trained).
        """
        return None


class Trainer(ABC):
    """Full training of a cell, yielding its true objectives."""

    name: str = "trainer"

    @abstractmethod
    def cost_s(self, arch: int) -> float:
        """GPU-seconds one full training of ``arch`` takes."""

    @abstractmethod
    def train(self, arch: int) -> NDArray[np.float64]:
        """True objectives of ``arch`` (minimisation form)."""


class TabularTrainer(Trainer):
    """Answers from the benchmark table: 200-epoch accuracy, measured latency."""

    name = "tabular"

    def __init__(self, task: NB201Task) -> None:
        self.task = task

    def cost_s(self, arch: int) -> float:
        return float(self.task.train_cost(arch))

    def train(self, arch: int) -> NDArray[np.float64]:
        return np.asarray(self.task.objectives(arch), dtype=np.float64)


class LowFidelityEstimator(Estimator):
    """The real 12-epoch accuracy (and the exact latency), at 12/200 of the training cost."""

    name = "low-fidelity"

    def __init__(self, task: NB201Task) -> None:
        self.task = task

    def cost_s(self, arch: int) -> float:
        return float(self.task.estimate_cost(arch))

    def estimate(self, arch: int) -> NDArray[np.float64]:
        return np.asarray(self.task.low_fidelity(arch), dtype=np.float64)

    def tabulate(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        cells = np.arange(self.task.space.size)
        score = -np.asarray(self.task.low_fidelity(cells), dtype=np.float64)[:, 0]
        return score, np.asarray(self.task.estimate_cost(cells), dtype=np.float64)


class OracleEstimator(LowFidelityEstimator):
    """The true 200-epoch objectives, at the low-fidelity estimate's cost: a reference bound.

    No real estimator knows the final accuracy; this one measures how much carbon a perfect
    estimator of the same cost could save, a ceiling for any estimator of that cost
    (``benchmarks/rl.py`` reports it with the static split as ``static-oracle``). Only the
    answer differs from :class:`LowFidelityEstimator`; the cost is inherited.
    """

    name = "oracle"

    def estimate(self, arch: int) -> NDArray[np.float64]:
        return np.asarray(self.task.objectives(arch), dtype=np.float64)

    def tabulate(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        cells = np.arange(self.task.space.size)
        score = -np.asarray(self.task.objectives(cells), dtype=np.float64)[:, 0]
        return score, np.asarray(self.task.estimate_cost(cells), dtype=np.float64)


# ------------------------------------------------------------------- supernets
SUPERNETS: dict[str, tuple[str, float]] = {
    "one-shot": ("one_shot", 6.8),
    "few-shot": ("few_shot", 10.1),
}
"""Supernet estimator -> (column of ``nb201_supernet.csv.gz``, GPU-hours of its training).

The GPU-hours are the Few-shot NAS paper's figures for NAS-Bench-201 (one supernet trained
600 epochs; five sub-supernets of 300 epochs each, warm-started from it)."""


@functools.cache
def load_supernet_table() -> pd.DataFrame:
    """The bundled supernet accuracies, re-indexed by space enumeration index.

    Returns:
        A frame of 15,625 rows (``index``, ``arch_str``, ``one_shot``, ``few_shot``) whose
        position ``i`` is the cell ``NB201Space().from_index(i)``.
    """
    path = resources.files("cenas") / "data" / "nb201" / "nb201_supernet.csv.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        table = pd.read_csv(fh)
    order = _enumeration_order(table["arch_str"])
    if sorted(order.tolist()) != list(range(len(load_nb201_table()))):
        raise RuntimeError("bundled nb201_supernet.csv.gz does not cover every cell once")
    return table.iloc[np.argsort(order)].reset_index(drop=True)


def _enumeration_order(arch_strs: pd.Series) -> NDArray[np.int64]:
    """Space enumeration index of each ``arch_str``."""
    lookup = {s: i for i, s in enumerate(load_nb201_table()["arch_str"])}
    return np.array([lookup[s] for s in arch_strs], dtype=np.int64)


@dataclass(frozen=True)
class SupernetCostModel:
    """GPU-seconds of one supernet estimate: one validation pass of the inherited sub-network.

    The pass is BatchNorm recalibration (forward passes over ``recalibration_batches``
    training batches of 256) and then the evaluation of the validation set (forward only),
    derived from the cell's measured batch-256 latency on the reference GPU exactly as
    :class:`~cenas.bench.TrainingCostModel` derives training (there with 3 passes per
    batch, here 1, and its per-epoch overhead once for loading and evaluation)::

        (recalibration_batches + ceil(n_valid / 256)) * latency_256 + epoch_overhead_s

    With NAS-Bench-201's CIFAR-10 validation split (25,000 images) and 10 recalibration
    batches that is ``108 * latency_256 + 2 s``: 2.9-5.8 s on the GTX 1080 Ti.

    Attributes:
        n_valid: Validation images evaluated per estimate.
        recalibration_batches: Training batches of 256 for BatchNorm recalibration.
    """

    n_valid: int = 25_000
    recalibration_batches: int = 10

    def seconds(self, task: NB201Task) -> NDArray[np.float64]:
        """GPU-seconds of one estimate of every cell (enumeration order)."""
        gpu = task.cost_model.gpu
        lat_ms = load_nb201_table()[f"latency_ms_{gpu}_256"].to_numpy(np.float64)
        passes = self.recalibration_batches + math.ceil(self.n_valid / 256)
        return np.asarray(
            passes * lat_ms / 1000.0 + task.cost_model.epoch_overhead_s, dtype=np.float64
        )


class SupernetEstimator(Estimator):
    """A one-shot or few-shot supernet estimate: the inherited sub-network's validation accuracy.

    The accuracy is the published CIFAR-10 validation accuracy of the cell inside the
    trained supernet (Few-shot NAS, ICML 2021); latency is the measured one. The one-time
    supernet training (:attr:`init_cost_s`) is charged by the engine before any estimate.

    Args:
        task: A CIFAR-10 task.
        kind: ``one-shot`` or ``few-shot``.
        cost_model: Seconds of one estimate.

    Raises:
        ConfigError: For a task on another data set, or an unknown kind.
    """

    def __init__(
        self, task: NB201Task, kind: str, cost_model: SupernetCostModel | None = None
    ) -> None:
        if kind not in SUPERNETS:
            raise ConfigError(f"estimator: unknown supernet {kind!r}; choose one-shot or few-shot")
        _require_cifar10(kind, task)
        self.task = task
        self.name = kind
        column, gpu_hours = SUPERNETS[kind]
        self.gpu_hours = gpu_hours
        self._acc = load_supernet_table()[column].to_numpy(np.float64)
        self._seconds = (cost_model or SupernetCostModel()).seconds(task)

    @property
    def init_cost_s(self) -> float:
        return self.gpu_hours * 3600.0

    @property
    def power_class(self) -> PowerClass:
        return "inference"

    @property
    def cost_basis(self) -> str:
        return "one validation pass, modelled from the measured GTX 1080 Ti batch-256 latency"

    def cost_s(self, arch: int) -> float:
        return float(self._seconds[int(arch)])

    def estimate(self, arch: int) -> NDArray[np.float64]:
        latency = float(self.task.objectives(arch)[1])
        return np.array([-float(self._acc[int(arch)]), latency])

    def tabulate(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return self._acc.copy(), self._seconds.copy()


def _require_cifar10(name: str, task: NB201Task) -> None:
    if task.dataset != "cifar10":
        raise ConfigError(
            f"estimator: {name} applies only to CIFAR-10 tasks (its supernets were trained on "
            f"CIFAR-10), not to {task.name}"
        )


# ------------------------------------------------------------- zero-cost proxies
def proxy_names() -> tuple[str, ...]:
    """The zero-cost proxies, as :data:`cenas.estimators.PROXIES` defines them.

    Imported on demand: the live estimators import torch, which the simulator needs only
    when a zero-cost estimator is asked for.
    """
    from cenas.estimators._proxies import PROXIES

    return PROXIES


def vote_members() -> tuple[str, ...]:
    """The proxies of ``zero-cost:vote`` (:data:`cenas.estimators.VOTE_MEMBERS`)."""
    from cenas.estimators._proxies import VOTE_MEMBERS

    return VOTE_MEMBERS


PROXY_TABLE_COMMAND = (
    "cenas estimators table --data CIFAR10 --out DIR --proxies {proxy} "
    "&& cenas estimators ship --from DIR"
)
"""The commands that compute (or complete, resuming in DIR) a proxy's column of the table;
CIFAR10 is the copy of CIFAR-10 the shipped table was measured on (its provenance names it)."""


def proxy_table_path() -> Path:
    """The packaged zero-cost proxy table (``cenas/data/nb201/nb201_proxies.csv.gz``)."""
    return Path(str(resources.files("cenas") / "data" / "nb201" / "nb201_proxies.csv.gz"))


@dataclass(frozen=True)
class ProxyTable:
    """Zero-cost proxy scores and their measured seconds, per cell.

    Attributes:
        path: The CSV (``index``, ``arch_str``, then ``<proxy>`` and ``<proxy>_s`` columns).
        frame: One row per cell in space enumeration order; NaN where not computed.
        info: The provenance JSON beside it (``nb201_proxies.json``).
    """

    path: Path
    frame: pd.DataFrame
    info: dict[str, Any]

    def device(self, proxy: str | None = None) -> str:
        """The device the seconds were measured on, as the JSON records it.

        Read from the runs of ``provenance.runs`` that measured ``proxy`` (every run for
        ``None``; the members' runs for ``vote``), as ``device_name (device)``, else from
        a top-level ``device`` key.
        """
        wanted = set(vote_members()) if proxy == "vote" else {proxy}
        runs = self.info.get("provenance", {}).get("runs", [])
        names: list[str] = []
        for run in runs if isinstance(runs, list) else []:
            if not isinstance(run, dict):
                continue
            if proxy is not None and not wanted & set(run.get("proxies", [])):
                continue
            label = str(run.get("device_name") or run.get("device") or "")
            if run.get("device_name") and run.get("device"):
                label = f"{run['device_name']} ({run['device']})"
            if label and label not in names:
                names.append(label)
        if not names and self.info.get("device"):
            names.append(str(self.info["device"]))
        return " and ".join(names) if names else "an unrecorded device"

    def _column(self, name: str) -> NDArray[np.float64]:
        if name not in self.frame.columns:
            return np.full(len(self.frame), np.nan)
        return self.frame[name].to_numpy(np.float64)

    def raw(self, proxy: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Score and seconds of every cell; both NaN where the cell was not measured.

        A cell is measured when its seconds are there; a measured cell's score may still be
        NaN where the proxy is undefined (``jacob_cov`` of a cell whose output ignores its
        input), which :meth:`scores` ranks below every number.
        """
        score, secs = self._column(proxy).copy(), self._column(f"{proxy}_s").copy()
        measured = np.isfinite(secs)
        score[~measured] = np.nan
        secs[~measured] = np.nan
        return score, secs

    def scores(self, proxy: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Percentile rank (0-100, higher better) and seconds of every cell for ``proxy``.

        Ranks run over the measured cells; an undefined (NaN) score ranks below every
        number, ties sharing their mean rank, as :func:`cenas.estimators.vote_ranks` does.
        ``vote`` ranks, on the cells all of :func:`vote_members` measured, the mean of the
        members' percentile ranks among those cells; its seconds are the sum of theirs.
        Cells not measured are NaN in both.
        """
        if proxy != "vote":
            score, secs = self.raw(proxy)
            return percentile_rank(score, measured=np.isfinite(secs)), secs
        members = [self.raw(m) for m in vote_members()]
        common = np.all([np.isfinite(secs) for _, secs in members], axis=0)
        ranks = [percentile_rank(score, measured=common) for score, _ in members]
        mean = np.mean(ranks, axis=0)  # NaN off the common cells
        secs = np.sum([m[1] for m in members], axis=0)
        secs[~common] = np.nan
        return percentile_rank(mean, measured=common), secs

    def coverage(self, proxy: str) -> int:
        """Cells measured for ``proxy`` (for ``vote``: by all of its members)."""
        return int(np.isfinite(self.scores(proxy)[1]).sum())


def percentile_rank(
    scores: NDArray[np.float64], measured: NDArray[np.bool_] | None = None
) -> NDArray[np.float64]:
    """Map scores to their percentile rank among the measured cells: 0 worst, 100 best.

    ``100 * (rank - 1) / (n - 1)`` with 1-based ascending ranks over the ``n`` measured
    cells (default: those with a non-NaN score), ties sharing their mean rank; a measured
    cell whose score is NaN (undefined) ranks below every number; cells not measured are
    NaN; a single measured cell maps to 100.

    Args:
        scores: One score per cell (higher is better).
        measured: Which cells were measured.
    """
    scores = np.asarray(scores, dtype=np.float64)
    measured = ~np.isnan(scores) if measured is None else np.asarray(measured, dtype=bool)
    out = np.full(scores.shape, np.nan)
    n = int(measured.sum())
    if n == 1:
        out[measured] = 100.0
    elif n > 1:
        undefined = measured & np.isnan(scores)
        defined = measured & ~np.isnan(scores)
        k = int(undefined.sum())
        ranks = np.empty(scores.shape)
        ranks[undefined] = (k + 1) / 2.0
        ranks[defined] = rankdata(scores[defined], method="average") + k
        out[measured] = 100.0 * (ranks[measured] - 1.0) / (n - 1)
    return out


def load_proxy_table(path: Path | None = None) -> ProxyTable:
    """Read a proxy table (default: the packaged one), cached by path and modification time.

    Raises:
        DataError: If the CSV or its JSON is missing or malformed.
    """
    p = Path(path) if path is not None else proxy_table_path()
    if not p.is_file():
        raise DataError(
            f"{p}: no zero-cost proxy table; compute it with "
            f"`{PROXY_TABLE_COMMAND.format(proxy='<proxy>')}`"
        )
    return _read_proxy_table(str(p.resolve()), p.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _read_proxy_table(path: str, mtime_ns: int) -> ProxyTable:
    p = Path(path)
    info_path = p.with_name(p.name.removesuffix(".gz").removesuffix(".csv") + ".json")
    try:
        frame = pd.read_csv(p)
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: not a readable proxy table ({exc})") from None
    if "arch_str" not in frame.columns:
        raise DataError(f"{p}: no arch_str column")
    known = set(load_nb201_table()["arch_str"])
    unknown = [s for s in frame["arch_str"] if s not in known]
    if unknown:
        raise DataError(f"{p}: arch_str {unknown[0]!r} is not a NAS-Bench-201 cell")
    if frame["arch_str"].duplicated().any():
        raise DataError(f"{p}: a cell appears twice")
    order = _enumeration_order(frame["arch_str"])
    full = pd.DataFrame(index=pd.RangeIndex(len(load_nb201_table())))
    for col in frame.columns:
        if col in ("index", "arch_str"):
            continue
        values = np.full(len(full), np.nan)
        values[order] = pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64)
        full[col] = values
    full["arch_str"] = load_nb201_table()["arch_str"].to_numpy()
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{info_path}: the proxy table's provenance file is missing") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{info_path}: invalid JSON ({exc})") from None
    if not isinstance(info, dict):
        raise DataError(f"{info_path}: expected a JSON object")
    return ProxyTable(path=p, frame=full, info=info)


class ZeroCostEstimator(Estimator):
    """A zero-cost proxy (or the vote of three) as a percentile-rank accuracy estimate.

    The estimate's accuracy is the proxy's percentile rank among the table's cells (0-100,
    higher better; see the module docstring); latency is the measured one. An estimate costs
    the seconds the table recorded for that cell (vote: the sum over its members), measured
    on the table's device.

    Args:
        task: The task (for latencies).
        proxy: A name of :func:`proxy_names` or ``vote``.
        table: The proxy table (default: the packaged one).
        require_complete: Refuse a table that lacks any cell for this proxy (the engine
            needs every cell; the quality evaluation works on the covered ones).

    Raises:
        ConfigError: For an unknown proxy or, with ``require_complete``, missing cells.
    """

    def __init__(
        self,
        task: NB201Task,
        proxy: str,
        table: ProxyTable | None = None,
        require_complete: bool = True,
    ) -> None:
        names = (*proxy_names(), "vote")
        if proxy not in names:
            raise ConfigError(
                f"estimator: unknown proxy {proxy!r} in zero-cost:{proxy}; choose one of "
                f"{', '.join(names)}"
            )
        self.task = task
        self.proxy = proxy
        self.name = f"zero-cost:{proxy}"
        self.table = table or load_proxy_table()
        self._score, self._seconds = self.table.scores(proxy)
        n = int(np.isfinite(self._seconds).sum())
        if require_complete and n < len(self._score):
            members = vote_members() if proxy == "vote" else (proxy,)
            raise ConfigError(
                f"estimator: {self.name} covers {n:,} of {len(self._score):,} cells in "
                f"{self.table.path}; complete it with "
                f"`{PROXY_TABLE_COMMAND.format(proxy=','.join(members))}`"
            )

    @property
    def power_class(self) -> PowerClass:
        return "proxy"

    @property
    def cost_basis(self) -> str:
        return f"measured per cell on {self.table.device(self.proxy)}"

    @property
    def coverage(self) -> int:
        """Cells the table measured for this proxy."""
        return int(np.isfinite(self._seconds).sum())

    def cost_s(self, arch: int) -> float:
        return float(self._seconds[int(arch)])

    def estimate(self, arch: int) -> NDArray[np.float64]:
        latency = float(self.task.objectives(arch)[1])
        return np.array([-float(self._score[int(arch)]), latency])

    def tabulate(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return self._score.copy(), self._seconds.copy()


# ------------------------------------------------------------------- predictor
def onehot_ops(space: Any, archs: NDArray[np.int64]) -> NDArray[np.float64]:
    """One-hot encoding of NAS-Bench-201 cells' operations, ``(n, edges * n_ops)``.

    Args:
        space: A space with ``indices_to_ops`` and ``n_ops`` (:class:`cenas.space.NB201Space`).
        archs: Enumeration indices.
    """
    ops = space.indices_to_ops(np.atleast_1d(archs))
    onehot = np.zeros((ops.shape[0], ops.shape[1] * space.n_ops))
    cols = ops + np.arange(ops.shape[1]) * space.n_ops
    onehot[np.arange(ops.shape[0])[:, None], cols] = 1.0
    return onehot


def fit_line(z: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    """Least-squares line ``y ≈ a + b · z``: ``(a, b)``; ``b = 0`` when ``z`` is constant."""
    slope = float(np.polyfit(z, y, 1)[0]) if np.ptp(z) > 0 else 0.0
    return float(np.mean(y) - slope * np.mean(z)), slope


def fit_gp(x: NDArray[np.float64], y: NDArray[np.float64], seed: int) -> GaussianProcessRegressor:
    """The predictor's Gaussian process fitted on features ``x`` and targets ``y``.

    A constant times a Matérn-5/2 kernel (initial length scale 2) plus white noise, with
    normalised targets (Rasmussen and Williams, "Gaussian Processes for Machine Learning",
    MIT Press 2006, ch. 4-5); the hyperparameters maximise the marginal likelihood.

    Args:
        x: Features, ``(n, d)``.
        y: Targets, ``(n,)``.
        seed: Seed of the optimiser's restarts.
    """
    kernel = ConstantKernel(1.0) * Matern(length_scale=2.0, nu=2.5) + WhiteKernel(1e-2)
    gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=seed)
    with warnings.catch_warnings():
        # a noise level at a bound is expected (the tabular accuracies are exact; a live
        # study fits few, noisy cells)
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(x, y)
    return gp


class PredictorEstimator(Estimator):
    """A Gaussian-process predictor of accuracy learned from the trained cells.

    Latency on the target device is measured, not predicted (a cheap lookup or a
    benchmark of one forward pass), so only the accuracy is learned. The GP uses a Matérn-5/2
    kernel on the cells' one-hot encoding; before ``min_train`` trained cells exist it
    predicts the mean accuracy of the 12-epoch-free prior (all cells equal), which ranks
    candidates by latency alone.

    With a ``base`` estimator (``predictor:<estimator>``) the GP also learns from the base
    estimates: the base estimate is a feature of a linear mean function, fitted by least
    squares on the trained cells (true accuracy ≈ a + b · base estimate), and the GP models
    what that line misses as a function of the cell's operations. Before ``min_train``
    trained cells exist it answers the base estimate itself (estimates queued then stay in
    the base's units, as the plain predictor's constant guesses stay in theirs). A
    prediction costs the base estimate plus ``cost_seconds``, and the base's one-time cost
    is the predictor's. A trained cell that was never estimated (taken straight from the
    optimiser while the queue was empty) gets its base estimate for the fit uncharged:
    seconds for a supernet or a proxy, but 12/200 of its training for the low-fidelity base,
    an undercount. Only trained results count toward hypervolume, as for every estimator.

    Args:
        task: The task (for latencies).
        cost_seconds: GPU-seconds per prediction (near zero; default one second).
        min_train: Trained cells needed before the GP is fitted.
        seed: Seed of the GP's optimiser restarts.
        base: The estimator whose estimates the GP also learns from (``None``: none).
    """

    name = "predictor"

    def __init__(
        self,
        task: NB201Task,
        cost_seconds: float = 1.0,
        min_train: int = 5,
        seed: int = 0,
        base: Estimator | None = None,
    ) -> None:
        self.task = task
        self.cost_seconds = cost_seconds
        self.min_train = min_train
        self.seed = seed
        self.base = base
        if base is not None:
            self.name = f"predictor:{base.name}"
        self._gp: GaussianProcessRegressor | None = None
        self._mean = 0.0
        self._line = (0.0, 0.0)

    @property
    def init_cost_s(self) -> float:
        return 0.0 if self.base is None else self.base.init_cost_s

    @property
    def power_class(self) -> PowerClass:
        """The base's (a prediction itself is a GP on a CPU, seconds); a proxy's without one."""
        return "proxy" if self.base is None else self.base.power_class

    @property
    def cost_basis(self) -> str:
        if self.base is None:
            return "a fixed second per prediction"
        return f"{self.base.name}'s cost ({self.base.cost_basis}) plus a second per prediction"

    def _features(self, archs: NDArray[np.int64]) -> NDArray[np.float64]:
        return onehot_ops(self.task.space, archs)

    def _base_value(self, archs: NDArray[np.int64]) -> NDArray[np.float64]:
        """The base's accuracy estimates, minimisation form (``-accuracy``)."""
        assert self.base is not None
        return np.array([float(self.base.estimate(int(a))[0]) for a in np.atleast_1d(archs)])

    def cost_s(self, arch: int) -> float:
        if self.base is None:
            return self.cost_seconds
        return self.base.cost_s(arch) + self.cost_seconds

    def update(self, archs: NDArray[np.int64], objectives: NDArray[np.float64]) -> None:
        if len(archs) < self.min_train:
            return
        y = np.asarray(objectives)[:, 0]
        self._mean = float(y.mean())
        if self.base is not None:
            z = self._base_value(np.asarray(archs))
            self._line = fit_line(z, y)
            y = y - (self._line[0] + self._line[1] * z)
        self._gp = fit_gp(self._features(np.asarray(archs)), y, self.seed)

    def predict_accuracy(self, archs: NDArray[np.int64]) -> NDArray[np.float64]:
        """Predicted accuracy (minimisation form, ``-accuracy``) of many cells at once."""
        archs = np.atleast_1d(np.asarray(archs, dtype=np.int64))
        if self.base is not None:
            z = self._base_value(archs)
            if self._gp is None:
                return z
            resid = self._gp.predict(self._features(archs))
            return np.asarray(self._line[0] + self._line[1] * z + resid, dtype=np.float64)
        if self._gp is None:
            return np.full(archs.shape[0], self._mean)
        return np.asarray(self._gp.predict(self._features(archs)), dtype=np.float64)

    def estimate(self, arch: int) -> NDArray[np.float64]:
        latency = float(self.task.objectives(arch)[1])
        if self.base is None:
            if self._gp is None:
                return np.array([self._mean, latency])
            acc = float(self._gp.predict(self._features(np.array([arch])))[0])
            return np.array([acc, latency])
        return np.array([float(self.predict_accuracy(np.array([arch]))[0]), latency])


# -------------------------------------------------------------------- registry
ESTIMATORS: tuple[str, ...] = (
    "low-fidelity",
    "predictor",
    "oracle",
    "one-shot",
    "few-shot",
    "zero-cost:<proxy>",
    "zero-cost:vote",
    "predictor:<estimator>",
)
"""The estimator families :func:`make_estimator` accepts (``<proxy>``: a name of
:func:`proxy_names`; ``<estimator>``: a name of :func:`table_estimators`)."""

ESTIMATOR_HELP = (
    "low-fidelity, predictor, oracle, one-shot, few-shot, zero-cost:<proxy> (synflow, naswot, "
    "jacob_cov, snip, grad_norm, grasp, fisher, params, flops), zero-cost:vote or "
    "predictor:<estimator>"
)
"""The estimator names in words, for messages."""


def table_estimators() -> tuple[str, ...]:
    """Every estimator answered from a table (and usable as a predictor's base)."""
    return (
        "low-fidelity",
        *SUPERNETS,
        *(f"zero-cost:{p}" for p in (*proxy_names(), "vote")),
    )


def make_estimator(
    name: str, task: NB201Task, seed: int = 0, proxy_table: ProxyTable | None = None
) -> Estimator:
    """An estimator by name (see :data:`ESTIMATORS`).

    Args:
        name: The estimator's name.
        task: The task.
        seed: Seed of learned estimators.
        proxy_table: The zero-cost proxy table (default: the packaged one).

    Raises:
        ConfigError: For an unknown name, a supernet estimator on a task other than
            CIFAR-10, or a proxy table that does not cover every cell.
        DataError: For a missing or malformed proxy table.
    """
    if name == "low-fidelity":
        return LowFidelityEstimator(task)
    if name == "predictor":
        return PredictorEstimator(task, seed=seed)
    if name == "oracle":
        return OracleEstimator(task)
    if name in SUPERNETS:
        return SupernetEstimator(task, name)
    if name.startswith("zero-cost:"):
        return ZeroCostEstimator(task, name.removeprefix("zero-cost:"), proxy_table)
    if name.startswith("predictor:"):
        base = name.removeprefix("predictor:")
        if base not in table_estimators():
            raise ConfigError(
                f"estimator: {name!r}: a predictor's base must be low-fidelity, one-shot, "
                "few-shot or zero-cost:<proxy>"
            )
        return PredictorEstimator(
            task, seed=seed, base=make_estimator(base, task, seed, proxy_table)
        )
    raise ConfigError(f"estimator: unknown {name!r}; choose {ESTIMATOR_HELP}")


def check_estimator(name: str, task: NB201Task) -> None:
    """Validate an estimator name for a task, reading any table it needs.

    Raises:
        ConfigError: As :func:`make_estimator`.
        DataError: For a missing or malformed proxy table.
    """
    make_estimator(name, task)


__all__ = [
    "ESTIMATORS",
    "ESTIMATOR_HELP",
    "SUPERNETS",
    "Estimator",
    "LowFidelityEstimator",
    "OracleEstimator",
    "PredictorEstimator",
    "ProxyTable",
    "SupernetCostModel",
    "SupernetEstimator",
    "TabularTrainer",
    "Trainer",
    "ZeroCostEstimator",
    "check_estimator",
    "fit_gp",
    "fit_line",
    "load_proxy_table",
    "load_supernet_table",
    "make_estimator",
    "onehot_ops",
    "percentile_rank",
    "proxy_names",
    "proxy_table_path",
    "table_estimators",
    "vote_members",
]
