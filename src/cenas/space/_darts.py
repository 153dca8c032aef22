"""The DARTS cell search space.

Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019: the discrete
cells of its Section 2.4 ("Deriving discrete architectures") and the genotypes it published
(``DARTS_V1``: first order, ``DARTS_V2``: second order, the CIFAR-10 cell of its Table 1).

**Genotype.** A network is a stack of *normal* and *reduction* cells, all normal cells sharing
one cell and all reduction cells another. A cell has two inputs, node ``0`` (``c_{k-2}``, the
output of the cell before the previous one) and node ``1`` (``c_{k-1}``), and four
intermediate nodes ``2, 3, 4, 5``; node ``k`` is the sum of two operations, each applied to
one of the nodes ``0 .. k - 1``, and the cell outputs the channel concatenation of nodes
``2, 3, 4, 5``. :class:`Genotype` lists each cell as 8 ``(op_name, input_index)`` pairs, two
per node in node order, as DARTS does.

**Printing.** ``str(genotype)`` is ``Genotype(normal=[('sep_conv_3x3', 0), ...],
normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])``: the concats print
as lists, as in DARTS's ``genotypes.py`` (its search code writes ``range(2, 6)``, which
:func:`parse_genotype` reads as well).

**The space** (:class:`DartsSpace`) is the set of genotypes DARTS's derivation can output:
in both cells, each node ``k`` takes its two inputs from two *distinct* nodes of
``0 .. k - 1`` and applies to each one of the 7 operations other than ``none`` (DARTS keeps
the strongest non-zero operation on the two strongest edges from distinct predecessors).
Both pairs of a node may hold the same operation; concats are always ``[2, 3, 4, 5]``. That
is ``(2 * 6 * 12 * 20 * 7**8)**2``, about ``2.8e20``, ordered genotypes (about ``1.1e18``
with each node's two pairs unordered), so the space is not enumerated (``size`` is None).
:meth:`DartsSpace.sample_archs` draws uniformly over the ordered genotypes: for every node
an ordered pair of distinct inputs uniformly and each operation uniformly from the 7. Every
node's two pairs then appear in both orders with equal probability.

**Encoding.** :meth:`DartsSpace.encode` gives a JSON object with the four fields,
``{"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5], "reduce": [...],
"reduce_concat": [2, 3, 4, 5]}``; :meth:`DartsSpace.decode` reads that (the concats may be
left out), a printed genotype, or a :class:`Genotype` (or DARTS's own namedtuple).

**Vector** (:meth:`DartsSpace.to_vector`, 196 columns): per cell (normal, then reduce), per
node ``k`` (2..5), per input ``i`` (``0 .. k - 1``), per operation (the 7 non-``none`` ones
in ``PRIMITIVES`` order), 1.0 when node ``k`` applies that operation to input ``i``, else
0.0; see :attr:`DartsSpace.feature_names`. Inputs being distinct, each node has exactly two
ones, in two input columns, so the vector determines the genotype up to the order of each
node's two pairs, and the two orders get the same vector. Node relabellings (below) do
change it.

**Neighbours** (:meth:`DartsSpace.neighbours`): the 120 genotypes one edit away, each edit
changing one pair: its operation to one of the 6 others (96 moves), or its input to one that
keeps the node's two inputs distinct (node ``k``: ``k - 2`` choices per pair; 24 moves).

**Canonical hash.** :meth:`DartsSpace.canonical_hash` is equal for two genotypes exactly
when one can be turned into the other by these moves, applied to each cell separately:

1. *Swapping the two pairs of a node.* The node is ``op_a(x) + op_b(y)``, each operation
   with its own weights; addition commutes (exactly, in floating point), and swapping the
   pairs only renames which weights belong to which list entry.
2. *Renumbering the intermediate nodes* by a permutation ``s`` of ``2..5`` under which every
   node still takes inputs only from lower numbers (``s(j) < s(k)`` whenever node ``k``
   reads node ``j``), with every input index renamed by ``s``. Every node computes the same
   value as before; only the order of the four ``C``-channel blocks of the cell output
   changes. In DARTS's networks (and this is required of any network built from a
   :class:`Genotype`, e.g. :mod:`cenas.nn`'s), a cell output is read only by a ReLU followed
   by 1x1 convolutions (the next cells' preprocessing, ``ReLUConvBN`` or
   ``FactorizedReduce``, and the auxiliary head after its average pooling) or by global
   pooling and the linear classifier, all equivariant to a permutation of channels: the
   permuted network with its consumers' input-channel weights permuted computes the same
   function. Default initialisations draw those weights i.i.d. with the same fan-in, and
   drop-path masks are i.i.d. per operation, so training behaves the same in distribution.

The hash is SHA-256 of the printed :meth:`DartsSpace.canonical_form`: the least genotype,
over the allowed renumberings, with each node's pairs sorted (operation index, then input).
That least form is the same throughout a class and differs between classes. (With one
operation everywhere, the 2,880 wirings of a cell fall into 79 classes.)

Nothing else is merged, though some other genotypes compute the same function at
evaluation: e.g. two nodes of parameter-free operations on the same inputs (``DARTS_V2``'s
reduction cell has two ``skip_connect(2) + max_pool_3x3(1)`` nodes) are equal in evaluation
but get independent drop-path masks in training, and a node read by others cannot be swapped
for its duplicate without such a proof. A genotype may thus have neighbours of its own
class (e.g. moving an edge between two interchangeable nodes).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from cenas.space._protocol import SpaceError

if TYPE_CHECKING:
    from cenas.space._protocol import SearchSpace

PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""DARTS's candidate operations, in DARTS's order."""

