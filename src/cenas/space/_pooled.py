"""An enumerable view of a space too large to enumerate: a seeded pool of candidates.

The optimisers (LaMOO, random search) and the engine address architectures by an integer
key and score candidate sets in bulk (LaMOO classifies every candidate with each node's
SVM). A space such as DARTS's (about 2.8e20 cells) cannot be enumerated, so
:class:`PooledSpace` draws a seeded pool of ``n`` architectures uniformly from it, distinct
by canonical hash (:class:`~cenas.space.SpaceSampler`), and offers the
:class:`~cenas.space.IndexedSpace` members over that pool: an architecture's key is its
position in the pool. This is how LaMOO samples inside a region of a continuous or very
large space, by drawing candidates and keeping those its classifiers place in the region
(Zhao, Wang & Guo, "Multi-objective Optimization by Learning Space Partitions", ICLR 2022,
Sec. 4) — here the draws are made once, up front, so that every candidate has a stable key
that storage, resume and the optimiser's no-repeat bookkeeping can rely on.

Everything else (encoding, decoding, vectors, neighbours, hashing, printing) is the
underlying space's; storage keeps each architecture's encoding, never only its key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Generic

import numpy as np
from numpy.typing import NDArray

from cenas.space._protocol import ArchT, Encoding, SearchSpace, SpaceError, SpaceSampler


class PooledSpace(Generic[ArchT]):
    """``n`` architectures of ``space`` drawn once, uniformly and distinct by canonical hash.

    Args:
        space: The underlying space (any :class:`~cenas.space.SearchSpace`).
        n: Size of the pool.
        seed: Seed of the draw (the same seed gives the same pool).

    Raises:
        SpaceError: If the space holds fewer than ``n`` distinct architectures.
    """

    def __init__(self, space: SearchSpace[ArchT], n: int = 5000, seed: int = 0) -> None:
        if n < 1:
            raise SpaceError(f"pooled space: the pool needs at least 1 architecture, got {n}")
        self.base = space
        self.seed = int(seed)
        archs = SpaceSampler(space, seed=seed).draw(n)
        if len(archs) < n:
            raise SpaceError(
                f"pooled space: {space.name} holds only {len(archs)} distinct architectures, "
                f"fewer than the pool of {n}"
            )
        self._archs: list[ArchT] = list(archs)
        self._hash = {space.canonical_hash(a): i for i, a in enumerate(self._archs)}
        self._vectors = np.asarray(space.to_vector(self._archs), dtype=np.float64)

    # ------------------------------------------------------------ the space
    @property
    def name(self) -> str:
        """``<space>-pool<n>-seed<seed>``."""
        return f"{self.base.name}-pool{self.size}-seed{self.seed}"

    @property
    def size(self) -> int:
        """Architectures in the pool."""
        return len(self._archs)

    @property
    def dim(self) -> int:
        """Columns of the underlying space's vectors."""
        return int(self._vectors.shape[1])

    def encode(self, arch: ArchT, /) -> Encoding:
        """The underlying space's encoding."""
        return self.base.encode(arch)

    def decode(self, encoding: Encoding, /) -> ArchT:
        """The underlying space's decoding (the architecture need not be in the pool)."""
        return self.base.decode(encoding)

    def sample_archs(self, rng: np.random.Generator, n: int, /) -> list[ArchT]:
        """``n`` pool members drawn uniformly, with replacement."""
        return [self._archs[int(i)] for i in self.sample(rng, n)]

    def to_vector(self, archs: Sequence[ArchT], /) -> NDArray[np.float64]:
        """The underlying space's vectors."""
        return self.base.to_vector(archs)

    def neighbours(self, arch: ArchT, /) -> list[ArchT]:
        """The underlying space's one-edit neighbours that are in the pool."""
        return [a for a in self.base.neighbours(arch) if self.base.canonical_hash(a) in self._hash]

    def canonical_hash(self, arch: ArchT, /) -> str:
        """The underlying space's canonical hash."""
        return self.base.canonical_hash(arch)

    def to_str(self, arch: ArchT, /) -> str:
        """The underlying space's printed form."""
        return self.base.to_str(arch)

    # -------------------------------------------------------------- indices
    def index(self, arch: ArchT, /) -> int:
        """Pool position of ``arch`` (or of its equivalent).

        Raises:
            SpaceError: If no equivalent architecture is in the pool.
        """
        key = self.base.canonical_hash(arch)
        if key not in self._hash:
            raise SpaceError(f"{self.name}: {self.base.to_str(arch)} is not in the pool")
        return self._hash[key]

    def from_index(self, index: int, /) -> ArchT:
        """The architecture at pool position ``index``."""
        if not 0 <= int(index) < self.size:
            raise SpaceError(f"{self.name}: index {index} is outside 0..{self.size - 1}")
        return self._archs[int(index)]

    def enumerate(self) -> Iterator[ArchT]:
        """Every pool member, in index order."""
        return iter(self._archs)

    def sample(self, rng: np.random.Generator, n: int = 1, /) -> NDArray[np.int64]:
        """``n`` pool indices drawn uniformly, with replacement."""
        return np.asarray(rng.integers(0, self.size, size=n), dtype=np.int64)

    def all_vectors(self) -> NDArray[np.float64]:
        """Vectors of the whole pool, ``(size, dim)``."""
        return self._vectors

    def indices_to_vectors(
        self, indices: NDArray[np.int64] | Sequence[int], /
    ) -> NDArray[np.float64]:
        """Vectors of pool members, ``(n, dim)``."""
        return self._vectors[np.asarray(indices, dtype=np.int64)]

    def vectors_to_indices(self, x: NDArray[np.float64], /) -> NDArray[np.int64]:
        """The pool member nearest (Euclidean) to each row of ``x``."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        sq = (x**2).sum(1)[:, None] - 2 * x @ self._vectors.T + (self._vectors**2).sum(1)[None]
        return np.asarray(sq.argmin(axis=1), dtype=np.int64)


__all__ = ["PooledSpace"]
