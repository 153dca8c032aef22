"""NSGA-II behind the ask/tell interface, driven through pymoo.

Deb, Pratap, Agarwal & Meyarivan, "A Fast and Elitist Multiobjective Genetic Algorithm:
NSGA-II", IEEE Transactions on Evolutionary Computation 6(2), 2002; implementation: pymoo
(Blank & Deb, IEEE Access 2020), used through its ask/tell API.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cenas.optimize.base import Optimizer
from cenas.space import NB201Space


class NSGA2(Optimizer):
    """NSGA-II (Deb et al., IEEE TEVC 2002) over the integer encoding, via pymoo's ask/tell.

    Each cell is six integer variables (the operation of each edge, in ``[0, n_ops)``);
    offspring come from simulated binary crossover and polynomial mutation on the integers
    with rounding repair (pymoo's recipe for discrete variables).

    The generation pymoo asks for is handed out cell by cell. Offspring that were already
    told are *not* evaluated again: pymoo receives their known objectives for free. Offspring
    that are taken but not told (pending or excluded) are dropped. When a generation has been
    handed out, pymoo is told every member whose objectives are known and asked for the next;
    so any ask/tell batching works, including asynchronous use.

    Args:
        space: The search space.
        ref_point: Reference point (minimisation form; unused by NSGA-II itself).
        seed: Seed of pymoo's random generator.
        pop_size: Population size (20: with 50-200 evaluations this gives 3-10
            generations, the usual trade-off on NAS-Bench-201).
        crossover_eta: Distribution index of SBX (small: offspring far from parents, suited
            to five values per variable).
        mutation_eta: Distribution index of polynomial mutation.
        max_empty_generations: Generations in a row without a new cell before an ask gives up
            (the base class then tops up with uniform random cells).
    """

    name = "nsga2"

    def __init__(
        self,
        space: NB201Space,
        ref_point: ArrayLike,
        seed: int = 0,
        *,
        pop_size: int = 20,
        crossover_eta: float = 3.0,
        mutation_eta: float = 3.0,
        max_empty_generations: int = 20,
    ) -> None:
        from pymoo.algorithms.moo.nsga2 import NSGA2 as PymooNSGA2
        from pymoo.core.problem import Problem
        from pymoo.core.termination import NoTermination
        from pymoo.operators.crossover.sbx import SBX
        from pymoo.operators.mutation.pm import PM
        from pymoo.operators.repair.rounding import RoundingRepair
        from pymoo.operators.sampling.rnd import IntegerRandomSampling

        super().__init__(space, ref_point, seed)
        self.pop_size = int(pop_size)
        self.max_empty_generations = int(max_empty_generations)
        self._problem = Problem(
            n_var=space.n_edges,
            n_obj=self.n_objectives,
            xl=0,
            xu=space.n_ops - 1,
            vtype=int,
        )
        self._algorithm = PymooNSGA2(
            pop_size=self.pop_size,
            sampling=IntegerRandomSampling(),
            crossover=SBX(prob=1.0, eta=crossover_eta, vtype=float, repair=RoundingRepair()),
            mutation=PM(prob=1.0, eta=mutation_eta, vtype=float, repair=RoundingRepair()),
            eliminate_duplicates=True,
        )
        self._algorithm.setup(self._problem, termination=NoTermination(), seed=seed, verbose=False)
        self._generation: Any = None
        self._generation_cells = np.empty(0, dtype=np.int64)
        self._queue: deque[int] = deque()
        self._known: dict[int, NDArray[np.float64]] = {}
        self.n_generations = 0

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
        x = np.asarray(generation.get("X"), dtype=np.float64)
        cells = self.space.ops_to_indices(np.clip(np.rint(x), 0, self.space.n_ops - 1))
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
        return {
            **super().state_dict(),
            "pop_size": self.pop_size,
            "n_generations": self.n_generations,
        }


__all__ = ["NSGA2"]