N_NODES = 4
"""Intermediate nodes per cell (numbered 2..5; 0 and 1 are the cell's two inputs)."""

CONCAT: tuple[int, ...] = tuple(range(2, 2 + N_NODES))
"""The nodes whose outputs a cell concatenates: all intermediate nodes, ``(2, 3, 4, 5)``."""

_N_PAIRS = 2 * N_NODES
_OP_INDEX = {name: i for i, name in enumerate(PRIMITIVES)}
_SPACE_OPS = tuple(range(1, len(PRIMITIVES)))  # every op but "none", by index
_CELLS = ("normal", "reduce")
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
_MAX_TEXT = 100_000

Pair = tuple[str, int]
"""One ``(op_name, input_index)`` entry of a cell."""


def _pairs_repr(pairs: Iterable[Sequence[object]]) -> str:
    return "[" + ", ".join(repr(tuple(p)) for p in pairs) + "]"


class Genotype(NamedTuple):
    """A DARTS genotype: one normal and one reduction cell.

    ``normal`` (``reduce``) holds ``2 * 4`` ``(op_name, input_index)`` pairs, two per
    intermediate node ``2, 3, 4, 5`` in order; node ``k``'s inputs index ``0 .. k - 1``
    (``0`` is ``c_{k-2}``, the output of the cell before the previous one, ``1`` is
    ``c_{k-1}``). The concats are the nodes concatenated into the cell output,
    ``(2, 3, 4, 5)``.

    Fields are tuples (so a genotype is hashable); ``repr``/``str`` print lists, exactly as
    DARTS prints its genotypes, e.g. ``Genotype(normal=[('sep_conv_3x3', 0), ...],
    normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])``.
    :func:`check_genotype` turns any genotype-like value (lists, DARTS's own namedtuple)
    into this form.
    """

    normal: tuple[Pair, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Pair, ...]
    reduce_concat: tuple[int, ...]

    def __repr__(self) -> str:
        return (
            f"Genotype(normal={_pairs_repr(self.normal)}, "
            f"normal_concat={list(self.normal_concat)!r}, "
            f"reduce={_pairs_repr(self.reduce)}, "
            f"reduce_concat={list(self.reduce_concat)!r})"
        )


def _genotype(normal: Sequence[Pair], reduce: Sequence[Pair]) -> Genotype:
    return Genotype(tuple(normal), CONCAT, tuple(reduce), CONCAT)


DARTS_V1 = _genotype(
    normal=[
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 2),
    ],
    reduce=[
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("avg_pool_3x3", 0),
    ],
)
"""DARTS (first order) on CIFAR-10, as published in DARTS's ``genotypes.py``."""

DARTS_V2 = _genotype(
    normal=[
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
    ],
    reduce=[
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
    ],
)
"""DARTS (second order) on CIFAR-10, the paper's reported cell (``DARTS`` in its code)."""


# ------------------------------------------------------------------ checking
def _short(obj: object, limit: int = 60) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error(message: str) -> SpaceError:
    return SpaceError(f"darts genotype: {message}")


