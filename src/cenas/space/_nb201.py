"""The NAS-Bench-201 cell search space.

Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
Search", ICLR 2020. A cell is a DAG of 4 nodes; each of its 6 edges (node1<-0, node2<-0,
node2<-1, node3<-0, node3<-1, node3<-2) carries one of 5 operations, so the space holds
5**6 = 15,625 cells.

Three encodings are offered and converted losslessly:

* ``arch_str``: the official string, e.g. ``|nor_conv_3x3~0|+|skip_connect~0|none~1|+|...|``;
* operation indices: a tuple of 6 integers in ``[0, 5)``;
* a continuous vector in ``[0, 1)^6``: operation ``k`` on an edge maps to the centre of the
  ``k``-th of 5 equal bins, ``(k + 0.5) / 5``, and any point of a bin decodes to its operation.
  This is the space that LaMOO's classifiers partition.

An architecture's *index* in the enumeration below is base-5 over the operation indices
(edge 0 most significant); it is not the NAS-Bench-201 row index, which the benchmark
table maps separately.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
"""Operation names, in the order their indices use."""

NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""Edges as (to_node, from_node), in the order of ``arch_str``."""

_N_OPS = len(NB201_OPS)
_N_EDGES = len(NB201_EDGES)
_OP_INDEX = {name: i for i, name in enumerate(NB201_OPS)}
_TOKEN = re.compile(r"^([a-z0-9_]+)~(\d)$")


