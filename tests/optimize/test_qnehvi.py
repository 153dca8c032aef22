"""The GP/qLogNEHVI machinery shared by QNEHVI and LaMOO's qlognehvi sampler."""

from __future__ import annotations

import numpy as np
import pytest

from cenas.optimize import LaMOO
from cenas.optimize._qnehvi import GPProposer, encode_cells, marginal_posterior
from cenas.space import NB201Space

SPACE = NB201Space()
OPS = SPACE.indices_to_ops(np.arange(SPACE.size)).astype(np.float64)
Y = np.column_stack(
    [((OPS - [0, 1, 2, 3, 4, 0]) ** 2).sum(1), ((OPS - [4, 3, 2, 1, 0, 4]) ** 2).sum(1)]
)
REF = Y.max(axis=0) + 1.0
FAST = {"fit_maxiter": 15, "refit_maxiter": 5, "mc_samples": 16, "max_acqf_candidates": 16}


def test_encodings() -> None:
    cells = np.array([0, 1, 15_624])
    onehot = encode_cells(SPACE, cells, "onehot")
    assert onehot.shape == (3, 30)
    np.testing.assert_array_equal(onehot.sum(axis=1), 6)
    np.testing.assert_array_equal(onehot.reshape(3, 6, 5).argmax(axis=2), OPS[cells])
    np.testing.assert_allclose(encode_cells(SPACE, cells, "vector"), SPACE.to_vector(OPS[cells]))
    with pytest.raises(ValueError):
        encode_cells(SPACE, cells, "ordinal")  # type: ignore[arg-type]


def test_warp_is_monotone_and_invertible() -> None:
    gp = GPProposer(SPACE, REF, warp_offset=0.05)
    y = np.array([[-94.0, 1.2], [-10.0, 8.0], [-90.0, 3.0]])
    gp.set_warp(y)
    z = gp.warp(y)
    np.testing.assert_allclose(gp.unwarp(z), y)
    assert np.all(
        np.diff(gp.warp(np.array([[-94.0, 1.0], [-93.0, 2.0], [-50.0, 5.0]])), axis=0) > 0
    )
    plain = GPProposer(SPACE, REF, warp_offset=None)
    plain.set_warp(y)
    np.testing.assert_array_equal(plain.warp(y), y)


def test_marginal_posterior_matches_botorch() -> None:
    import torch

    rng = np.random.default_rng(0)
    cells = rng.choice(SPACE.size, 30, replace=False)
    gp = GPProposer(SPACE, REF, **FAST)
    gp.set_warp(Y[cells])
    model = gp.fit(cells, Y[cells], seed=0)
    test = torch.as_tensor(encode_cells(SPACE, np.arange(40)), dtype=torch.double)
    mean, var = marginal_posterior(model, test, chunk=16)
    with torch.no_grad():
        post = model.posterior(test)
        np.testing.assert_allclose(mean, post.mean.numpy(), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(var, post.variance.numpy(), rtol=1e-5, atol=1e-8)


def test_propose_picks_distinct_untold_candidates() -> None:
    rng = np.random.default_rng(1)
    cells = rng.choice(SPACE.size, 25, replace=False)
    pool = np.setdiff1d(rng.choice(SPACE.size, 200, replace=False), cells)
    gp = GPProposer(SPACE, REF, **FAST)
    out = gp.propose(cells, Y[cells], pool, 3, pending=pool[:2], seed=0)
    assert out.shape == (3,) and len(set(out.tolist())) == 3
    assert set(out.tolist()) <= set(pool.tolist())
    assert gp.propose(cells, Y[cells], pool[:0], 3).size == 0


def test_lamoo_qlognehvi_candidates_stay_in_the_region() -> None:
    opt = LaMOO(SPACE, REF, seed=0, sampler="qlognehvi", n_init=12, leaf_size=5, **FAST)
    for _ in range(12):
        c = opt.ask(1)
        opt.tell(c, Y[c])
    for n in (1, 2):
        cells = opt.ask(n)
        assert len(opt.last_path) > 1
        region = opt.last_path[-1].region
        assert region is not None and np.all(region[cells])
        opt.tell(cells, Y[cells])
