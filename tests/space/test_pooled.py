"""PooledSpace: an indexed view of a sampled pool of a space too large to enumerate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cenas.errors import ConfigError
from cenas.optimize import make_optimizer
from cenas.space import DARTS_V2, DartsSpace, IndexedSpace, NB201Space, PooledSpace, SpaceError


@pytest.fixture(scope="module")
def pool() -> PooledSpace:  # type: ignore[type-arg]
    return PooledSpace(DartsSpace(), n=600, seed=3)


def test_pool_is_an_indexed_space_of_distinct_architectures(pool: PooledSpace) -> None:  # type: ignore[type-arg]
    assert isinstance(pool, IndexedSpace)
    assert pool.size == 600 and pool.all_vectors().shape == (600, pool.dim)
    hashes = {pool.canonical_hash(a) for a in pool.enumerate()}
    assert len(hashes) == 600
    for i in (0, 17, 599):
        arch = pool.from_index(i)
        assert pool.index(arch) == i
        assert pool.decode(json.loads(json.dumps(pool.encode(arch)))) == arch
        np.testing.assert_array_equal(pool.indices_to_vectors([i])[0], pool.to_vector([arch])[0])
    np.testing.assert_array_equal(pool.vectors_to_indices(pool.indices_to_vectors([5, 9])), [5, 9])


def test_same_seed_same_pool_other_seed_other_pool() -> None:
    a, b = PooledSpace(DartsSpace(), 50, seed=1), PooledSpace(DartsSpace(), 50, seed=1)
    c = PooledSpace(DartsSpace(), 50, seed=2)
    assert list(a.enumerate()) == list(b.enumerate())
    assert list(a.enumerate()) != list(c.enumerate())


def test_outside_the_pool_and_too_small_a_space_are_one_line_errors(pool: PooledSpace) -> None:  # type: ignore[type-arg]
    with pytest.raises(SpaceError, match="not in the pool"):
        pool.index(DARTS_V2)
    with pytest.raises(SpaceError, match=r"outside 0\.\.599"):
        pool.from_index(600)
    with pytest.raises(
        SpaceError, match=r"holds only 5234 distinct architectures, fewer than the pool of 20000"
    ):
        PooledSpace(NB201Space(), n=20000)


def test_neighbours_stay_in_the_pool(pool: PooledSpace) -> None:  # type: ignore[type-arg]
    arch = pool.from_index(0)
    for n in pool.neighbours(arch):
        pool.index(n)  # raises if not in the pool


@pytest.mark.parametrize("name", ["lamoo", "random", "qnehvi"])
def test_optimisers_search_a_pooled_darts_space_without_repeats(
    pool: PooledSpace,  # type: ignore[type-arg]
    name: str,
) -> None:
    opt = make_optimizer(name, pool, np.array([0.0, 5.0]), seed=0)
    rng = np.random.default_rng(0)
    seen: list[int] = []
    for _ in range(25):
        cand = opt.ask(1)
        assert cand.shape == (1,) and 0 <= cand[0] < pool.size
        seen.append(int(cand[0]))
        opt.tell(cand, np.array([[-rng.uniform(50, 90), rng.uniform(1, 4)]]))
    assert len(set(seen)) == len(seen)
    again = make_optimizer(name, pool, np.array([0.0, 5.0]), seed=0)
    assert int(again.ask(1)[0]) == seen[0]  # seeded


def test_nsga2_searches_a_pooled_darts_space_without_repeats(pool: PooledSpace) -> None:  # type: ignore[type-arg]
    def drive(seed: int) -> list[int]:
        opt = make_optimizer("nsga2", pool, np.array([0.0, 5.0]), seed=seed, pop_size=8)
        rng = np.random.default_rng(0)
        seen: list[int] = []
        for n in [3, 1, 8, 2, 5, 1, 10, 4, 6]:  # several generations, in uneven batches
            cand = opt.ask(n)
            assert cand.shape == (n,) and ((cand >= 0) & (cand < pool.size)).all()
            seen.extend(cand.tolist())
            opt.tell(cand, np.column_stack([-rng.uniform(50, 90, n), rng.uniform(1, 4, n)]))
        assert opt.state_dict()["n_generations"] >= 4
        assert opt.n_available == pool.size - len(seen)
        return seen

    seen = drive(0)
    assert len(set(seen)) == len(seen) == 40
    assert drive(0) == seen  # seeded
    assert drive(1) != seen
    with pytest.raises(ConfigError, match=r"nsga2.*darts.*PooledSpace"):
        make_optimizer("nsga2", DartsSpace(), np.array([0.0, 5.0]))
