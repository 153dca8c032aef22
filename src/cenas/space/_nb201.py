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

:class:`NB201Space` implements :class:`cenas.space.IndexedSpace` with architectures as
operation-index tuples; its encoding (:meth:`NB201Space.encode`) is the ``arch_str``.

**Canonical hash.** :meth:`NB201Space.canonical_hash` is equal for two cells exactly when
their computation graphs are isomorphic after the following rewrites, each an identity of
the cell's output for every input, in training and evaluation mode, that also leaves the
training dynamics unchanged (the parameters it drops get zero gradient and cannot reach
the output). The operations are those of :mod:`cenas.nn` (NATS-Bench's): ``none`` is zero,
``skip_connect`` the identity, ``avg_pool_3x3`` a 3x3 average at stride 1 with padding not
counted (a linear map), ``nor_conv_kxk`` ReLU, a bias-free convolution, then an affine
batch norm that tracks running statistics.

1. ``none`` contributes nothing; a node that receives nothing is the zero tensor.
2. ``skip_connect`` and ``avg_pool_3x3`` of a zero node are zero (they are linear).
3. A convolution of a zero node is *not* zero: ReLU and the convolution give 0, but batch
   norm then outputs its shift ``beta`` (in training mode the batch variance is 0, so
   ``(0 - 0) / sqrt(0 + eps) * gamma + beta``; in evaluation mode the running mean of an
   all-zero input stays exactly 0, so the same). It is a learnable per-channel constant,
   the same for ``nor_conv_1x1`` and ``nor_conv_3x3``, so those two are merged there and
   nowhere else.
4. ``skip_connect`` passes its input on (a skip edge is absorbed into the node it feeds).
5. Sums are associative and commutative; ``avg_pool_3x3`` distributes over a sum
   (``pool(a + b) = pool(a) + pool(b)``) and leaves a per-channel constant unchanged.
6. What does not reach the output node is dropped.

Convolutions carry their own weights, so two convolutions are never merged, and a node
used twice (one set of weights) is told apart from two equal-looking branches (two sets):
the canonical form is a labelled DAG, not an expression tree. Nothing else is merged, e.g.
``conv(a) + conv(b)`` is kept apart from ``conv(a + b)`` (batch norm is not additive), and
``x + x`` from ``x``. The hash describes the *function*; the built
:class:`cenas.nn.NB201Network` still holds the dead operations, so parameter and FLOP
counts and measured latency can differ inside one class.

Over the 15,625 cells this gives 5,234 classes. NAS-Bench-201 reports 6,466 unique cells,
the count of NATS-Bench's ``to_unique_str(consider_zero=True)`` expression strings (which
``tests/space/test_protocol.py`` re-derives). Those strings keep a ``none`` input inside a
sum as a term, so cells that differ only there stay apart (even two always-zero cells),
and do not use the linearity of pooling: both split classes merged here. They also read a
convolution of a zero node as zero, ignoring batch norm's shift, and, being trees, merge a
node used twice with two separate branches: both merge cells kept apart here.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import numbers
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from numpy.typing import NDArray

from cenas.space._protocol import SpaceError

