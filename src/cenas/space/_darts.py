"""The DARTS cell search space.

Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019 (the discrete
cells of its Section 2.4 and its published genotypes, CIFAR-10 model of Table 1).
"""

from __future__ import annotations

from typing import NamedTuple

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


def _pairs_repr(pairs: object) -> str:
    return "[" + ", ".join(repr(tuple(p)) for p in pairs) + "]"  # type: ignore[attr-defined]


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
    """

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]

    def __repr__(self) -> str:
        return (
            f"Genotype(normal={_pairs_repr(self.normal)}, "
            f"normal_concat={list(self.normal_concat)!r}, "
            f"reduce={_pairs_repr(self.reduce)}, "
            f"reduce_concat={list(self.reduce_concat)!r})"
        )


def _genotype(normal: list[tuple[str, int]], reduce: list[tuple[str, int]]) -> Genotype:
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
