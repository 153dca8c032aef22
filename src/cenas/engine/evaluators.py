"""Estimators (cheap, approximate objectives) and trainers (expensive, true objectives).

The engine asks an estimator or a trainer two things about a cell: how many GPU-seconds
the work takes and what objectives it yields. Tabular implementations answer both from
the benchmark table; live implementations (a later module) run real PyTorch jobs. New
estimators (one-shot supernets, zero-cost proxies) implement :class:`Estimator`.

Objectives are in minimisation form, as everywhere in :mod:`cenas.optimize`.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from cenas.bench import NB201Task
from cenas.errors import ConfigError


class Estimator(ABC):
    """Cheap estimate of a cell's objectives."""

    name: str = "estimator"

    @abstractmethod
    def cost_s(self, arch: int) -> float:
        """GPU-seconds one estimate of ``arch`` takes."""

    @abstractmethod
    def estimate(self, arch: int) -> NDArray[np.float64]:
        """Estimated objectives of ``arch`` (minimisation form)."""

    def update(self, archs: NDArray[np.int64], objectives: NDArray[np.float64]) -> None:  # noqa: B027
        """Learn from trained results (default: nothing)."""


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


class PredictorEstimator(Estimator):
    """A Gaussian-process predictor of accuracy learned from the trained cells.

    Latency on the target device is measured, not predicted (a cheap lookup or a
    benchmark of one forward pass), so only the accuracy is learned. The GP uses a Matérn-5/2
    kernel on the cells' one-hot encoding; before ``min_train`` trained cells exist it
    predicts the mean accuracy of the 12-epoch-free prior (all cells equal), which ranks
    candidates by latency alone.

    Args:
        task: The task (for latencies).
        cost_seconds: GPU-seconds per prediction (near zero; default one second).
        min_train: Trained cells needed before the GP is fitted.
        seed: Seed of the GP's optimiser restarts.
    """

    name = "predictor"

    def __init__(
        self, task: NB201Task, cost_seconds: float = 1.0, min_train: int = 5, seed: int = 0
    ) -> None:
        self.task = task
        self.cost_seconds = cost_seconds
        self.min_train = min_train
        self.seed = seed
        self._gp: GaussianProcessRegressor | None = None
        self._mean = 0.0

    def _features(self, archs: NDArray[np.int64]) -> NDArray[np.float64]:
        ops = self.task.space.indices_to_ops(np.atleast_1d(archs))
        onehot = np.zeros((ops.shape[0], ops.shape[1] * self.task.space.n_ops))
        cols = ops + np.arange(ops.shape[1]) * self.task.space.n_ops
        onehot[np.arange(ops.shape[0])[:, None], cols] = 1.0
        return onehot

    def cost_s(self, arch: int) -> float:
        return self.cost_seconds

    def update(self, archs: NDArray[np.int64], objectives: NDArray[np.float64]) -> None:
        if len(archs) < self.min_train:
            return
        y = np.asarray(objectives)[:, 0]
        self._mean = float(y.mean())
        kernel = ConstantKernel(1.0) * Matern(length_scale=2.0, nu=2.5) + WhiteKernel(1e-2)
        gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=self.seed)
        with warnings.catch_warnings():
            # a noise level at its lower bound is expected: the tabular accuracies are exact
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(self._features(np.asarray(archs)), y)
        self._gp = gp

    def estimate(self, arch: int) -> NDArray[np.float64]:
        latency = float(self.task.objectives(arch)[1])
        if self._gp is None:
            return np.array([self._mean, latency])
        acc = float(self._gp.predict(self._features(np.array([arch])))[0])
        return np.array([acc, latency])


ESTIMATORS: tuple[str, ...] = ("low-fidelity", "predictor", "oracle")


def make_estimator(name: str, task: NB201Task, seed: int = 0) -> Estimator:
    """An estimator by name.

    Raises:
        ConfigError: For an unknown name.
    """
    if name == "low-fidelity":
        return LowFidelityEstimator(task)
    if name == "predictor":
        return PredictorEstimator(task, seed=seed)
    if name == "oracle":
        return OracleEstimator(task)
    raise ConfigError(f"unknown estimator {name!r}: choose one of {', '.join(ESTIMATORS)}")


__all__ = [
    "ESTIMATORS",
    "Estimator",
    "LowFidelityEstimator",
    "OracleEstimator",
    "PredictorEstimator",
    "TabularTrainer",
    "Trainer",
    "make_estimator",
]
