"""The estimators: low-fidelity accuracy and the GP predictor fitted on trained cells."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import spearmanr

from cenas.bench import get_task
from cenas.engine.evaluators import make_estimator


def test_predictor_learns_from_trained_cells_quietly() -> None:
    task = get_task()
    rng = np.random.default_rng(0)
    cells = task.space.sample(rng, 140)
    train, test = cells[:100], cells[100:]
    est = make_estimator("predictor", task, seed=0)
    assert est.cost_s(int(test[0])) == 1.0
    before = np.array([est.estimate(int(c)) for c in test])
    assert np.ptp(before[:, 0]) == 0.0  # nothing trained yet: one constant guess
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no sklearn warning reaches the user's console
        est.update(train, task.objectives(train))
    pred = np.array([est.estimate(int(c)) for c in test])
    true = task.objectives(test)
    assert np.array_equal(pred[:, 1], true[:, 1])  # latency is measured, not predicted
    rho = spearmanr(pred[:, 0], true[:, 0]).statistic
    assert rho > 0.4, rho  # a random guess gives |rho| < 0.3 with 40 cells (95 %)


def test_low_fidelity_is_cheaper_and_correlated() -> None:
    task = get_task()
    cells = task.space.sample(np.random.default_rng(1), 60)
    est = make_estimator("low-fidelity", task, seed=0)
    est_y = np.array([est.estimate(int(c)) for c in cells])
    true = task.objectives(cells)
    assert spearmanr(est_y[:, 0], true[:, 0]).statistic > 0.6
    assert all(est.cost_s(int(c)) < float(task.train_cost(int(c))) for c in cells[:5])


def test_oracle_knows_the_truth_at_the_low_fidelity_cost() -> None:
    task = get_task()
    cells = task.space.sample(np.random.default_rng(2), 20)
    oracle = make_estimator("oracle", task)
    low = make_estimator("low-fidelity", task)
    for c in map(int, cells):
        assert np.array_equal(oracle.estimate(c), task.objectives(c))
        assert oracle.cost_s(c) == low.cost_s(c)
