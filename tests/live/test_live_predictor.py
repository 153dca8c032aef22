"""The GP predictor in live mode: ``predictor`` in the coordinator, ``predictor:<base>``."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from cenas.config import StudyConfig
from cenas.errors import ConfigError
from cenas.live import LiveDartsTask, LiveNB201Task, build_live_engine, worker_setup
from cenas.live._predictor import STATE_FILE, LivePredictor, features, make_live_predictor
from tests.live.runners import fake_objectives


def _live(**kw: object) -> StudyConfig:
    base = dataclasses.replace(
        StudyConfig(),
        live=True,
        gpus=2,
        hours=2,
        step_minutes=0.03,
        policy="static",
        optimizer="random",
        budget_g=None,
        channels=4,
        cells_per_stage=1,
        layers=3,
        pool_size=300,
        max_retries=1,
        train_unscreened=True,  # the predictor's checks count trainings from step 0
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------- the model alone
def _additive(task: object, archs: np.ndarray, seed: int) -> np.ndarray:
    """A learnable fake accuracy: a fixed weight per feature column, summed."""
    x = features(task.space, archs)  # type: ignore[attr-defined]
    w = np.random.default_rng(seed).uniform(0.0, 3.0, x.shape[1])
    return 40.0 + x @ w


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_the_plain_predictor_learns_from_trained_cells(space: str) -> None:
    torch.set_num_threads(1)
    task = LiveNB201Task(4, 1) if space == "nb201" else LiveDartsTask(4, 3, 10, 300, 0)
    rng = np.random.default_rng(0)
    cells = rng.choice(task.space.size, 220, replace=False)
    train, held = cells[:120], cells[120:]
    acc = _additive(task, cells, seed=1)
    pred = LivePredictor(task)
    assert pred.predict(held[:3]).tolist() == [0.0, 0.0, 0.0]  # nothing trained: 0
    few = np.column_stack([-acc[:4], np.ones(4)])
    pred.update(train[:4], few)
    np.testing.assert_allclose(pred.predict(held[:3]), -acc[:4].mean())  # the trained mean
    assert not pred.fitted
    pred.update(train, np.column_stack([-acc[:120], np.ones(120)]))
    guess = pred.predict(held)
    assert pred.fitted and pred.n_fit == 120 and pred.fits == 1
    rho = spearmanr(-guess, acc[120:]).statistic  # held-out cells ranked as they are
    assert rho > 0.6, rho
    y, reading = pred.answer(int(held[0]))  # an estimate: objectives and the coordinator's cost
    assert y[0] == pytest.approx(guess[0]) and y[1] == task.params_m(int(held[0]))
    assert reading.meter == "model:cpu" and not reading.measured and reading.seconds >= 0


def test_a_predictor_on_a_base_maps_ranked_proxy_scores_and_keeps_them(tmp_path: Path) -> None:
    task = LiveNB201Task(4, 1)
    rng = np.random.default_rng(2)
    cells = rng.choice(task.space.size, 120, replace=False)
    acc = _additive(task, cells, seed=3)
    score = np.exp(acc)  # a proxy: monotone in accuracy, over many orders of magnitude
    pred = make_live_predictor("predictor:zero-cost:synflow", task, tmp_path)
    assert pred is not None and pred.base == "zero-cost:synflow"
    with pytest.raises(RuntimeError, match="maps its base"):
        pred.answer(int(cells[0]))
    # before the fit: the base's score as a percentile rank among the scores seen so far
    first, _ = pred.map(int(cells[0]), np.array([-score[0], 0.5]))
    assert first.tolist() == [-100.0, 0.5]  # the only score seen is the best one
    for i in range(1, 60):
        pred.map(int(cells[i]), np.array([-score[i], 0.5]))
    # 40 trained with a kept score + 3 trained without one (never estimated): left out
    untracked = rng.choice(np.setdiff1d(np.arange(task.space.size), cells), 3, replace=False)
    trained = np.concatenate([cells[:40], untracked])
    pred.update(trained, np.column_stack([np.r_[-acc[:40], [-99.0] * 3], np.ones(43)]))
    mapped = [
        pred.map(int(c), np.array([-s, 0.7]))[0]
        for c, s in zip(cells[60:], score[60:], strict=True)
    ]
    assert pred.fitted and pred.n_fit == 40
    guess = np.array([m[0] for m in mapped])
    assert all(m[1] == 0.7 for m in mapped)  # params come from the base's job
    assert spearmanr(-guess, acc[60:]).statistic > 0.9
    assert np.all((guess < 0) & (guess > -100))  # accuracies now, not 1e30 proxy scores
    assert pred.base_score(int(cells[60])) == pytest.approx(score[60])
    # a resumed study's predictor reads what this one learned from the study folder
    again = make_live_predictor("predictor:zero-cost:synflow", task, tmp_path)
    assert again is not None and (tmp_path / STATE_FILE).is_file()
    assert [again.base_score(int(c)) for c in cells] == [pred.base_score(int(c)) for c in cells]
    pred.update(trained, np.column_stack([np.r_[-acc[:40], [-99.0] * 3], np.ones(43)]))
    np.testing.assert_allclose(again.predict(cells[60:]), pred.predict(cells[60:]))  # same fit
    assert again.n_fit == 40
    assert make_live_predictor("zero-cost:synflow", task, tmp_path) is None


# --------------------------------------------------------------------- the config
@pytest.mark.parametrize("space", ["nb201", "darts"])
@pytest.mark.parametrize(
    "name", ["predictor", "predictor:zero-cost:synflow", "predictor:low-fidelity"]
)
def test_live_mode_accepts_the_predictors(space: str, name: str, tmp_path: Path) -> None:
    cfg = _live(space=space, estimator=name).validate()
    setup = worker_setup(cfg, tmp_path)
    assert setup.estimator == name.removeprefix("predictor:")  # the workers run the base
    if space == "nb201" and name.endswith("low-fidelity"):
        assert setup.estimator_opts["channels"] == 4  # the base's options, as without it


@pytest.mark.parametrize(
    ("space", "name", "message"),
    [
        ("nb201", "predictor:one-shot", "needs a supernet trained before the search"),
        ("darts", "predictor:few-shot", "needs a supernet trained before the search"),
        ("darts", "predictor:zero-cost:vote", "does not apply to the darts space"),
        ("darts", "zero-cost:vote", "does not apply to the darts space"),
        ("nb201", "predictor:predictor", "unknown live estimator"),
        ("nb201", "predictor:zero-cost:nope", "unknown live estimator"),
    ],
)
def test_live_mode_refuses_other_predictors_in_one_line(space: str, name: str, message: str):
    with pytest.raises(ConfigError, match=message) as err:
        _live(space=space, estimator=name).validate()
    assert "\n" not in str(err.value) and str(err.value).startswith("estimator: ")


def test_the_vote_is_a_base_on_nb201() -> None:
    _live(space="nb201", estimator="predictor:zero-cost:vote").validate()


def test_an_unbounded_plain_predictor_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^estimate_ratio: the live predictor answers"):
        _live(estimator="predictor", estimate_ratio=None).validate()
    _live(estimator="predictor", estimate_ratio=None, queue_policy="block").validate()
    _live(estimator="predictor:zero-cost:synflow", estimate_ratio=None).validate()


# ------------------------------------------------------------------- live studies
@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_a_live_predictor_study_estimates_in_the_coordinator(
    space: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.set_num_threads(1)
    monkeypatch.setenv("CENAS_TEST_EPOCH_S", "0.02")
    monkeypatch.setenv("CENAS_TEST_EPOCHS", "3")
    # steps of 3 s: a loaded CI machine once stalled a 1.8 s step's trainings to one
    cfg = _live(
        space=space, estimator="predictor", runner="tests.live.runners:epochs", step_minutes=0.05
    )
    engine = build_live_engine(cfg, tmp_path)
    pred = engine.backend.predictor  # type: ignore[attr-defined]
    assert isinstance(pred, LivePredictor)
    pred.min_train = 2  # the fit needs two of step 0's trainings, not five
    try:
        engine.run()
    finally:
        engine.backend.close()
    backend, task = engine.backend, engine.task
    assert engine.step_index == 2
    for arch, y in zip(engine.trained_x, engine.trained_y, strict=True):
        np.testing.assert_array_equal(y, fake_objectives(arch))
    # no estimate ran on a worker: the workers' seconds are exactly the trainings' seconds
    trains = [e for e in engine.ledger.entries if e.kind == "train"]
    assert math.isclose(backend.busy_s, sum(e.seconds for e in trains))  # type: ignore[attr-defined]
    estimates = [j for j in engine.jobs if j.kind == "estimate"]
    assert estimates and all(j.status == "completed" for j in estimates)
    charged = [e for e in engine.ledger.entries if e.kind == "estimate"]
    assert sorted(e.job_id for e in charged) == [j.id for j in estimates]  # one entry each
    assert all(e.meter == "model:cpu" and not e.measured for e in charged)
    # estimates: (-predicted accuracy, exact params); step 0's before any training: 0
    est = {a.arch: a for a in engine.archs.values() if a.estimated is not None}
    for a in est.values():
        assert a.estimated is not None and a.estimated[1] == task.params_m(a.arch)  # type: ignore[attr-defined]
    assert {a.estimated[0] for a in est.values() if a.estimate_step == 0} == {0.0}  # type: ignore[index]
    # step 1 predicted from the GP fitted on step 0's trainings, not from a constant
    assert engine.records[0].n_trained >= pred.min_train, engine.records[0]
    later = [a.estimated[0] for a in est.values() if a.estimate_step == 1]  # type: ignore[index]
    assert pred.fits >= 1 and pred.n_fit == engine.records[0].n_trained
    assert len(later) > 1 and np.ptp(later) > 0
    assert all(-120.0 < v < 20.0 for v in later)  # on the fake accuracies' scale
    assert (tmp_path / STATE_FILE).is_file()


def test_a_live_predictor_on_synflow_completes_with_real_nb201_jobs(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = _live(estimator="predictor:zero-cost:synflow", train_epochs=1, step_minutes=0.08)
    engine = build_live_engine(cfg, tmp_path)
    pred = engine.backend.predictor  # type: ignore[attr-defined]
    assert isinstance(pred, LivePredictor)
    pred.min_train = 1  # the real jobs of a short test train few cells: fit on the first
    try:
        engine.run()
    finally:
        engine.backend.close()
    task = engine.task
    assert engine.step_index == 2 and engine.trained_x
    for arch, y in zip(engine.trained_x, engine.trained_y, strict=True):
        assert 0.0 <= -y[0] <= 100.0 and y[1] == pytest.approx(task.params_m(arch))  # type: ignore[attr-defined]
    estimates = [j for j in engine.jobs if j.kind == "estimate" and j.status == "completed"]
    assert estimates
    for job in estimates:  # the worker's proxy job and the coordinator's mapping
        entries = [e for e in engine.ledger.entries if e.job_id == job.id]
        assert len(entries) == 2 and entries[1].meter == "model:cpu", entries
        assert pred.base_score(job.arch) is not None  # every estimated cell's score is kept
    # before any training the estimates are the proxy's percentile ranks, -100..0
    est = [a for a in engine.archs.values() if a.estimated is not None]
    assert all(-100.0 <= a.estimated[0] <= 0.0 for a in est if a.estimate_step == 0)  # type: ignore[index]
    # the fit takes the trained cells with a kept proxy score (not those trained unestimated)
    scored = [a for a in engine.trained_x if pred.base_score(a) is not None]
    mapped = pred.predict([est[-1].arch])
    assert pred.n_fit == len(scored) and pred.fitted == bool(scored)
    assert np.isfinite(mapped).all()
