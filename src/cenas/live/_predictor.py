"""The Gaussian-process predictor as a live estimator: ``predictor`` and ``predictor:<base>``.

The simulator's :class:`~cenas.engine.evaluators.PredictorEstimator` learns accuracy from
the cells a study trained; this is the same model for a live study, where the trained
accuracies arrive from real jobs. Performance predictors of this kind are surveyed, the GP
among them, by White, Zela, Ru, Liu and Hutter, "How Powerful are Performance Predictors in
Neural Architecture Search?" (NeurIPS 2021); the GP is the simulator's
(:func:`~cenas.engine.evaluators.fit_gp`: a constant times a Matérn-5/2 kernel plus white
noise on normalised targets, Rasmussen and Williams 2006).

* ``predictor``: an estimate is computed in the coordinator, at once, by a GP fitted on the
  trained cells' features (the one-hot operations of a NAS-Bench-201 cell, as the
  simulator's predictor uses; the 196-column incidence vector of a DARTS genotype) to their
  validation accuracy. Parameters are not predicted: they are counted exactly
  (``task.params_m``). Before ``min_train`` (5) cells are trained it answers the mean
  accuracy of the cells trained so far (0 with none), so candidates then rank by parameters
  alone. The estimate runs no job on a worker: the backend answers it when it is started
  and the worker slot is free again at once. Its cost, the coordinator's wall seconds for
  the prediction (and the refit that the first prediction after new trainings does), is
  charged to that slot as a *modelled* ledger entry of the estimate job (meter
  ``model:cpu``: one busy core at :data:`cenas.meters.CPU_WATTS_PER_CORE`, never measured).
* ``predictor:<base>`` (``zero-cost:<proxy>`` or ``low-fidelity``): the base runs on a
  worker as it does alone; when its result comes back the backend keeps the base score of
  the cell and maps it to an accuracy with the simulator's model: a least-squares line on
  the base score (:func:`~cenas.engine.evaluators.fit_line`) plus a GP, on the cell's
  features, of what the line misses. It is fitted on the trained cells whose base score is
  known (cells trained without an estimate, taken straight from the optimiser, have none
  and are left out: a live base score costs worker time, which the simulator's table does
  not). A zero-cost score enters as its percentile rank among every base score seen so far
  (0-100, an undefined score below all: raw proxy scores span many orders of magnitude, and
  the simulator ranks them too), a low-fidelity accuracy as it is. Before ``min_train``
  such cells exist the estimate is that value itself, in place of the accuracy (the
  simulator's predictor answers its base's estimate, which for a proxy is a percentile
  rank too): estimates before and after the fit then share one 0-100 accuracy-like scale,
  where a raw proxy score (synflow reaches 1e25) would outrank every prediction in the
  queue. The mapping's coordinator seconds are a second, modelled entry of the job.

Every estimate made before a refit keeps the value it had (the queue is not re-estimated),
as in the simulator. The base scores and trained accuracies the model learns from are kept
in ``predictor.json`` in the study folder, so a resumed study refits from them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn.gaussian_process import GaussianProcessRegressor

from cenas.engine.evaluators import fit_gp, fit_line, onehot_ops, percentile_rank
from cenas.meters import EnergyMeter, EnergyReading, cpu_power_model

PREDICTOR = "predictor"
"""The plain predictor's name; ``predictor:<base>`` names one on a base estimator."""

MIN_TRAIN = 5
"""Trained cells (with a base score, on a base) before the GP is fitted."""

STATE_FILE = "predictor.json"
"""Where, in the study folder, the predictor keeps what it learns from."""


class LiveTask(Protocol):
    """What the predictor needs of a live task (:class:`cenas.live.LiveNB201Task`,
    :class:`cenas.live.LiveDartsTask`)."""

    @property
    def space(self) -> Any: ...

    def params_m(self, index: int) -> float: ...


def is_predictor(name: str) -> bool:
    """Whether an estimator name is ``predictor`` or ``predictor:<base>``."""
    return name == PREDICTOR or name.startswith(PREDICTOR + ":")


def predictor_base(name: str) -> str | None:
    """The base of ``predictor:<base>`` (``None`` for the plain predictor or another name)."""
    return name.removeprefix(PREDICTOR + ":") if name.startswith(PREDICTOR + ":") else None


