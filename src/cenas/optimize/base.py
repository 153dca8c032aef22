"""The ask/tell optimiser interface shared by LaMOO and the baselines."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cenas.space import NB201Space


class Optimizer(ABC):
    """Ask/tell multi-objective optimiser over a discrete cell space.

    Candidates are cell indices of ``space`` (see :class:`cenas.space.NB201Space`);
    objectives are in minimisation form ``(n, m)`` with a reference point ``ref_point``.
    An optimiser never proposes a cell it has proposed before, been told about, or been asked
    to :meth:`exclude`, so no architecture is evaluated twice.

    Subclasses implement :meth:`_ask` and may extend :meth:`_on_tell`.

    Args:
        space: The search space.
        ref_point: Reference point of the hypervolume, minimisation form.
        seed: Seed of the optimiser's random generator.
    """

    name: str = "optimizer"

    def __init__(self, space: NB201Space, ref_point: ArrayLike, seed: int = 0) -> None:
        self.space = space
        self.ref_point = np.asarray(ref_point, dtype=np.float64)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._x: list[int] = []
        self._y: list[NDArray[np.float64]] = []
        self._taken = np.zeros(space.size, dtype=bool)

    # ------------------------------------------------------------------ public
    @property
    def n_objectives(self) -> int:
        """Number of objectives."""
        return int(self.ref_point.shape[0])

    @property
    def X(self) -> NDArray[np.int64]:
        """Cells told so far, ``(n,)``."""
        return np.asarray(self._x, dtype=np.int64)

    @property
    def Y(self) -> NDArray[np.float64]:
        """Objectives told so far, ``(n, m)``."""
        if not self._y:
            return np.empty((0, self.n_objectives))
        return np.vstack(self._y)

    @property
    def n_available(self) -> int:
        """Cells never proposed, told or excluded."""
        return int((~self._taken).sum())

    def ask(self, n: int = 1) -> NDArray[np.int64]:
        """Propose up to ``n`` distinct new cells (fewer only when the space runs out)."""
        n = min(int(n), self.n_available)
        if n <= 0:
            return np.empty(0, dtype=np.int64)
        cand = np.asarray(self._ask(n), dtype=np.int64)
        cand = _unique_keep_order(cand[~self._taken[cand]])[:n]
        if cand.shape[0] < n:  # top up uniformly among the untaken cells
            free = np.flatnonzero(~self._taken)
            free = free[~np.isin(free, cand)]
            extra = self.rng.choice(free, size=n - cand.shape[0], replace=False)
            cand = np.concatenate([cand, extra])
        self._taken[cand] = True
        return cand

    def tell(self, candidates: ArrayLike, objectives: ArrayLike) -> None:
        """Report true objectives (minimisation form) of evaluated cells."""
        cand = np.atleast_1d(np.asarray(candidates, dtype=np.int64))
        obj = np.asarray(objectives, dtype=np.float64).reshape(cand.shape[0], self.n_objectives)
        self._taken[cand] = True
        self._x.extend(int(c) for c in cand)
        self._y.extend(obj)
        self._on_tell(cand, obj)

    def set_estimates(self, candidates: ArrayLike, objectives: ArrayLike) -> None:  # noqa: B027
        """Estimated objectives of cells proposed but not told, in the units of the told ones
        (the engine calibrates them on the trained cells): weaker evidence of where good
        cells lie. Each call replaces the previous set. Ignored by default; LaMOO fits its
        partition tree on them beside the told cells.
        """

    def exclude(self, candidates: ArrayLike) -> None:
        """Never propose these cells (e.g. already evaluated elsewhere)."""
        self._taken[np.atleast_1d(np.asarray(candidates, dtype=np.int64))] = True

    def state_dict(self) -> dict[str, Any]:
        """Serialisable summary (for provenance)."""
        return {"name": self.name, "seed": self.seed, "n_told": len(self._x)}

    # -------------------------------------------------------------- subclasses
    @abstractmethod
    def _ask(self, n: int) -> NDArray[np.int64]:
        """Return about ``n`` candidate cells; taken ones are filtered by :meth:`ask`."""

    def _on_tell(  # noqa: B027 - an optional hook, empty on purpose
        self, candidates: NDArray[np.int64], objectives: NDArray[np.float64]
    ) -> None:
        """Hook after new observations (default: nothing)."""

    def _free_cells(self) -> NDArray[np.int64]:
        return np.flatnonzero(~self._taken)


def _unique_keep_order(a: NDArray[np.int64]) -> NDArray[np.int64]:
    _, first = np.unique(a, return_index=True)
    return a[np.sort(first)]


class RandomSearch(Optimizer):
    """Uniform random search without repetition (Bergstra & Bengio, JMLR 2012)."""

    name = "random"

    def _ask(self, n: int) -> NDArray[np.int64]:
        return np.asarray(self.rng.choice(self._free_cells(), size=n, replace=False))