def _check_cell(cell: str, pairs: object, in_space: bool) -> tuple[Pair, ...]:
    if isinstance(pairs, str | bytes | Mapping) or not isinstance(pairs, Iterable):
        raise _error(f"{cell} must be a list of (op, input) pairs, got {_short(pairs)}")
    items = list(pairs)
    if len(items) != _N_PAIRS:
        raise _error(f"{cell} has {len(items)} pairs, expected {_N_PAIRS}")
    out: list[Pair] = []
    for j, item in enumerate(items):
        where = f"{cell}[{j}]"
        if isinstance(item, str | bytes | Mapping) or not isinstance(item, Sequence):
            raise _error(f"{where} is {_short(item)}, not an (op, input) pair")
        if len(item) != 2:
            raise _error(f"{where} is {_short(item)}, not an (op, input) pair")
        op, src = item[0], item[1]
        if not isinstance(op, str):
            raise _error(f"{where} has op {_short(op)}, not an operation name")
        if op not in _OP_INDEX:
            raise _error(f"unknown op {op!r} at {where}")
        if isinstance(src, bool) or not isinstance(src, int | np.integer):
            raise _error(f"{where} has input {_short(src)}, not an integer node index")
        node = 2 + j // 2
        if not 0 <= int(src) < node:
            raise _error(f"{where}: node {node} takes input {src} (must be in 0..{node - 1})")
        if in_space and op == "none":
            raise _error(f"{where} is 'none', which the darts space excludes")
        out.append((op, int(src)))
    if in_space:
        for node in range(2, 2 + N_NODES):
            a, b = out[2 * node - 4], out[2 * node - 3]
            if a[1] == b[1]:
                raise _error(
                    f"{cell} node {node} takes input {a[1]} twice ({cell}[{2 * node - 4}] and "
                    f"{cell}[{2 * node - 3}]); the darts space needs two distinct inputs"
                )
    return tuple(out)


def _check_concat(field: str, concat: object) -> tuple[int, ...]:
    values: list[object] | None = None
    if isinstance(concat, range | list | tuple):
        values = list(concat)
    if (
        values is None
        or values != list(CONCAT)
        or any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in values)
    ):
        shown = concat if isinstance(concat, range) else _short(concat)
        raise _error(f"{field} is {shown}, expected [2, 3, 4, 5] (or range(2, 6))")
    return CONCAT


def check_genotype(genotype: object, *, in_space: bool = False) -> Genotype:
    """Check a genotype and return it with tuple fields.

    Accepts a :class:`Genotype`, DARTS's own ``Genotype`` namedtuple, or any 4-tuple
    ``(normal, normal_concat, reduce, reduce_concat)``, with lists or tuples inside and
    concats as a list, a tuple or ``range(2, 6)``.

    Args:
        genotype: The genotype.
        in_space: Also require what :class:`DartsSpace` requires (no ``none`` operation;
            each node's two inputs distinct).

    Returns:
        An equal :class:`Genotype` whose fields are tuples and whose input indices are ints.

    Raises:
        SpaceError: With a one-line message naming the field, pair and problem.
    """
    if isinstance(genotype, tuple) and getattr(genotype, "_fields", None) not in (None, _FIELDS):
        fields = getattr(genotype, "_fields", ())
        raise _error(f"a namedtuple with fields {fields}, expected {_FIELDS}")
    if not isinstance(genotype, tuple) or len(genotype) != len(_FIELDS):
        raise _error(
            f"expected a Genotype (normal, normal_concat, reduce, reduce_concat), "
            f"got {type(genotype).__name__} {_short(genotype)}"
        )
    normal, normal_concat, reduce, reduce_concat = genotype
    return Genotype(
        _check_cell("normal", normal, in_space),
        _check_concat("normal_concat", normal_concat),
        _check_cell("reduce", reduce, in_space),
        _check_concat("reduce_concat", reduce_concat),
    )


