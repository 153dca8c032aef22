"""All optimisers behind the ask/tell interface: registry, determinism, no repeated cells."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cenas.errors import ConfigError
from cenas.optimize import (
    NSGA2,
    OPTIMIZERS,
    QNEHVI,
    LaMOO,
    Optimizer,
    RandomSearch,
    make_optimizer,
)
from cenas.space import NB201Space

SPACE = NB201Space()
OPS = SPACE.indices_to_ops(np.arange(SPACE.size)).astype(np.float64)
Y = np.column_stack(
    [((OPS - [0, 1, 2, 3, 4, 0]) ** 2).sum(1), ((OPS - [4, 3, 2, 1, 0, 4]) ** 2).sum(1)]
)
REF = Y.max(axis=0) + 1.0
# small GP budgets keep the model-based optimisers fast in tests
FAST: dict[str, dict[str, Any]] = {
    "lamoo": {"n_init": 6, "leaf_size": 3},
    "lamoo-qnehvi": {
        "n_init": 3,
        "leaf_size": 2,
        "fit_maxiter": 10,
        "refit_maxiter": 5,
        "mc_samples": 16,
        "max_acqf_candidates": 16,
    },
    "random": {},
    "nsga2": {"pop_size": 6},
    "qnehvi": {
        "n_init": 3,
        "fit_maxiter": 10,
        "refit_maxiter": 5,
        "mc_samples": 16,
        "max_acqf_candidates": 16,
    },
}


def test_registry_names() -> None:
    assert OPTIMIZERS == ("lamoo", "lamoo-qnehvi", "random", "nsga2", "qnehvi")
    assert set(FAST) == set(OPTIMIZERS)
    assert isinstance(make_optimizer("lamoo", SPACE, REF), LaMOO)
    lq = make_optimizer("LaMOO-qNEHVI", SPACE, REF, seed=2)
    assert isinstance(lq, LaMOO) and lq.sampler == "qlognehvi" and lq.name == "lamoo-qnehvi"
    assert isinstance(make_optimizer("random", SPACE, REF), RandomSearch)
    assert isinstance(make_optimizer("nsga2", SPACE, REF), NSGA2)
    assert isinstance(make_optimizer("qnehvi", SPACE, REF), QNEHVI)
    assert make_optimizer("lamoo", SPACE, REF, seed=1, cp=0.3).cp == 0.3  # type: ignore[attr-defined]


def test_unknown_optimizer_raises_config_error_listing_names() -> None:
    with pytest.raises(ConfigError) as err:
        make_optimizer("bogus", SPACE, REF)
    msg = str(err.value)
    assert "\n" not in msg and "bogus" in msg
    for name in OPTIMIZERS:
        assert name in msg


def test_bad_options_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="lamoo"):
        make_optimizer("lamoo", SPACE, REF, sampler="grid")
    with pytest.raises(ConfigError, match="nsga2"):
        make_optimizer("nsga2", SPACE, REF, no_such_option=1)


def drive(opt: Optimizer, steps: list[int], lag: int = 0) -> list[int]:
    """Ask in batches of ``steps``; tell each batch ``lag`` asks later (asynchronous use)."""
    asked: list[int] = []
    pending: list[np.ndarray] = []
    for n in steps:
        cells = opt.ask(n)
        asked.extend(cells.tolist())
        pending.append(cells)
        while len(pending) > lag:
            c = pending.pop(0)
            opt.tell(c, Y[c])
    for c in pending:
        opt.tell(c, Y[c])
    return asked


GP_BASED = ("lamoo-qnehvi", "qnehvi")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_same_seed_same_candidates(name: str) -> None:
    steps = [3, 1, 1] if name in GP_BASED else [3, 3, 2, 1, 1, 1]
    a = drive(make_optimizer(name, SPACE, REF, seed=5, **FAST[name]), steps)
    b = drive(make_optimizer(name, SPACE, REF, seed=5, **FAST[name]), steps)
    assert a == b
    c = drive(make_optimizer(name, SPACE, REF, seed=6, **FAST[name]), steps)
    assert a != c


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_never_proposes_a_taken_cell(name: str) -> None:
    opt = make_optimizer(name, SPACE, REF, seed=1, **FAST[name])
    rng = np.random.default_rng(0)
    excluded = rng.choice(SPACE.size, 300, replace=False)
    opt.exclude(excluded)
    seen = rng.choice(np.setdiff1d(np.arange(SPACE.size), excluded), 4, replace=False)
    opt.tell(seen, Y[seen])  # told without being asked
    steps = [2, 3, 1] if name in GP_BASED else [2, 1, 4, 1, 1, 3]
    asked = drive(opt, steps, lag=1)
    assert len(asked) == sum(steps) == len(set(asked))
    assert not set(asked) & set(excluded.tolist())
    assert not set(asked) & set(seen.tolist())
    assert opt.n_available == SPACE.size - 300 - 4 - sum(steps)
    np.testing.assert_array_equal(np.sort(opt.X), np.sort(np.concatenate([seen, asked])))


def test_nsga2_hands_out_generations_across_asks() -> None:
    opt = NSGA2(SPACE, REF, seed=0, pop_size=8)
    first = opt.ask(20)  # more than a generation in one ask
    assert first.shape == (20,) and len(set(first.tolist())) == 20
    opt.tell(first, Y[first])
    more = drive(opt, [1] * 30)
    assert len(set(more) | set(first.tolist())) == 50
    assert opt.n_generations >= 5


def test_nsga2_improves_on_its_initial_population() -> None:
    from cenas.optimize import hypervolume

    opt = NSGA2(SPACE, REF, seed=0, pop_size=10)
    drive(opt, [1] * 100)
    y = opt.Y
    assert hypervolume(y, REF) > hypervolume(y[:10], REF)


def test_base_optimizer_runs_out_gracefully() -> None:
    opt = RandomSearch(SPACE, REF, seed=0)
    opt.exclude(np.arange(SPACE.size - 3))
    assert sorted(opt.ask(10).tolist()) == [SPACE.size - 3, SPACE.size - 2, SPACE.size - 1]
    assert opt.ask(1).size == 0