class NB201Space:
    """The NAS-Bench-201 cell space with its three encodings.

    Attributes:
        n_edges: Number of edges (dimensions), 6.
        n_ops: Number of operations per edge, 5.
        size: Number of cells, 15,625.
    """

    n_edges: int = _N_EDGES
    n_ops: int = _N_OPS
    size: int = _N_OPS**_N_EDGES
    name: str = "nb201"

    @property
    def dim(self) -> int:
        """Dimension of the continuous encoding."""
        return self.n_edges

    # ------------------------------------------------------------------ strings
    def to_str(self, ops: Sequence[int]) -> str:
        """Encode operation indices as the official ``arch_str``.

        Args:
            ops: Six operation indices.

        Returns:
            The NAS-Bench-201 architecture string.

        Raises:
            ValueError: If ``ops`` does not hold six indices in ``[0, 5)``.
        """
        ops = self._check_ops(ops)
        nodes: list[list[str]] = [[], [], []]
        for (to_node, from_node), op in zip(NB201_EDGES, ops, strict=True):
            nodes[to_node - 1].append(f"{NB201_OPS[op]}~{from_node}")
        return "+".join("|" + "|".join(node) + "|" for node in nodes)

    def from_str(self, arch_str: str) -> tuple[int, ...]:
        """Decode an ``arch_str`` into operation indices.

        Args:
            arch_str: A NAS-Bench-201 architecture string.

        Returns:
            Six operation indices.

        Raises:
            ValueError: If the string is malformed or names an unknown operation.
        """
        parts = arch_str.strip().split("+")
        if len(parts) != 3:
            raise ValueError(f"arch_str {arch_str!r}: expected 3 nodes separated by '+'")
        ops: list[int] = []
        for to_node, part in enumerate(parts, start=1):
            tokens = [t for t in part.split("|") if t]
            if len(tokens) != to_node:
                raise ValueError(
                    f"arch_str {arch_str!r}: node {to_node} needs {to_node} inputs, "
                    f"got {len(tokens)}"
                )
            for from_node, token in enumerate(tokens):
                match = _TOKEN.match(token)
                if match is None:
                    raise ValueError(f"arch_str {arch_str!r}: malformed edge {token!r}")
                op, src = match.group(1), int(match.group(2))
                if op not in _OP_INDEX:
                    raise ValueError(f"arch_str {arch_str!r}: unknown operation {op!r}")
                if src != from_node:
                    raise ValueError(
                        f"arch_str {arch_str!r}: edge {token!r} should come from node {from_node}"
                    )
                ops.append(_OP_INDEX[op])
        return tuple(ops)

    # ------------------------------------------------------------------ indices
    def to_index(self, ops: Sequence[int]) -> int:
        """Position of a cell in :meth:`enumerate` (base 5, edge 0 most significant)."""
        index = 0
        for op in self._check_ops(ops):
            index = index * _N_OPS + op
        return index

    def from_index(self, index: int) -> tuple[int, ...]:
        """Inverse of :meth:`to_index`."""
        if not 0 <= index < self.size:
            raise ValueError(f"index {index} outside [0, {self.size})")
        ops = []
        for _ in range(_N_EDGES):
            index, op = divmod(index, _N_OPS)
            ops.append(op)
        return tuple(reversed(ops))

    # --------------------------------------------------------------- continuous
    def to_vector(self, ops: Sequence[int] | NDArray[np.int_]) -> NDArray[np.float64]:
        """Encode operation indices (one cell or a batch) as bin centres in ``[0, 1)^6``."""
        arr = np.asarray(ops, dtype=np.float64)
        return (arr + 0.5) / _N_OPS

    def from_vector(self, x: Sequence[float] | NDArray[np.float64]) -> tuple[int, ...]:
        """Decode a point of ``[0, 1]^6`` to the cell whose bins contain it."""
        arr = np.asarray(x, dtype=np.float64)
        if arr.shape != (_N_EDGES,):
            raise ValueError(f"vector must have shape ({_N_EDGES},), got {arr.shape}")
        return tuple(int(v) for v in self.vectors_to_ops(arr[None, :])[0])

    def vectors_to_ops(self, x: NDArray[np.float64]) -> NDArray[np.int64]:
        """Decode a batch of points ``(n, 6)`` to operation indices ``(n, 6)``."""
        arr = np.asarray(x, dtype=np.float64)
        return np.clip(np.floor(arr * _N_OPS), 0, _N_OPS - 1).astype(np.int64)

    def vectors_to_indices(self, x: NDArray[np.float64]) -> NDArray[np.int64]:
        """Decode a batch of points ``(n, 6)`` to enumeration indices ``(n,)``."""
        return self.ops_to_indices(self.vectors_to_ops(x))

    def ops_to_indices(self, ops: NDArray[np.int64]) -> NDArray[np.int64]:
        """Enumeration indices of a batch of operation tuples ``(n, 6)``."""
        weights = _N_OPS ** np.arange(_N_EDGES - 1, -1, -1, dtype=np.int64)
        return np.asarray(ops, dtype=np.int64) @ weights

    def indices_to_ops(self, indices: NDArray[np.int64] | Sequence[int]) -> NDArray[np.int64]:
        """Operation tuples ``(n, 6)`` of a batch of enumeration indices."""
        idx = np.asarray(indices, dtype=np.int64)
        weights = _N_OPS ** np.arange(_N_EDGES - 1, -1, -1, dtype=np.int64)
        return (idx[:, None] // weights[None, :]) % _N_OPS

    # ----------------------------------------------------------------- sampling
    def sample(self, rng: np.random.Generator, n: int = 1) -> NDArray[np.int64]:
        """Draw ``n`` cells uniformly (with replacement); returns indices ``(n,)``."""
        return rng.integers(0, self.size, size=n, dtype=np.int64)

    def enumerate(self) -> Iterator[tuple[int, ...]]:
        """All 15,625 cells as operation tuples, in index order."""
        return itertools.product(range(_N_OPS), repeat=_N_EDGES)

    def all_vectors(self) -> NDArray[np.float64]:
        """Continuous encodings of every cell, ``(15625, 6)``, in index order."""
        return self.to_vector(self.indices_to_ops(np.arange(self.size)))

    @staticmethod
    def _check_ops(ops: Sequence[int]) -> tuple[int, ...]:
        out = tuple(int(o) for o in ops)
        if len(out) != _N_EDGES or any(not 0 <= o < _N_OPS for o in out):
            raise ValueError(f"expected {_N_EDGES} operation indices in [0, {_N_OPS}), got {ops}")
        return out