def worker_estimator(name: str) -> str:
    """The estimator a study's workers run: the base of ``predictor:<base>``, else ``name``
    (the plain predictor sends the workers no estimate)."""
    return predictor_base(name) or name


def features(space: Any, archs: NDArray[np.int64] | Sequence[int]) -> NDArray[np.float64]:
    """The GP's features of cells: one-hot operations of a NAS-Bench-201 cell (the
    simulator's), else the space's vectors (a DARTS genotype's 0/1 incidences)."""
    idx = np.atleast_1d(np.asarray(archs, dtype=np.int64))
    if hasattr(space, "indices_to_ops") and hasattr(space, "n_ops"):
        return onehot_ops(space, idx)
    return np.asarray(space.indices_to_vectors(idx), dtype=np.float64)


class LivePredictor:
    """The GP predictor of a live study (see the module doc).

    Args:
        task: The live task (features from its space, exact parameter counts).
        base: ``None`` for ``predictor``, else the base estimator's name.
        min_train: Trained cells needed before the GP is fitted.
        seed: Seed of the GP's optimiser restarts.
        state_path: JSON file kept up to date with the base scores and trained accuracies
            (read back when it exists); ``None``: kept in memory only.
        meter: Meter of the coordinator's work (default: one CPU core's power model).
    """

    def __init__(
        self,
        task: LiveTask,
        base: str | None = None,
        min_train: int = MIN_TRAIN,
        seed: int = 0,
        state_path: Path | None = None,
        meter: EnergyMeter | None = None,
    ) -> None:
        if min_train < 1:
            raise ValueError("min_train must be positive")
        self.task = task
        self.base = base
        self.name = PREDICTOR if base is None else f"{PREDICTOR}:{base}"
        self.min_train = min_train
        self.seed = seed
        self.state_path = state_path
        self.meter = meter if meter is not None else cpu_power_model(1)
        self._ranked = base is not None and base.startswith("zero-cost:")
        self._trained: dict[int, float] = {}  # arch -> -accuracy (minimisation form)
        self._scores: dict[int, float] = {}  # arch -> base score (higher is better)
        self._gp: GaussianProcessRegressor | None = None
        self._line = (0.0, 0.0)
        self._mean = 0.0
        self._dirty = False
        self.n_fit = 0
        """Cells of the last fit (0 while the GP is not fitted)."""
        self.fits = 0
        """GP fits so far."""
        self._load()

    # ---------------------------------------------------------------- data
    @property
    def fitted(self) -> bool:
        """Whether the GP is fitted (on the data as of the last prediction)."""
        return self._gp is not None

    def update(self, archs: NDArray[np.int64], objectives: NDArray[np.float64]) -> None:
        """Every trained result so far (replacing what was known); refits at the next
        prediction."""
        y = np.atleast_2d(np.asarray(objectives, dtype=np.float64))
        self._trained = {
            int(a): float(v) for a, v in zip(np.atleast_1d(archs), y[:, 0], strict=True)
        }
        self._dirty = True
        self._save()

    def observe(self, arch: int, score: float) -> None:
        """Keep the base score (higher is better) of an estimated cell."""
        self._scores[int(arch)] = float(score)
        if int(arch) in self._trained:
            self._dirty = True
        self._save()

    def base_score(self, arch: int) -> float | None:
        """The kept base score of ``arch`` (``None`` if it was never estimated)."""
        return self._scores.get(int(arch))

    # ----------------------------------------------------------------- model
    def _base_values(self, archs: Sequence[int]) -> NDArray[np.float64]:
        """The line's input for cells with known base scores: the score, or its percentile
        rank among every known base score (zero-cost bases)."""
        if not self._ranked:
            return np.array([self._scores[int(a)] for a in archs], dtype=np.float64)
        keys = list(self._scores)
        ranks = percentile_rank(
            np.array([self._scores[k] for k in keys], dtype=np.float64),
            measured=np.ones(len(keys), dtype=bool),
        )
        where = {k: i for i, k in enumerate(keys)}
        return np.array([ranks[where[int(a)]] for a in archs], dtype=np.float64)

    def _refit(self) -> None:
        self._dirty = False
        archs = [a for a, v in self._trained.items() if math.isfinite(v)]
        if self.base is not None:
            archs = [a for a in archs if a in self._scores]
            if not self._ranked:
                archs = [a for a in archs if math.isfinite(self._scores[a])]
        y = np.array([self._trained[a] for a in archs], dtype=np.float64)
        self._mean = float(y.mean()) if y.size else 0.0
        if len(archs) < self.min_train:
            self._gp, self.n_fit = None, 0
            return
        if self.base is not None:
            z = self._base_values(archs)
            self._line = fit_line(z, y)
            y = y - (self._line[0] + self._line[1] * z)
        self._gp = fit_gp(features(self.task.space, archs), y, self.seed)
        self.n_fit = len(archs)
        self.fits += 1

    def predict(self, archs: NDArray[np.int64] | Sequence[int]) -> NDArray[np.float64]:
        """Predicted accuracy of cells, minimisation form (``-accuracy %``), refitting first
        if new trainings came in. On a base every cell needs a kept base score; before the
        fit the answer is the base's value as the line would see it, minimisation form: a
        zero-cost score's percentile rank, a low-fidelity accuracy as it is."""
        idx = [int(a) for a in np.atleast_1d(np.asarray(archs, dtype=np.int64))]
        if self._dirty:
            self._refit()
        if self.base is None:
            if self._gp is None:
                return np.full(len(idx), self._mean)
            return np.asarray(self._gp.predict(features(self.task.space, idx)), dtype=np.float64)
        z = self._base_values(idx)
        if self._gp is None:
            return -z
        resid = self._gp.predict(features(self.task.space, idx))
        out = np.asarray(self._line[0] + self._line[1] * z + resid, dtype=np.float64)
        if not self._ranked:  # an undefined low-fidelity accuracy keeps the base's answer
            out = np.where(np.isfinite(z), out, -z)
        return out

    # ----------------------------------------------------------- the backend
    def answer(self, arch: int) -> tuple[NDArray[np.float64], EnergyReading]:
        """The plain predictor's estimate of ``arch``, ``(-predicted accuracy, params M)``,
        and the meter's reading of the coordinator's work on it."""
        if self.base is not None:
            raise RuntimeError(f"{self.name} maps its base's estimates; it answers none alone")
        token = self.meter.begin()
        acc = float(self.predict([arch])[0])
        y = np.array([acc, float(self.task.params_m(int(arch)))])
        return y, self.meter.end(token)

    def map(
        self, arch: int, objectives: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], EnergyReading]:
        """A base estimate ``(-score, params M)`` of ``arch`` mapped to ``(-predicted
        accuracy, params M)`` (see :meth:`predict` for the answer before the fit), keeping
        the score, and the meter's reading of the coordinator's work on it."""
        token = self.meter.begin()
        y = np.array(objectives, dtype=np.float64, copy=True)
        self.observe(arch, -float(y[0]))
        y[0] = float(self.predict([arch])[0])
        return y, self.meter.end(token)

    # ----------------------------------------------------------- persistence
    def _save(self) -> None:
        if self.state_path is None:
            return
        state = {
            "estimator": self.name,
            "trained": [[a, v] for a, v in self._trained.items()],
            "base_scores": [[a, v] for a, v in self._scores.items()],
        }
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def _load(self) -> None:
        if self.state_path is None or not self.state_path.is_file():
            return
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if state.get("estimator") != self.name:
                return
            trained = {int(a): float(v) for a, v in state.get("trained", [])}
            scores = {int(a): float(v) for a, v in state.get("base_scores", [])}
        except (OSError, ValueError, TypeError, AttributeError):
            return  # an unreadable file: learn again from the study's next results
        self._trained, self._scores, self._dirty = trained, scores, bool(trained)


def make_live_predictor(
    name: str, task: LiveTask, root: Path | None = None, seed: int = 0
) -> LivePredictor | None:
    """The predictor of a live study whose estimator is ``name`` (``None`` for another
    estimator), keeping its state in ``root / predictor.json`` when ``root`` is given."""
    if not is_predictor(name):
        return None
    path = None if root is None else Path(root) / STATE_FILE
    return LivePredictor(task, predictor_base(name), seed=seed, state_path=path)


__all__ = [
    "MIN_TRAIN",
    "PREDICTOR",
    "STATE_FILE",
    "LivePredictor",
    "LiveTask",
    "features",
    "is_predictor",
    "make_live_predictor",
    "predictor_base",
    "worker_estimator",
]