if TYPE_CHECKING:
    from cenas.space._protocol import IndexedSpace

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

    An architecture is a tuple of six operation indices (see :meth:`from_str`); the space
    implements :class:`cenas.space.IndexedSpace` over it.

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
    def to_vector(
        self, ops: Sequence[int] | Sequence[Sequence[int]] | NDArray[np.int_]
    ) -> NDArray[np.float64]:
        """Encode operation indices (one cell or a batch) as bin centres in ``[0, 1)^6``.

        One cell gives ``(6,)``, a batch of ``n`` cells ``(n, 6)`` (an empty batch
        ``(0, 6)``).
        """
        arr = np.asarray(ops, dtype=np.float64)
        if arr.size == 0:
            arr = arr.reshape(0, _N_EDGES)
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

    def indices_to_vectors(self, indices: NDArray[np.int64] | Sequence[int]) -> NDArray[np.float64]:
        """Continuous encodings ``(n, 6)`` of a batch of enumeration indices."""
        return self.to_vector(self.indices_to_ops(indices))

    # ------------------------------------------------------- search-space protocol
    def encode(self, arch: Sequence[int]) -> str:
        """The JSON-safe encoding of a cell: its ``arch_str`` (same as :meth:`to_str`)."""
        return self.to_str(arch)

    def decode(self, encoding: object) -> tuple[int, ...]:
        """The operation indices of an ``arch_str``, an enumeration index or 6 indices.

        Raises:
            SpaceError: If ``encoding`` is none of those, with a one-line message.
        """
        if isinstance(encoding, str):
            try:
                return self.from_str(encoding)
            except ValueError as exc:
                message = str(exc).replace(repr(encoding), _short(encoding))
                raise SpaceError(f"nb201 encoding: {message}") from None
        if isinstance(encoding, bool):
            raise SpaceError(
                f"nb201 encoding {encoding!r}: a boolean is not an arch_str, index or op list"
            )
        if isinstance(encoding, numbers.Integral):
            if not 0 <= int(encoding) < self.size:
                raise SpaceError(f"nb201 encoding {encoding}: index outside [0, {self.size})")
            return self.from_index(int(encoding))
        if isinstance(encoding, list | tuple):
            if len(encoding) != _N_EDGES:
                raise SpaceError(
                    f"nb201 encoding {_short(encoding)}: expected {_N_EDGES} operation "
                    f"indices, got {len(encoding)}"
                )
            for k, op in enumerate(encoding):
                if isinstance(op, bool) or not isinstance(op, numbers.Integral):
                    raise SpaceError(
                        f"nb201 encoding {_short(encoding)}: item {k} ({_short(op)}) is not an "
                        f"integer operation index"
                    )
                if not 0 <= int(op) < _N_OPS:
                    raise SpaceError(
                        f"nb201 encoding {_short(encoding)}: item {k} ({op}) outside [0, {_N_OPS})"
                    )
            return tuple(int(op) for op in encoding)
        raise SpaceError(
            f"nb201 encoding of type {type(encoding).__name__}: expected an arch_str, an "
            f"index in [0, {self.size}) or a list of {_N_EDGES} operation indices"
        )

    def sample_archs(self, rng: np.random.Generator, n: int = 1) -> list[tuple[int, ...]]:
        """Draw ``n`` cells uniformly (with replacement) as operation tuples.

        The same draws as :meth:`sample` with the same generator state.
        """
        return [tuple(int(o) for o in row) for row in self.indices_to_ops(self.sample(rng, n))]

    def neighbours(self, arch: Sequence[int]) -> list[tuple[int, ...]]:
        """The 24 cells that differ from ``arch`` on exactly one edge (edge-major order)."""
        ops = self._check_ops(arch)
        out = []
        for k in range(_N_EDGES):
            for op in range(_N_OPS):
                if op != ops[k]:
                    out.append((*ops[:k], op, *ops[k + 1 :]))
        return out

    def index(self, arch: Sequence[int]) -> int:
        """Same as :meth:`to_index` (the :class:`cenas.space.IndexedSpace` name)."""
        return self.to_index(arch)

    def canonical_form(self, arch: Sequence[int]) -> str:
        """The canonical computation graph of a cell, as text (see the module docstring).

        The form is ``output | #0=op(input),#1=...`` (just ``output`` without parameterised
        operations): ``x`` is the cell input, ``#k`` the ``k``-th parameterised operation
        (``c1``/``c3``: a 1x1/3x3 ReLU-conv-BN; ``b``: a convolution of a zero node, i.e. a
        learnable constant), ``P(.)`` an average pooling and ``S(.,.)`` a sum; ``0`` is a cell
        whose output is always zero. E.g. ``S(P(#0),P(x)) | #0=c3(x)``.

        Raises:
            ValueError: If ``arch`` does not hold six indices in ``[0, 5)``.
        """
        return _canonical_form(self._check_ops(arch))

    def canonical_hash(self, arch: Sequence[int]) -> str:
        """SHA-256 (hex) of :meth:`canonical_form`, prefixed with the space name."""
        return hashlib.sha256(f"{self.name}:{self.canonical_form(arch)}".encode()).hexdigest()

    @staticmethod
    def _check_ops(ops: Sequence[int]) -> tuple[int, ...]:
        out = tuple(int(o) for o in ops)
        if len(out) != _N_EDGES or any(not 0 <= o < _N_OPS for o in out):
            raise ValueError(f"expected {_N_EDGES} operation indices in [0, {_N_OPS}), got {ops}")
        return out


