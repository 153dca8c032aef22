"""Screening of proposals before they are estimated: a surrogate fitted on the estimates.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) uses cheap estimates to decide which
candidates are worth the energy of a training. With a screen, the engine goes one level
further down the fidelity ladder: before an estimate, the candidate is chosen among ``k``
proposals of the optimiser by a Gaussian-process surrogate fitted on every estimate so far,
taking the proposal whose predicted objectives add the most hypervolume to the estimates'
front. It is a multi-fidelity promotion (proposal -> surrogate -> estimate -> training), in
the spirit of Hyperband's promotion (Li et al., JMLR 2018) with a model in place of a rung.

The surrogate is one GP per objective on the cells' one-hot operations, Matérn-5/2 plus
noise (Rasmussen and Williams, "Gaussian Processes for Machine Learning", MIT Press 2006);
its hyperparameters maximise the marginal likelihood, re-optimised whenever the estimates
have doubled since the last optimisation and kept in between. A prediction runs on
the coordinator's CPU in milliseconds, like the optimiser's own proposals, and is not
charged as GPU work.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from cenas.optimize._lamoo import _single_threaded_blas
from cenas.optimize.hypervolume import hypervolume_gains, pareto_front

MIN_FIT = 8
"""Estimates needed before the surrogate chooses (before that: the oldest proposal)."""
MAX_FIT = 300
"""The surrogate is fitted on the most recent estimates up to this many (cubic cost)."""


class Screen:
    """Chooses which proposal to estimate next.

    Args:
        seed: Seed of the GP's hyperparameter restarts.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._models: list[GaussianProcessRegressor] = []
        self._front = np.empty((0, 0))
        self._n_fit = -1
        self._kernels: list[Any] = []
        self._tuned_at = 0

    @property
    def ready(self) -> bool:
        """Whether a surrogate is fitted."""
        return bool(self._models)

    def fit(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> None:
        """Fit on the vectors ``x`` (n, d) and estimated objectives ``y`` (n, m) (no-op when
        ``n`` has not changed since the last fit, or is below :data:`MIN_FIT`)."""
        n = x.shape[0]
        if n == self._n_fit or n < MIN_FIT:
            return
        x, y = x[-MAX_FIT:], y[-MAX_FIT:]
        tune = not self._kernels or n >= 2 * self._tuned_at
        models = []
        for k in range(y.shape[1]):
            if tune:
                kernel = ConstantKernel(1.0) * Matern(length_scale=2.0, nu=2.5) + WhiteKernel(1e-2)
            else:
                kernel = self._kernels[k]
            gp = GaussianProcessRegressor(
                kernel=kernel,
                normalize_y=True,
                random_state=self.seed,
                optimizer="fmin_l_bfgs_b" if tune else None,
            )
            with warnings.catch_warnings(), _single_threaded_blas():
                warnings.simplefilter("ignore", ConvergenceWarning)
                gp.fit(x, y[:, k])
            models.append(gp)
        if tune:
            self._kernels = [gp.kernel_ for gp in models]
            self._tuned_at = n
        self._models = models
        self._front = pareto_front(y)
        self._n_fit = n

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Predicted objectives of ``x``, ``(n, m)``."""
        with _single_threaded_blas():
            return np.column_stack([gp.predict(x) for gp in self._models])

    def choose(self, x: NDArray[np.float64], ref_point: NDArray[np.float64]) -> int:
        """Index of the proposal whose prediction adds the most hypervolume to the front of
        the estimates (the closest to that front, by normalised distance, when none adds
        any; the first proposal before the surrogate is fitted)."""
        if not self.ready or x.shape[0] <= 1:
            return 0
        pred = self.predict(x)
        front = self._front
        gains = hypervolume_gains(front, pred, ref_point)
        if gains.max() > 1e-12:
            return int(np.argmax(gains))
        span = np.maximum(front.max(axis=0) - front.min(axis=0), 1e-12)
        gap = ((pred[:, None, :] - front[None, :, :]) / span).clip(min=0).sum(axis=2).min(axis=1)
        return int(np.argmin(gap))


__all__ = ["MAX_FIT", "MIN_FIT", "Screen"]
