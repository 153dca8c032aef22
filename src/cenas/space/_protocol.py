"""The search-space protocol: what the engine, storage and optimisers may rely on.

A search space is described structurally (PEP 544, "Protocols: Structural subtyping"):
anything with the members of :class:`SearchSpace` is one, with no base class to inherit.
Architectures are opaque to everything outside the space; what leaves the space is an
*encoding* (JSON-safe, for storage and provenance), a *vector* (for LaMOO's classifiers and
Gaussian-process surrogates), a *canonical hash* (so that two functionally equivalent
architectures are trained once) or a human-readable string.

:class:`IndexedSpace` adds what an enumerable space offers on top (indices and the
vectorised paths over the whole enumeration), which today's optimisers use.

:class:`SpaceSampler` draws architectures that are new by canonical hash from any
:class:`SearchSpace`, enumerable or not: random search without index bookkeeping
(Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 2012).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Generic, Protocol, TypeAlias, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from cenas.errors import CenasError

Encoding: TypeAlias = (
    str | int | float | bool | Sequence["Encoding"] | Mapping[str, "Encoding"] | None
)
"""A JSON value: what :meth:`SearchSpace.encode` returns and :meth:`SearchSpace.decode` reads.

``json.loads(json.dumps(e)) == e`` must hold for every encoding a space returns, so its
sequences are lists (never tuples) and its mappings dicts with string keys. (The alias says
``Sequence``/``Mapping`` so that e.g. ``list[int]`` is one: ``list`` itself is invariant.)"""

ArchT = TypeVar("ArchT")
"""The architecture type of a space (NB201: a tuple of six operation indices)."""


class SpaceError(CenasError):
    """An architecture encoding that a search space cannot decode."""


@runtime_checkable
class SearchSpace(Protocol[ArchT]):
    """A search space of architectures of type ``ArchT``.

    ``isinstance(obj, SearchSpace)`` checks only that the members exist (a property of
    ``runtime_checkable`` protocols); mypy checks their signatures.
    """

    @property
    def name(self) -> str:
        """Short identifier of the space (e.g. ``"nb201"``), stored beside encodings."""
        ...

    @property
    def size(self) -> int | None:
        """Number of architectures, or ``None`` when the space is not enumerable."""
        ...

    @property
    def dim(self) -> int:
        """Number of columns of :meth:`to_vector`."""
        ...

    def encode(self, arch: ArchT, /) -> Encoding:
        """The JSON-safe encoding of ``arch``; :meth:`decode` inverts it exactly."""
        ...

    def decode(self, encoding: Encoding, /) -> ArchT:
        """The architecture of an encoding.

        Raises:
            SpaceError: With a one-line message naming what is wrong, if ``encoding`` is
                malformed.
        """
        ...

    def sample_archs(self, rng: np.random.Generator, n: int, /) -> list[ArchT]:
        """``n`` architectures drawn uniformly at random, with replacement."""
        ...

    def to_vector(self, archs: Sequence[ArchT], /) -> NDArray[np.float64]:
        """Continuous features of a batch of architectures, ``(len(archs), dim)``."""
        ...

    def neighbours(self, arch: ArchT, /) -> list[ArchT]:
        """Every architecture one edit away from ``arch`` (mutation / local search moves)."""
        ...

    def canonical_hash(self, arch: ArchT, /) -> str:
        """A key equal for functionally equivalent architectures (and, by design, only for
        those the space can prove equivalent)."""
        ...

    def to_str(self, arch: ArchT, /) -> str:
        """A human-readable description of ``arch``."""
        ...


@runtime_checkable
class IndexedSpace(SearchSpace[ArchT], Protocol[ArchT]):
    """A :class:`SearchSpace` whose architectures are enumerated ``0 .. size - 1``.

    The batch methods work on integer index arrays, the fast path of today's optimisers.
    """

    @property
    def size(self) -> int:
        """Number of architectures."""
        ...

    def index(self, arch: ArchT, /) -> int:
        """Position of ``arch`` in the enumeration."""
        ...

    def from_index(self, index: int, /) -> ArchT:
        """The architecture at position ``index``."""
        ...

    def enumerate(self) -> Iterator[ArchT]:
        """Every architecture, in index order."""
        ...

    def sample(self, rng: np.random.Generator, n: int = 1, /) -> NDArray[np.int64]:
        """``n`` indices drawn uniformly, with replacement, ``(n,)``."""
        ...

    def all_vectors(self) -> NDArray[np.float64]:
        """:meth:`to_vector` of every architecture, ``(size, dim)``, in index order."""
        ...

    def indices_to_vectors(
        self, indices: NDArray[np.int64] | Sequence[int], /
    ) -> NDArray[np.float64]:
        """:meth:`to_vector` of a batch of indices, ``(n, dim)``."""
        ...

    def vectors_to_indices(self, x: NDArray[np.float64], /) -> NDArray[np.int64]:
        """Indices of the architectures whose region of the continuous space holds each row
        of ``x`` ``(n, dim)``; returns ``(n,)``."""
        ...


_MAX_SCAN = 1 << 22
"""Largest enumerable space that :class:`SpaceSampler` falls back to scanning."""


class SpaceSampler(Generic[ArchT]):
    """Random architectures of any :class:`SearchSpace`, each new by canonical hash.

    Draws come from :meth:`SearchSpace.sample_archs` (uniform over architectures, so an
    equivalence class is drawn with probability proportional to its size); a draw whose
    :meth:`SearchSpace.canonical_hash` was seen before (drawn earlier or passed to
    :meth:`exclude`) is rejected. After ``patience`` rejections in a row, an enumerable space
    (an :class:`IndexedSpace` of at most 4,194,304 architectures) is scanned in a random order
    instead, so every class is eventually reached; any other space is then deemed exhausted.

    Args:
        space: The search space.
        seed: Seed of the sampler's generator (or a generator to use).
        patience: Rejections in a row before falling back (or stopping).

    Raises:
        ValueError: If ``patience`` is not positive.
    """

    def __init__(
        self,
        space: SearchSpace[ArchT],
        seed: int | np.random.Generator = 0,
        *,
        patience: int = 1000,
    ) -> None:
        if patience < 1:
            raise ValueError(f"patience must be positive, got {patience}")
        self.space = space
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.patience = int(patience)
        self._seen: set[str] = set()
        self._scan: Iterator[ArchT] | None = None
        self._rejected = 0  # draws in a row that were not new
        self._exhausted = False

    @property
    def n_seen(self) -> int:
        """Distinct canonical hashes drawn or excluded so far."""
        return len(self._seen)

    @property
    def exhausted(self) -> bool:
        """Whether a draw has found no new architecture (see the class docstring)."""
        return self._exhausted

    def __contains__(self, arch: ArchT) -> bool:
        """Whether an architecture equivalent to ``arch`` was drawn or excluded."""
        return self.space.canonical_hash(arch) in self._seen

    def exclude(self, archs: Iterable[ArchT]) -> None:
        """Never return these architectures or any equivalent to them."""
        for arch in archs:
            self._seen.add(self.space.canonical_hash(arch))

    def draw(self, n: int) -> list[ArchT]:
        """Up to ``n`` architectures, pairwise inequivalent and new (fewer only when the space
        is exhausted)."""
        out: list[ArchT] = []
        while len(out) < n and not self._exhausted:
            if self._scan is None and self._rejected < self.patience:
                batch = self.space.sample_archs(self.rng, max(1, 2 * (n - len(out))))
                for arch in batch:
                    if self._take(arch):
                        out.append(arch)
                        self._rejected = 0
                        if len(out) == n:
                            break
                    else:
                        self._rejected += 1
                continue
            if self._scan is None:
                self._scan = self._start_scan()
                if self._scan is None:
                    self._exhausted = True
                    break
            for arch in self._scan:
                if self._take(arch):
                    out.append(arch)
                    if len(out) == n:
                        break
            else:
                self._exhausted = True
        return out

    def __iter__(self) -> Iterator[ArchT]:
        """New architectures one by one until the space is exhausted."""
        while True:
            got = self.draw(1)
            if not got:
                return
            yield got[0]

    def _take(self, arch: ArchT) -> bool:
        key = self.space.canonical_hash(arch)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def _start_scan(self) -> Iterator[ArchT] | None:
        space = self.space
        if not isinstance(space, IndexedSpace) or not 0 < space.size <= _MAX_SCAN:
            return None
        order = self.rng.permutation(space.size)
        return (space.from_index(int(i)) for i in order)


__all__ = ["ArchT", "Encoding", "IndexedSpace", "SearchSpace", "SpaceError", "SpaceSampler"]