def _short(obj: object, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------ canonical form
@dataclass(frozen=True)
class _Input:
    """The cell input (node 0)."""


@dataclass(frozen=True)
class _Inst:
    """A parameterised operation instance, numbered in its :class:`_Cell`."""

    uid: int


@dataclass(frozen=True)
class _Pool:
    """An average pooling of a term."""

    arg: _Term


@dataclass(frozen=True)
class _Sum:
    """A sum of two or more terms, none of them a sum, sorted."""

    parts: tuple[_Term, ...]


_Term: TypeAlias = _Input | _Inst | _Pool | _Sum
_SKIP, _CONV1, _POOL = 1, 2, 4


class _Cell:
    """The rewritten computation graph of one cell (see the module docstring).

    Node values are terms, ``None`` standing for the zero tensor. Pooling and sums carry no
    weights, so equal terms are the same value; each convolution is a new instance.
    """

    def __init__(self, ops: tuple[int, ...]) -> None:
        self.defs: list[tuple[str, _Term | None]] = []  # uid -> (kind, input; None for "b")
        self.edge_uid: list[int | None] = [None] * _N_EDGES  # the instance of a conv edge
        nodes: list[_Term | None] = [_Input()]
        for to_node in range(1, 4):
            parts = [
                self._apply(k, op, nodes[src])
                for k, ((to, src), op) in enumerate(zip(NB201_EDGES, ops, strict=True))
                if to == to_node
            ]
            nodes.append(_sum(parts))
        self.output = nodes[3]

    def _apply(self, edge: int, op: int, value: _Term | None) -> _Term | None:
        if op == 0:
            return None
        if op in (_SKIP, _POOL):
            return None if value is None else value if op == _SKIP else self._pool(value)
        kind = "b" if value is None else ("c1" if op == _CONV1 else "c3")
        self.defs.append((kind, value))
        self.edge_uid[edge] = len(self.defs) - 1
        return _Inst(len(self.defs) - 1)

    def _pool(self, value: _Term) -> _Term:
        if isinstance(value, _Sum):
            pooled = _sum([self._pool(t) for t in value.parts])
            assert pooled is not None
            return pooled
        if isinstance(value, _Inst) and self.defs[value.uid][0] == "b":
            return value  # a per-channel constant; padding is not counted
        return _Pool(value)

    def reachable(self) -> list[int]:
        """Instances the output depends on, by number."""
        seen: set[int] = set()
        stack = [self.output]
        while stack:
            t = stack.pop()
            if isinstance(t, _Inst) and t.uid not in seen:
                seen.add(t.uid)
                stack.append(self.defs[t.uid][1])
            elif isinstance(t, _Pool):
                stack.append(t.arg)
            elif isinstance(t, _Sum):
                stack.extend(t.parts)
        return sorted(seen)

    def text(self, t: _Term | None, label: dict[int, int] | None = None) -> str:
        """A term as text: instances named ``#k`` by ``label``, or expanded when it is None
        (their *shape*, blind to weight sharing)."""
        if t is None:
            return "0"
        if isinstance(t, _Input):
            return "x"
        if isinstance(t, _Inst):
            if label is not None:
                return f"#{label[t.uid]}"
            kind, inp = self.defs[t.uid]
            return kind if inp is None else f"{kind}({self.text(inp)})"
        if isinstance(t, _Pool):
            return f"P({self.text(t.arg, label)})"
        return "S(" + ",".join(sorted(self.text(c, label) for c in t.parts)) + ")"

    def canonical(self) -> str:
        """The least description of the DAG over labellings that number instances in order
        of shape. Shapes are invariant under isomorphism, so this is a complete invariant:
        equal for isomorphic DAGs, different otherwise."""
        if self.output is None:
            return "0"
        uids = self.reachable()
        shapes = {u: self.text(_Inst(u)) for u in uids}
        groups = [[u for u in uids if shapes[u] == s] for s in sorted(set(shapes.values()))]
        best = ""
        for perm in itertools.product(*(itertools.permutations(g) for g in groups)):
            order = [u for group in perm for u in group]
            label = {u: k for k, u in enumerate(order)}
            defs = []
            for u in order:
                kind, inp = self.defs[u]
                defs.append(
                    f"#{label[u]}={kind}" + ("" if inp is None else f"({self.text(inp, label)})")
                )
            out = self.text(self.output, label)
            text = f"{out} | {','.join(defs)}" if defs else out
            if not best or text < best:
                best = text
        return best


def _sum(parts: Sequence[_Term | None]) -> _Term | None:
    flat: list[_Term] = []
    for t in parts:
        if isinstance(t, _Sum):
            flat.extend(t.parts)
        elif t is not None:
            flat.append(t)
    if not flat:
        return None
    if len(flat) == 1:
        return flat[0]
    return _Sum(tuple(sorted(flat, key=repr)))


@functools.lru_cache(maxsize=_N_OPS**_N_EDGES)
def _canonical_form(ops: tuple[int, ...]) -> str:
    return _Cell(ops).canonical()


def _edge_shapes(ops: tuple[int, ...]) -> tuple[str | None, ...]:
    """For each edge, the shape of the convolution instance it holds when that instance can
    affect the output (``"b"``: a convolution of a zero node), else None. An isomorphism of
    canonical graphs maps instances to instances of the same shape, so weights chosen by
    shape make equivalent cells compute the same function (used by the tests)."""
    cell = _Cell(ops)
    live = set(cell.reachable())
    return tuple(
        None if uid is None or uid not in live else cell.text(_Inst(uid)) for uid in cell.edge_uid
    )


def _live_edges(ops: tuple[int, ...]) -> tuple[bool, ...]:
    """Whether each edge can affect the output: its operation is not ``none``, its source is
    not zero (a convolution of a zero node still is live: it adds batch norm's shift), and
    its target reaches the output through such edges."""
    zero = [False, True, True, True]
    for (to, src), op in zip(NB201_EDGES, ops, strict=True):
        if op != 0 and (op not in (_SKIP, _POOL) or not zero[src]):
            zero[to] = False
    effective = [
        op != 0 and (op not in (_SKIP, _POOL) or not zero[src])
        for (_, src), op in zip(NB201_EDGES, ops, strict=True)
    ]
    reaches = [False, False, False, True]
    for k in reversed(range(_N_EDGES)):
        to, src = NB201_EDGES[k]
        if effective[k] and reaches[to]:
            reaches[src] = True
    return tuple(effective[k] and reaches[NB201_EDGES[k][0]] for k in range(_N_EDGES))


if TYPE_CHECKING:
    _CONFORMS: IndexedSpace[tuple[int, ...]] = NB201Space()