# ------------------------------------------------------------------ parsing
def _literal(field: str, node: ast.expr) -> object:
    """The value of one keyword argument of the printed form (no evaluation beyond
    literals and ``range`` of integer literals)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
    ):
        bounds = [_literal(field, a) for a in node.args]
        ints = [b for b in bounds if isinstance(b, int) and not isinstance(b, bool)]
        if len(ints) == len(bounds) and all(abs(b) <= 1000 for b in ints):
            return range(*ints)
        raise _error(f"{field} is {ast.unparse(node)}, expected [2, 3, 4, 5] (or range(2, 6))")
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        text = ast.unparse(node)
        text = text if len(text) <= 60 else text[:57] + "..."
        raise _error(f"{field} is not a literal: {text}") from None


def parse_genotype(text: str) -> Genotype:
    """Parse a printed genotype, as ``str(genotype)`` or DARTS prints it.

    Reads ``Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)``,
    with keyword or positional arguments, concats as lists or ``range(2, 6)``, any spacing
    and line breaks, a dotted call name (``genotypes.Genotype(...)``) and an optional
    ``NAME = `` in front, as in DARTS's ``genotypes.py``. Nothing is evaluated: the text is
    parsed into a syntax tree and only literals (and ``range`` of integer literals) are
    read. The result is checked by :func:`check_genotype` (``in_space=False``: ``none``
    operations and repeated inputs are valid DARTS genotypes).

    Args:
        text: The printed genotype.

    Returns:
        The genotype, with tuple fields.

    Raises:
        SpaceError: With a one-line message naming what is wrong (syntax, a missing or
            unknown field, a pair count, an unknown operation, an input out of range, ...).
    """
    if not isinstance(text, str):
        raise _error(f"expected a string, got {type(text).__name__}")
    if len(text) > _MAX_TEXT:
        raise _error(f"text of {len(text)} characters, more than {_MAX_TEXT}")
    source = text.strip()
    try:
        tree = ast.parse(source, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise _error(f"not a Genotype(...) expression ({detail}): {_short(source)}") from None
    body = tree.body
    expr: ast.expr | None = None
    if (len(body) == 1 and isinstance(body[0], ast.Expr)) or (
        len(body) == 1
        and isinstance(body[0], ast.Assign)
        and len(body[0].targets) == 1
        and isinstance(body[0].targets[0], ast.Name)
    ):
        expr = body[0].value
    if not isinstance(expr, ast.Call):
        raise _error(f"not a Genotype(...) expression: {_short(source)}")
    func = expr.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name != "Genotype":
        raise _error(f"expected a call to Genotype, got a call to {ast.unparse(func)[:60]}")
    if len(expr.args) > len(_FIELDS):
        raise _error(f"{len(expr.args)} positional arguments, expected at most {len(_FIELDS)}")
    nodes: dict[str, ast.expr] = {}
    for field, arg in zip(_FIELDS, expr.args, strict=False):
        if isinstance(arg, ast.Starred):
            raise _error("starred arguments are not supported")
        nodes[field] = arg
    for keyword in expr.keywords:
        if keyword.arg is None:
            raise _error("**arguments are not supported")
        if keyword.arg not in _FIELDS:
            raise _error(f"unknown field {keyword.arg!r} (fields: {', '.join(_FIELDS)})")
        if keyword.arg in nodes:
            raise _error(f"field {keyword.arg} given twice")
        nodes[keyword.arg] = keyword.value
    missing = [field for field in _FIELDS if field not in nodes]
    if missing:
        raise _error(f"missing {', '.join(missing)}")
    values = {field: _literal(field, nodes[field]) for field in _FIELDS}
    return check_genotype(tuple(values[f] for f in _FIELDS))


# ------------------------------------------------------------------ canonical form
_Cell = tuple[tuple[int, int], ...]
"""A cell as 8 ``(op_index, input)`` pairs."""

_RELABELS: tuple[tuple[int, ...], ...] = tuple(
    (0, 1, *perm) for perm in itertools.permutations(range(2, 2 + N_NODES))
)
"""Every renumbering of the nodes that fixes the two inputs: ``relabel[old] = new``."""


def _cell_key(pairs: Sequence[Pair]) -> _Cell:
    return tuple((_OP_INDEX[op], src) for op, src in pairs)


@functools.lru_cache(maxsize=1 << 16)
def _canonical_cell(cell: _Cell) -> _Cell:
    """The least form of a cell over the renumberings that keep it a DAG, with each node's
    two pairs sorted (see the module docstring)."""
    edges = [(src, 2 + j // 2) for j, (_, src) in enumerate(cell) if src >= 2]
    best: _Cell | None = None
    for relabel in _RELABELS:
        if any(relabel[src] >= relabel[dst] for src, dst in edges):
            continue
        nodes: list[tuple[tuple[int, int], ...]] = [()] * N_NODES
        for node in range(2, 2 + N_NODES):
            a, b = cell[2 * node - 4], cell[2 * node - 3]
            pair = sorted(((a[0], relabel[a[1]]), (b[0], relabel[b[1]])))
            nodes[relabel[node] - 2] = tuple(pair)
        form = tuple(p for node_pairs in nodes for p in node_pairs)
        if best is None or form < best:
            best = form
    assert best is not None  # the identity is always allowed
    return best


def _cell_pairs(cell: _Cell) -> tuple[Pair, ...]:
    return tuple((PRIMITIVES[op], src) for op, src in cell)


# ------------------------------------------------------------------ the space
def _feature_names() -> tuple[str, ...]:
    return tuple(
        f"{cell}.node{node}.in{src}.{PRIMITIVES[op]}"
        for cell in _CELLS
        for node in range(2, 2 + N_NODES)
        for src in range(node)
        for op in _SPACE_OPS
    )


_SLOT_OFFSET = {node: sum(range(2, node)) for node in range(2, 2 + N_NODES)}  # 0, 2, 5, 9
_N_SLOTS = sum(range(2, 2 + N_NODES))  # 14 (node, input) slots per cell
_CELL_DIM = _N_SLOTS * len(_SPACE_OPS)  # 98


class DartsSpace:
    """The DARTS cell space (see the module docstring for its constraints and layouts).

    Architectures are :class:`Genotype` values; the space implements
    :class:`cenas.space.SearchSpace` over them. Methods that take a genotype accept any
    genotype-like value :func:`check_genotype` accepts and raise :class:`SpaceError` for one
    outside the space.

    Attributes:
        name: ``"darts"``.
        size: ``None``: the space is not enumerated.
        ops: The operations a pair may hold, ``PRIMITIVES`` without ``none``.
        n_genotypes: Number of (ordered) genotypes in the space, about ``2.8e20``.
    """

    name: str = "darts"
    size: None = None
    ops: tuple[str, ...] = tuple(PRIMITIVES[op] for op in _SPACE_OPS)
    n_genotypes: int = (2 * 6 * 12 * 20 * len(_SPACE_OPS) ** _N_PAIRS) ** 2

    @property
    def dim(self) -> int:
        """Number of columns of :meth:`to_vector`: 196."""
        return 2 * _CELL_DIM

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Name of each column of :meth:`to_vector`, e.g. ``"normal.node3.in1.sep_conv_3x3"``."""
        return _feature_names()

    # ----------------------------------------------------------------- encodings
    def check(self, genotype: object) -> Genotype:
        """:func:`check_genotype` with ``in_space=True``."""
        return check_genotype(genotype, in_space=True)

    def encode(self, arch: Genotype) -> dict[str, list[Any]]:
        """The JSON-safe encoding: the four fields as lists, pairs as ``[op, input]``."""
        g = self.check(arch)
        return {
            "normal": [[op, src] for op, src in g.normal],
            "normal_concat": list(g.normal_concat),
            "reduce": [[op, src] for op, src in g.reduce],
            "reduce_concat": list(g.reduce_concat),
        }

    def decode(self, encoding: object) -> Genotype:
        """The genotype of an encoding (:meth:`encode`'s object, whose concats may be left
        out), a printed genotype (:func:`parse_genotype`) or a genotype.

        Raises:
            SpaceError: With a one-line message, if ``encoding`` is malformed or outside the
                space.
        """
        if isinstance(encoding, str):
            return self.check(parse_genotype(encoding))
        if isinstance(encoding, Mapping):
            unknown = [k for k in encoding if k not in _FIELDS]
            if unknown:
                raise _error(f"unknown field {_short(unknown[0])} (fields: {', '.join(_FIELDS)})")
            for cell in _CELLS:
                if cell not in encoding:
                    raise _error(f"missing {cell}")
            return self.check(
                (
                    encoding["normal"],
                    encoding.get("normal_concat", list(CONCAT)),
                    encoding["reduce"],
                    encoding.get("reduce_concat", list(CONCAT)),
                )
            )
        if isinstance(encoding, tuple):
            return self.check(encoding)
        raise _error(
            f"encoding of type {type(encoding).__name__}: expected an object with normal and "
            f"reduce, a printed Genotype(...) or a Genotype"
        )

    def to_str(self, arch: Genotype) -> str:
        """The printed genotype, as DARTS prints it (:func:`parse_genotype` inverts it)."""
        return repr(self.check(arch))

    # ------------------------------------------------------------------ sampling
    def sample_archs(self, rng: np.random.Generator, n: int = 1) -> list[Genotype]:
        """``n`` genotypes drawn uniformly from the space, with replacement.

        Per cell and node ``k``: a first input uniform in ``0 .. k - 1``, a second uniform
        among the other ``k - 1``, and two operations uniform among the 7 of :attr:`ops`.
        """
        if n < 0:
            raise ValueError(f"n must be non-negative, got {n}")
        ops = rng.integers(1, len(PRIMITIVES), size=(n, 2, _N_PAIRS))
        k = np.repeat(np.arange(2, 2 + N_NODES), 2)[None, None, :]  # node of each pair
        first = rng.integers(0, k[..., 0::2], size=(n, 2, N_NODES))
        second = rng.integers(0, k[..., 0::2] - 1, size=(n, 2, N_NODES))
        second = second + (second >= first)
        src = np.empty((n, 2, _N_PAIRS), dtype=np.int64)
        src[..., 0::2], src[..., 1::2] = first, second
        out = []
        for i in range(n):
            cells = [
                tuple(
                    (PRIMITIVES[o], s)
                    for o, s in zip(ops[i, c].tolist(), src[i, c].tolist(), strict=True)
                )
                for c in range(2)
            ]
            out.append(Genotype(cells[0], CONCAT, cells[1], CONCAT))
        return out

    # ------------------------------------------------------------------ vectors
    def to_vector(self, archs: Sequence[Genotype] | Genotype) -> NDArray[np.float64]:
        """Operation-by-input incidences (see the module docstring), ``(len(archs), 196)``;
        a single genotype gives ``(196,)``."""
        if isinstance(archs, Genotype):
            return self.to_vector([archs])[0]
        out = np.zeros((len(archs), self.dim), dtype=np.float64)
        for row, arch in enumerate(archs):
            g = self.check(arch)
            for c, pairs in enumerate((g.normal, g.reduce)):
                for j, (op, src) in enumerate(pairs):
                    slot = _SLOT_OFFSET[2 + j // 2] + src
                    out[row, c * _CELL_DIM + slot * len(_SPACE_OPS) + _OP_INDEX[op] - 1] = 1.0
        return out

    # --------------------------------------------------------------- local moves
    def neighbours(self, arch: Genotype) -> list[Genotype]:
        """The 120 genotypes one edit away (module docstring); for each cell (normal first)
        and pair, its other operations in ``PRIMITIVES`` order, then its other inputs."""
        g = self.check(arch)
        out: list[Genotype] = []
        for c, pairs in enumerate((g.normal, g.reduce)):
            for j, (op, src) in enumerate(pairs):
                node = 2 + j // 2
                other = pairs[j ^ 1][1]
                moves = [(o, src) for o in self.ops if o != op]
                moves += [(op, s) for s in range(node) if s not in (src, other)]
                for move in moves:
                    new = (*pairs[:j], move, *pairs[j + 1 :])
                    out.append(g._replace(normal=new) if c == 0 else g._replace(reduce=new))
        return out

    # ----------------------------------------------------------- canonical hash
    def canonical_form(self, arch: Genotype) -> Genotype:
        """The least genotype equivalent to ``arch`` (module docstring): equal for two
        genotypes exactly when they are related by swapping pairs within nodes and by
        renumbering independent nodes."""
        g = self.check(arch)
        return Genotype(
            _cell_pairs(_canonical_cell(_cell_key(g.normal))),
            CONCAT,
            _cell_pairs(_canonical_cell(_cell_key(g.reduce))),
            CONCAT,
        )

    def canonical_hash(self, arch: Genotype) -> str:
        """SHA-256 (hex) of the printed :meth:`canonical_form`, prefixed with the space
        name."""
        text = f"{self.name}:{self.canonical_form(arch)!r}"
        return hashlib.sha256(text.encode()).hexdigest()


if TYPE_CHECKING:
    _CONFORMS: SearchSpace[Genotype] = DartsSpace()


__all__ = [
    "CONCAT",
    "DARTS_V1",
    "DARTS_V2",
    "PRIMITIVES",
    "DartsSpace",
    "Genotype",
    "check_genotype",
    "parse_genotype",
]
