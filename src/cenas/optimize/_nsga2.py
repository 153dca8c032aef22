"""NSGA-II behind the ask/tell interface, driven through pymoo.

Deb, Pratap, Agarwal & Meyarivan, "A Fast and Elitist Multiobjective Genetic Algorithm:
NSGA-II", IEEE Transactions on Evolutionary Computation 6(2), 2002; implementation: pymoo
(Blank & Deb, IEEE Access 2020), used through its ask/tell API.

Two encodings (see :class:`NSGA2`): a fixed grid of edges (NAS-Bench-201: one integer gene per
edge, pymoo's integer operators), and any indexed space with local moves (a
:class:`~cenas.space.PooledSpace` of DARTS genotypes: one gene, the pool index, varied through
the space by per-node crossover of genotypes, one-edit mutation and a map back into the pool).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cenas.errors import CenasError
from cenas.optimize.base import Optimizer
from cenas.space import DartsSpace, Genotype, IndexedSpace, NB201Space

_TIE = 1e-9
"""Squared distances within this of the least count as ties (broken at random)."""


def _is_grid(space: object) -> bool:
    """Whether ``space`` is a fixed grid of edges (NAS-Bench-201's encoding)."""
    return all(hasattr(space, a) for a in ("n_edges", "n_ops", "ops_to_indices"))


def _is_indexed(space: object) -> bool:
    """Whether ``space`` is an enumerable space with indices, vectors and neighbours."""
    return isinstance(space, IndexedSpace) and isinstance(getattr(space, "size", None), int)


class _PoolVariation:
    """NSGA-II's variation on the architectures of an indexed space, one gene = one index.

    Every operator returns indices of ``space``: a new architecture is mapped back into the
    space by :meth:`to_pool` (its own index when the space holds it and it is free, else the
    nearest free member by Euclidean distance of :meth:`~cenas.space.SearchSpace.to_vector`,
    ties broken at random). "Free" means not proposed, told or excluded by the optimiser, so
    that every generation is new architectures; the optimiser then never proposes a cell twice.

    Args:
        space: An :class:`~cenas.space.IndexedSpace` (e.g. a
            :class:`~cenas.space.PooledSpace`; its ``base`` is used for the moves).
        taken: The optimiser's mask of taken indices (read at every call).
        crossover_prob: Probability that a mating crosses its parents (else copies them).
        mutation_prob: Probability that an offspring is mutated.
    """

    def __init__(
        self,
        space: IndexedSpace[Any],
        taken: Callable[[], NDArray[np.bool_]],
        crossover_prob: float,
        mutation_prob: float,
    ) -> None:
        self.space = space
        self.base: Any = getattr(space, "base", space)
        self.taken = taken
        self.crossover_prob = float(crossover_prob)
        self.mutation_prob = float(mutation_prob)
        self.vectors = np.asarray(space.all_vectors(), dtype=np.float64)
        self._sq = (self.vectors**2).sum(axis=1)
        self.per_node = isinstance(self.base, DartsSpace)
        self._keys: dict[int, str] = {}

    # ------------------------------------------------------------- bookkeeping
    def key(self, index: int) -> str:
        """Canonical hash of the architecture at ``index`` (cached)."""
        if index not in self._keys:
            self._keys[index] = self.space.canonical_hash(self.space.from_index(index))
        return self._keys[index]

    def _exact(self, arch: object) -> int | None:
        try:
            return int(self.space.index(arch))
        except (CenasError, ValueError, KeyError):
            return None

    def to_pool(
        self,
        rng: np.random.Generator,
        arch: object | None,
        vector: NDArray[np.float64],
        exclude: set[int],
    ) -> int:
        """The index an architecture (or, with ``arch=None``, a vector) maps to.

        ``arch`` itself when the space holds it (by canonical hash) and it is free and not in
        ``exclude``; otherwise the nearest such member to ``vector``. When no member is free
        and outside ``exclude``, the nearest outside ``exclude`` (then: any); pymoo's duplicate
        elimination and the optimiser's bookkeeping drop what is not new.
        """
        ok = ~self.taken()
        if exclude:
            ok[np.fromiter(exclude, dtype=np.int64)] = False
        if arch is not None:
            i = self._exact(arch)
            if i is not None and ok[i]:
                return i
        if not ok.any():
            ok = np.ones_like(ok)
            if exclude and len(exclude) < ok.shape[0]:
                ok[np.fromiter(exclude, dtype=np.int64)] = False
        nz = np.flatnonzero(vector)  # sparse (one-hot) vectors: only their columns
        dot = self.vectors[:, nz] @ vector[nz]
        d = np.where(ok, self._sq - 2.0 * dot, np.inf)
        best = np.flatnonzero(d <= d.min() + _TIE)
        return int(best[0] if best.shape[0] == 1 else best[rng.integers(best.shape[0])])

    # --------------------------------------------------------------- operators
    def sample(self, rng: np.random.Generator, n: int) -> NDArray[np.int64]:
        """``n`` distinct members drawn uniformly from the free ones (then from the rest)."""
        free = np.flatnonzero(~self.taken())
        if free.shape[0] >= n:
            return np.asarray(rng.choice(free, size=n, replace=False), dtype=np.int64)
        rest = np.flatnonzero(self.taken())
        extra = rng.choice(rest, size=min(n - free.shape[0], rest.shape[0]), replace=False)
        return np.concatenate([free, extra]).astype(np.int64)

    def crossover(
        self, rng: np.random.Generator, a: int, b: int, claimed: set[int]
    ) -> tuple[int, int]:
        """Two children of parents ``a`` and ``b`` (with probability ``crossover_prob``; else
        the parents themselves).

        DARTS genotypes: uniform crossover of whole nodes (each of the 4 nodes of each cell
        takes both of its ``(op, input)`` pairs from one parent; the second child takes the
        other parent's), so a child is always a valid genotype. Other spaces: uniform
        crossover of the vectors' columns, mapped to the nearest member.
        """
        if rng.random() >= self.crossover_prob:
            return a, b
        exclude = {a, b} | claimed
        if self.per_node:
            ga = cast(Genotype, self.space.from_index(a))
            gb = cast(Genotype, self.space.from_index(b))
            take_a = rng.random(8) < 0.5
            kids = [_node_child(ga, gb, take_a), _node_child(ga, gb, ~take_a)]
            vecs = np.asarray(self.space.to_vector(kids), dtype=np.float64)
            archs: list[object | None] = list(kids)
        else:
            va, vb = self.vectors[a], self.vectors[b]
            mask = rng.random(va.shape[0]) < 0.5
            vecs = np.stack([np.where(mask, va, vb), np.where(mask, vb, va)])
            archs = [None, None]
        c1 = self.to_pool(rng, archs[0], vecs[0], exclude)
        c2 = self.to_pool(rng, archs[1], vecs[1], exclude | {c1})
        return c1, c2

    def mutate(self, rng: np.random.Generator, index: int, claimed: set[int]) -> int:
        """With probability ``mutation_prob``: one random local move of the architecture
        (a uniform pick from the underlying space's ``neighbours``), mapped to the space
        (never back to ``index`` itself, nor to a ``claimed`` index); else ``index``."""
        if rng.random() >= self.mutation_prob:
            return index
        moves = self.base.neighbours(self.space.from_index(index))
        exclude = claimed | {index}
        if not moves:
            return self.to_pool(rng, None, self.vectors[index], exclude)
        move = moves[int(rng.integers(len(moves)))]
        vector = np.asarray(self.base.to_vector([move]), dtype=np.float64)[0]
        return self.to_pool(rng, move, vector, exclude)


def _node_child(a: Genotype, b: Genotype, take_a: NDArray[np.bool_]) -> Genotype:
    """Genotype whose node ``k`` of cell ``c`` is ``a``'s where ``take_a[4 * c + k - 2]``."""
    cells = []
    for c, (pa, pb) in enumerate(((a.normal, b.normal), (a.reduce, b.reduce))):
        pairs: list[tuple[str, int]] = []
        for node in range(4):
            src = pa if take_a[4 * c + node] else pb
            pairs.extend(src[2 * node : 2 * node + 2])
        cells.append(tuple(pairs))
    return a._replace(normal=cells[0], reduce=cells[1])


def _pool_algorithm(variation: _PoolVariation, pop_size: int) -> Any:
    """pymoo's NSGA-II with :class:`_PoolVariation`'s operators and hash de-duplication."""
    from pymoo.algorithms.moo.nsga2 import NSGA2 as PymooNSGA2
    from pymoo.core.crossover import Crossover
    from pymoo.core.duplicate import DuplicateElimination
    from pymoo.core.mutation import Mutation
    from pymoo.core.sampling import Sampling

    class PoolSampling(Sampling):  # type: ignore[misc]
        def _do(self, problem: Any, n_samples: int, *args: Any, **kwargs: Any) -> Any:
            return variation.sample(kwargs["random_state"], n_samples)[:, None]

    class PoolCrossover(Crossover):  # type: ignore[misc]
        def __init__(self) -> None:  # the crossover probability is the variation's
            super().__init__(n_parents=2, n_offsprings=2, prob=1.0)

        def _do(self, problem: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
            rng = kwargs["random_state"]
            out = np.empty((2, X.shape[1], 1), dtype=np.int64)
            claimed: set[int] = set()
            for k in range(X.shape[1]):
                c1, c2 = variation.crossover(rng, int(X[0, k, 0]), int(X[1, k, 0]), claimed)
                out[0, k, 0], out[1, k, 0] = c1, c2
                claimed.update((c1, c2))
            return out

    class PoolMutation(Mutation):  # type: ignore[misc]
        def __init__(self) -> None:  # the mutation probability is the variation's
            super().__init__(prob=1.0)

        def _do(self, problem: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
            rng = kwargs["random_state"]
            out = np.asarray(X, dtype=np.int64).copy()
            claimed = {int(x) for x in out[:, 0]}
            for r in range(out.shape[0]):
                new = variation.mutate(rng, int(out[r, 0]), claimed)
                out[r, 0] = new
                claimed.add(new)
            return out

    class HashDuplicates(DuplicateElimination):  # type: ignore[misc]
        def _do(self, pop: Any, other: Any, is_duplicate: Any) -> Any:
            seen = set() if other is None else {variation.key(int(x[0])) for x in other.get("X")}
            for i, x in enumerate(pop.get("X")):
                key = variation.key(int(x[0]))
                if key in seen:
                    is_duplicate[i] = True
                else:
                    seen.add(key)
            return is_duplicate

    return PymooNSGA2(
        pop_size=pop_size,
        sampling=PoolSampling(),
        crossover=PoolCrossover(),
        mutation=PoolMutation(),
        eliminate_duplicates=HashDuplicates(),
    )


class NSGA2(Optimizer):
    """NSGA-II (Deb et al., IEEE TEVC 2002) via pymoo's ask/tell, over two kinds of space.

    **A fixed grid of edges** (NAS-Bench-201, any space with ``n_edges``, ``n_ops`` and
    ``ops_to_indices``): each cell is six integer variables (the operation of each edge, in
    ``[0, n_ops)``); offspring come from simulated binary crossover and polynomial mutation
    on the integers with rounding repair (pymoo's recipe for discrete variables).

    **Any other indexed space with neighbours** (an :class:`~cenas.space.IndexedSpace`, e.g.
    a :class:`~cenas.space.PooledSpace` of DARTS genotypes, whose keys are pool positions):
    one integer variable, the index, and variation through the architectures:

    - *sampling*: distinct members drawn uniformly among those not yet taken;
    - *crossover* (probability ``crossover_prob`` per mating, two children): for DARTS, each
      of the 8 nodes (4 per cell) takes both of its ``(op, input)`` pairs from one parent,
      uniformly, the second child the complement; every child is a valid genotype, since a
      node's inputs are always earlier nodes and distinct. Other spaces: uniform crossover
      of the two parents' vector columns;
    - *mutation* (probability ``mutation_prob`` per offspring): one move to a uniformly
      drawn member of the underlying space's ``neighbours`` (DARTS: 120 one-edit moves);
    - *into the pool*: a child that the pool holds (by canonical hash) and that is free is
      kept; any other child is replaced by the free pool member nearest to its vector
      (Euclidean; for DARTS's one-hot incidences, the member sharing the most
      ``(node, input, op)`` incidences), ties broken at random. A mutant never maps back to
      its parent. (A seeded random pool almost never holds a one-edit neighbour of its
      members, e.g. none of 24,000 moves from 200 members of a 3,000-genotype DARTS pool;
      moving "to a neighbour in the pool, else a random member" would be random search.)
      Mapping to *free* members makes every generation new architectures, as in the
      unbounded space NSGA-II assumes;
    - *duplicates*: eliminated by canonical hash, within offspring and against the
      population.

    The generation pymoo asks for is handed out cell by cell. Offspring that were already
    told are *not* evaluated again: pymoo receives their known objectives for free. Offspring
    that are taken but not told (pending or excluded) are dropped. When a generation has been
    handed out, pymoo is told every member whose objectives are known and asked for the next;
    so any ask/tell batching works, including asynchronous use. Everything random comes from
    pymoo's seeded generator, so a seed fixes the proposals of a given ask/tell sequence.

    Args:
        space: The search space (see above).
        ref_point: Reference point (minimisation form; unused by NSGA-II itself).
        seed: Seed of pymoo's random generator.
        pop_size: Population size (20: with 50-200 evaluations this gives 3-10
            generations, the usual trade-off on NAS-Bench-201).
        crossover_eta: Grid spaces only: distribution index of SBX (default 3.0, small:
            offspring far from parents, suited to five values per variable).
        mutation_eta: Grid spaces only: distribution index of polynomial mutation (default
            3.0).
        crossover_prob: Other spaces only: probability of crossover per mating (default 0.9,
            Deb et al.'s setting).
        mutation_prob: Other spaces only: probability of a one-edit move per offspring
            (default 0.2).
        max_empty_generations: Generations in a row without a new cell before an ask gives up
            (the base class then tops up with uniform random cells).

    Raises:
        TypeError: If ``space`` is neither kind.
        ValueError: If an option of the other kind is given, or a probability is outside
            ``[0, 1]``.
    """

    name = "nsga2"

    def __init__(
        self,
        space: NB201Space,
        ref_point: ArrayLike,
        seed: int = 0,
        *,
        pop_size: int = 20,
        crossover_eta: float | None = None,
        mutation_eta: float | None = None,
        crossover_prob: float | None = None,
        mutation_prob: float | None = None,
        max_empty_generations: int = 20,
    ) -> None:
        self.grid = _is_grid(space)
        if not self.grid and not _is_indexed(space):
            raise TypeError(f"the {getattr(space, 'name', space)} space is not indexed")
        wrong = (
            {"crossover_prob": crossover_prob, "mutation_prob": mutation_prob}
            if self.grid
            else {"crossover_eta": crossover_eta, "mutation_eta": mutation_eta}
        )
        for option, value in wrong.items():
            if value is not None:
                kind = "spaces without fixed edges" if self.grid else "fixed-edge spaces (nb201)"
                raise ValueError(f"{option} applies only to {kind}, not to {space.name}")
        super().__init__(space, ref_point, seed)
        self.pop_size = int(pop_size)
        self.max_empty_generations = int(max_empty_generations)
        if self.grid:
            self._algorithm, self._problem = self._grid_setup(
                3.0 if crossover_eta is None else crossover_eta,
                3.0 if mutation_eta is None else mutation_eta,
            )
            self._variation: _PoolVariation | None = None
        else:
            probs = {
                "crossover_prob": 0.9 if crossover_prob is None else float(crossover_prob),
                "mutation_prob": 0.2 if mutation_prob is None else float(mutation_prob),
            }
            for option, p in probs.items():
                if not 0.0 <= p <= 1.0:
                    raise ValueError(f"{option} must be in [0, 1], got {p}")
            self._variation = _PoolVariation(
                cast(IndexedSpace[Any], space),
                lambda: self._taken,
                probs["crossover_prob"],
                probs["mutation_prob"],
            )
            self._algorithm, self._problem = self._pool_setup(self._variation)
        self._algorithm.setup(
            self._problem, termination=_no_termination(), seed=seed, verbose=False
        )
        self._generation: Any = None
        self._generation_cells = np.empty(0, dtype=np.int64)
        self._queue: deque[int] = deque()
        self._known: dict[int, NDArray[np.float64]] = {}
        self.n_generations = 0

    @staticmethod
    def supports(space: object) -> bool:
        """Whether NSGA-II can search ``space``: a fixed grid of edges, or an
        :class:`~cenas.space.IndexedSpace` (``from_index``, ``index``, vectors, and
        ``neighbours``)."""
        return _is_grid(space) or _is_indexed(space)

    def _grid_setup(self, crossover_eta: float, mutation_eta: float) -> tuple[Any, Any]:
        from pymoo.algorithms.moo.nsga2 import NSGA2 as PymooNSGA2
        from pymoo.core.problem import Problem
        from pymoo.operators.crossover.sbx import SBX
        from pymoo.operators.mutation.pm import PM
        from pymoo.operators.repair.rounding import RoundingRepair
        from pymoo.operators.sampling.rnd import IntegerRandomSampling

        problem = Problem(
            n_var=self.space.n_edges,
            n_obj=self.n_objectives,
            xl=0,
            xu=self.space.n_ops - 1,
            vtype=int,
        )
        algorithm = PymooNSGA2(
            pop_size=self.pop_size,
            sampling=IntegerRandomSampling(),
            crossover=SBX(prob=1.0, eta=crossover_eta, vtype=float, repair=RoundingRepair()),
            mutation=PM(prob=1.0, eta=mutation_eta, vtype=float, repair=RoundingRepair()),
            eliminate_duplicates=True,
        )
        return algorithm, problem

    def _pool_setup(self, variation: _PoolVariation) -> tuple[Any, Any]:
        from pymoo.core.problem import Problem

        problem = Problem(n_var=1, n_obj=self.n_objectives, xl=0, xu=self.space.size - 1, vtype=int)
        return _pool_algorithm(variation, self.pop_size), problem

    def _cells(self, x: Any) -> NDArray[np.int64]:
        """Indices of a generation's decision variables."""
        if self.grid:
            ops = np.asarray(x, dtype=np.float64)
            return self.space.ops_to_indices(np.clip(np.rint(ops), 0, self.space.n_ops - 1))
        return np.asarray(x, dtype=np.int64)[:, 0]

    def _on_tell(self, candidates: NDArray[np.int64], objectives: NDArray[np.float64]) -> None:
        for cell, y in zip(candidates, objectives, strict=True):
            self._known[int(cell)] = np.asarray(y, dtype=np.float64)

    def _advance(self) -> None:
        """Tell pymoo the known members of the current generation, then ask the next."""
        from pymoo.core.evaluator import Evaluator
        from pymoo.problems.static import StaticProblem

        if self._generation is not None:
            cells = self._generation_cells
            known = np.array([int(c) in self._known for c in cells], dtype=bool)
            if known.any():
                infills = self._generation[np.flatnonzero(known)]
                f = np.vstack([self._known[int(c)] for c in cells[known]])
                Evaluator().eval(StaticProblem(self._problem, F=f), infills)
                self._algorithm.tell(infills=infills)
            self._generation = None
        generation = self._algorithm.ask()
        cells = self._cells(generation.get("X"))
        self._generation = generation
        self._generation_cells = cells
        self.n_generations += 1
        queued = set(self._queue)
        for cell in cells.tolist():
            if not self._taken[cell] and cell not in queued:
                self._queue.append(cell)
                queued.add(cell)

    def _ask(self, n: int) -> NDArray[np.int64]:
        out: list[int] = []
        empty = 0
        while len(out) < n and empty < self.max_empty_generations:
            if not self._queue:
                self._advance()
                if not self._queue:
                    empty += 1
                    continue
                empty = 0
            c = self._queue.popleft()
            if not self._taken[c] and c not in out:
                out.append(c)
        return np.asarray(out, dtype=np.int64)

    def state_dict(self) -> dict[str, Any]:
        """Serialisable summary."""
        out = {
            **super().state_dict(),
            "pop_size": self.pop_size,
            "n_generations": self.n_generations,
        }
        if self._variation is not None:
            out["crossover_prob"] = self._variation.crossover_prob
            out["mutation_prob"] = self._variation.mutation_prob
            out["crossover"] = "per-node" if self._variation.per_node else "per-column"
        return out


def _no_termination() -> Any:
    from pymoo.core.termination import NoTermination

    return NoTermination()


__all__ = ["NSGA2"]
