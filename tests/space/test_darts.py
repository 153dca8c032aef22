"""DartsSpace and DARTS genotypes: printing, parsing, encodings, sampling, vectors, moves and
the canonical hash (Liu, Simonyan & Yang, "DARTS", ICLR 2019)."""

from __future__ import annotations

import collections
import itertools
import json
from collections import Counter

import numpy as np
import pytest

from cenas.errors import CenasError
from cenas.space import (
    DARTS_V1,
    DARTS_V2,
    PRIMITIVES,
    DartsSpace,
    Genotype,
    SearchSpace,
    SpaceError,
    SpaceSampler,
    check_genotype,
    parse_genotype,
)

SPACE = DartsSpace()
NODES = (2, 3, 4, 5)

V2_PRINTED = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)

# DARTS's own type, to check that we print exactly as DARTS does.
DartsGenotype = collections.namedtuple(
    "DartsGenotype", "normal normal_concat reduce reduce_concat", rename=False
)


@pytest.fixture(scope="module")
def samples() -> list[Genotype]:
    return SPACE.sample_archs(np.random.default_rng(2019), 10_000)


def _cells(g: Genotype) -> tuple[tuple[tuple[str, int], ...], ...]:
    return (g.normal, g.reduce)


def _in_space(g: Genotype) -> bool:
    for cell in _cells(g):
        if len(cell) != 8:
            return False
        for k in NODES:
            (op_a, a), (op_b, b) = cell[2 * k - 4], cell[2 * k - 3]
            if not (0 <= a < k and 0 <= b < k and a != b):
                return False
            if {op_a, op_b} - set(PRIMITIVES[1:]):
                return False
    return g.normal_concat == g.reduce_concat == (2, 3, 4, 5)


# --------------------------------------------------------------- test-side moves
def _swap(cell: tuple[tuple[str, int], ...], node: int) -> tuple[tuple[str, int], ...]:
    pairs = list(cell)
    i = 2 * node - 4
    pairs[i], pairs[i + 1] = pairs[i + 1], pairs[i]
    return tuple(pairs)


def _relabels(cell: tuple[tuple[str, int], ...]) -> list[tuple[tuple[str, int], ...]]:
    """Every renumbering of nodes 2..5 that keeps each node's inputs below it (new node
    ``new[k]`` takes old node ``k``'s pairs, inputs renamed), the pair order kept."""
    out = []
    for perm in itertools.permutations(NODES):
        new = {0: 0, 1: 1, **dict(zip(NODES, perm, strict=True))}
        ok = all(
            new[src] < new[k] for k in NODES for _, src in cell[2 * k - 4 : 2 * k - 2] if src >= 2
        )
        if not ok:
            continue
        nodes: dict[int, list[tuple[str, int]]] = {}
        for k in NODES:
            nodes[new[k]] = [(op, new[src]) for op, src in cell[2 * k - 4 : 2 * k - 2]]
        out.append(tuple(p for k in NODES for p in nodes[k]))
    return out


def _node_values(cell: tuple[tuple[str, int], ...], seed: int = 0) -> np.ndarray:
    """The cell's four node values when every operation type is a fixed random nonlinear map
    (all instances of one type sharing weights) and the inputs are fixed random vectors, as
    rows sorted lexicographically: equal for cells that compute the same function up to the
    order of the concatenated blocks."""
    rng = np.random.default_rng(seed)
    weights = {op: rng.normal(size=(6, 6)) / 2 for op in PRIMITIVES}
    states = [rng.normal(size=6), rng.normal(size=6)]
    for k in NODES:
        total = np.zeros(6)
        for op, src in cell[2 * k - 4 : 2 * k - 2]:
            total = total + np.tanh(weights[op] @ states[src])
        states.append(total)
    rows = np.round(np.stack(states[2:]), 9)
    return rows[np.lexsort(rows.T[::-1])]


# ------------------------------------------------------------------- constants
def test_primitives_and_published_genotypes() -> None:
    assert PRIMITIVES == (
        "none",
        "max_pool_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
    )
    assert Genotype._fields == ("normal", "normal_concat", "reduce", "reduce_concat")
    assert str(DARTS_V2) == repr(DARTS_V2) == V2_PRINTED
    assert DARTS_V1.normal[7] == ("skip_connect", 2) and DARTS_V1.reduce[7] == ("avg_pool_3x3", 0)
    for g in (DARTS_V1, DARTS_V2):
        assert _in_space(g)
        assert parse_genotype(str(g)) == g
        assert SPACE.decode(SPACE.to_str(g)) == g
        hash(g)  # tuple fields: usable as a key
    assert SPACE.canonical_hash(DARTS_V1) != SPACE.canonical_hash(DARTS_V2)


def test_prints_exactly_as_darts_namedtuple(samples: list[Genotype]) -> None:
    for g in [DARTS_V1, DARTS_V2, *samples[:200]]:
        theirs = DartsGenotype(
            normal=list(g.normal),
            normal_concat=[2, 3, 4, 5],
            reduce=list(g.reduce),
            reduce_concat=[2, 3, 4, 5],
        )
        assert repr(theirs).replace("DartsGenotype(", "Genotype(") == str(g)
        assert check_genotype(theirs) == g  # DARTS's own value is accepted as is


def test_parse_accepts_darts_variants() -> None:
    as_range = V2_PRINTED.replace("[2, 3, 4, 5]", "range(2, 6)")
    assert "range(2, 6)" in as_range
    assert parse_genotype(as_range) == DARTS_V2
    source_style = (
        "DARTS_V2 = genotypes.Genotype(\n  normal=[\n"
        + "".join(f"    {p!r},\n" for p in DARTS_V2.normal)
        + "  ],\n  normal_concat=[2, 3, 4, 5],\n  reduce=[\n"
        + "".join(f"    {list(p)!r},\n" for p in DARTS_V2.reduce)
        + "  ],\n  reduce_concat=range(2, 6),\n)\n"
    )
    assert parse_genotype(source_style) == DARTS_V2
    positional = (
        f"Genotype({list(DARTS_V1.normal)!r}, (2, 3, 4, 5), "
        f"reduce={list(DARTS_V1.reduce)!r}, reduce_concat=[2, 3, 4, 5])"
    )
    assert parse_genotype(positional) == DARTS_V1
    # a valid DARTS genotype outside the space parses; the space rejects it
    with_none = V2_PRINTED.replace("('dil_conv_3x3', 2)", "('none', 2)")
    assert parse_genotype(with_none).normal[7] == ("none", 2)
    with pytest.raises(SpaceError, match=r"normal\[7\] is 'none'"):
        SPACE.decode(with_none)


# ------------------------------------------------------------------ round trips
def test_encode_json_round_trip(samples: list[Genotype]) -> None:
    for g in samples:
        enc = SPACE.encode(g)
        back = SPACE.decode(json.loads(json.dumps(enc)))
        assert back == g and isinstance(back, Genotype)
    enc = SPACE.encode(DARTS_V2)
    assert enc["normal"][0] == ["sep_conv_3x3", 0] and enc["normal_concat"] == [2, 3, 4, 5]
    assert json.loads(json.dumps(enc)) == enc
    assert SPACE.decode({"normal": enc["normal"], "reduce": enc["reduce"]}) == DARTS_V2


def test_string_round_trip(samples: list[Genotype]) -> None:
    for g in samples:
        text = SPACE.to_str(g)
        assert "\n" not in text
        assert parse_genotype(text) == g
    assert SPACE.decode(str(samples[0])) == samples[0]
    assert SPACE.decode(samples[1]) == samples[1]
    as_lists = Genotype(list(DARTS_V2.normal), range(2, 6), list(DARTS_V2.reduce), [2, 3, 4, 5])  # type: ignore[arg-type]
    assert SPACE.decode(as_lists) == DARTS_V2


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            V2_PRINTED.replace(
                "('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
                "('sep_conv_3x3', 1), ('sep_conv_7x7', 0)",
                1,
            ),
            r"unknown op 'sep_conv_7x7' at normal\[2\]",
        ),
        (
            V2_PRINTED.replace(
                "('sep_conv_3x3', 1), ('skip_connect', 0)",
                "('sep_conv_3x3', 1), ('skip_connect', 4)",
            ),
            r"normal\[5\]: node 4 takes input 4 \(must be in 0\.\.3\)",
        ),
        (
            V2_PRINTED.replace("('max_pool_3x3', 1)], ", "('max_pool_3x3', -1)], "),
            r"reduce\[7\]: node 5 takes input -1",
        ),
        (V2_PRINTED.replace("('sep_conv_3x3', 0), ", "", 1), r"normal has 7 pairs, expected 8"),
        (V2_PRINTED.split(", reduce=")[0] + ")", r"missing reduce, reduce_concat$"),
        (
            V2_PRINTED.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=range(2, 5)"),
            r"reduce_concat is range\(2, 5\), expected \[2, 3, 4, 5\]",
        ),
        (
            V2_PRINTED.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[5, 4, 3, 2]"),
            r"normal_concat is \[5, 4, 3, 2\]",
        ),
        (
            V2_PRINTED.replace("('skip_connect', 0), ('dil", "('skip_connect', True), ('dil"),
            r"normal\[6\] has input True, not an integer",
        ),
        (
            V2_PRINTED.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3',)"),
            r"normal\[7\] is \('dil_conv_3x3',\), not an \(op, input\) pair",
        ),
        (V2_PRINTED.replace("normal=", "normal=NORMAL, other="), r"unknown field 'other'"),
        (
            V2_PRINTED.replace(", reduce_concat=", ", normal=[], reduce_concat="),
            r"field normal given twice",
        ),
        (
            V2_PRINTED.replace("normal=[", "normal=list([", 1).replace(
                "], normal_concat", "]), normal_concat"
            ),
            r"normal is not a literal: list\(",
        ),
        (V2_PRINTED[:-10], r"not a Genotype\(\.\.\.\) expression \("),
        (
            "__import__('os').system('echo pwned > /tmp/darts-pwned')",
            r"expected a call to Genotype, got a call to __import__\('os'\)\.system",
        ),
        (
            V2_PRINTED.replace("normal=[", "normal=[('sep_conv_3x3', 0)] * 8 + [", 1),
            r"normal is not a literal",
        ),
        ("[1, 2, 3]", r"not a Genotype\(\.\.\.\) expression: '\[1, 2, 3\]'"),
        ("", r"not a Genotype"),
    ],
)
def test_malformed_genotype_is_one_line_space_error(text: str, message: str) -> None:
    with pytest.raises(SpaceError, match=message) as info:
        parse_genotype(text)
    text_of_error = str(info.value)
    assert "\n" not in text_of_error and text_of_error.startswith("darts genotype: ")
    assert isinstance(info.value, CenasError)


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ({"normal": [["sep_conv_3x3", 0]] * 8}, r"missing reduce"),
        ({**SPACE.encode(DARTS_V2), "extra": 1}, r"unknown field 'extra'"),
        (
            {**SPACE.encode(DARTS_V2), "reduce": [["max_pool_3x3", 1]] * 8},
            r"reduce node 2 takes input 1 twice \(reduce\[0\] and reduce\[1\]\); the darts "
            r"space needs two distinct inputs",
        ),
        ({**SPACE.encode(DARTS_V2), "normal": "sep_conv_3x3"}, r"normal must be a list of"),
        ({**SPACE.encode(DARTS_V2), "normal": [[3, 0]] * 8}, r"normal\[0\] has op 3, not an"),
        ({**SPACE.encode(DARTS_V2), "normal": [["x", 0.0]] * 8}, r"unknown op 'x' at normal\[0\]"),
        ({**SPACE.encode(DARTS_V2), "reduce_concat": [2, 3, 4]}, r"reduce_concat is \[2, 3, 4\]"),
        (12, r"encoding of type int"),
        ((1, 2), r"expected a Genotype"),
    ],
)
def test_decode_rejects_malformed_encodings(encoding: object, message: str) -> None:
    with pytest.raises(SpaceError, match=message) as info:
        SPACE.decode(encoding)
    assert "\n" not in str(info.value)


def test_space_methods_reject_genotypes_outside_the_space() -> None:
    repeated = DARTS_V2._replace(normal=(("sep_conv_3x3", 0),) * 8)
    assert check_genotype(repeated) == repeated  # a DARTS genotype, but not in the space
    for method in (SPACE.encode, SPACE.canonical_hash, SPACE.neighbours, SPACE.to_str):
        with pytest.raises(SpaceError, match="takes input 0 twice"):
            method(repeated)
    with pytest.raises(SpaceError):
        SPACE.to_vector([repeated])


# --------------------------------------------------------------------- sampling
def test_sampler_respects_constraints_and_is_uniform(samples: list[Genotype]) -> None:
    assert all(_in_space(g) for g in samples)
    assert all(isinstance(src, int) for g in samples for _, src in g.normal)
    # node 5 of the normal cell: 20 ordered input pairs, uniform
    pairs = Counter((g.normal[6][1], g.normal[7][1]) for g in samples)
    assert set(pairs) == {(a, b) for a in range(5) for b in range(5) if a != b}
    expected = len(samples) / 20
    chi2 = sum((c - expected) ** 2 / expected for c in pairs.values())
    assert chi2 < 43.8  # df = 19, p = 0.001
    ops = Counter(op for g in samples for op, _ in g.reduce)
    assert set(ops) == set(PRIMITIVES[1:])
    expected = 8 * len(samples) / 7
    assert sum((c - expected) ** 2 / expected for c in ops.values()) < 22.5  # df = 6
    assert SPACE.sample_archs(np.random.default_rng(2019), len(samples)) == samples
    assert SPACE.sample_archs(np.random.default_rng(0), 0) == []


# ---------------------------------------------------------------------- vectors
def test_vector_layout(samples: list[Genotype]) -> None:
    x = SPACE.to_vector(samples)
    assert x.shape == (len(samples), SPACE.dim) == (10_000, 196)
    assert SPACE.to_vector(DARTS_V2).shape == (196,)
    assert SPACE.to_vector([]).shape == (0, 196)
    assert set(np.unique(x)) == {0.0, 1.0}
    names = SPACE.feature_names
    assert len(names) == 196 and len(set(names)) == 196
    v2 = SPACE.to_vector(DARTS_V2)
    on = {names[i] for i in np.flatnonzero(v2)}
    assert "normal.node5.in2.dil_conv_3x3" in on and "reduce.node3.in2.skip_connect" in on
    assert len(on) == 16
    for cell in ("normal", "reduce"):
        for k in NODES:
            cols = [i for i, n in enumerate(names) if n.startswith(f"{cell}.node{k}.")]
            assert len(cols) == 7 * k
            assert np.all(x[:, cols].sum(axis=1) == 2)
    # the two pairs of a node are unordered: same vector; different cells: different vectors
    swapped = DARTS_V2._replace(normal=_swap(DARTS_V2.normal, 3))
    assert swapped != DARTS_V2
    np.testing.assert_array_equal(SPACE.to_vector(swapped), v2)
    assert len({row.tobytes() for row in x}) == len({SPACE.canonical_hash(g) for g in samples})


# ------------------------------------------------------------------- neighbours
def test_neighbours_are_valid_single_edits(samples: list[Genotype]) -> None:
    for g in [DARTS_V1, DARTS_V2, *samples[:300]]:
        nbrs = SPACE.neighbours(g)
        assert len(nbrs) == len(set(nbrs)) == 96 + 24
        assert g not in nbrs
        for n in nbrs:
            assert _in_space(n)
            diffs = [
                (a, b)
                for ca, cb in zip(_cells(g), _cells(n), strict=True)
                for a, b in zip(ca, cb, strict=True)
                if a != b
            ]
            assert len(diffs) == 1
            (op_a, src_a), (op_b, src_b) = diffs[0]
            assert (op_a == op_b) != (src_a == src_b)  # exactly one of op / input changed


# --------------------------------------------------------------- canonical hash
def test_hash_merges_pair_swaps_and_node_relabellings(samples: list[Genotype]) -> None:
    rng = np.random.default_rng(7)
    relabelled = 0
    for g in samples[:1000]:
        h = SPACE.canonical_hash(g)
        normal, reduce = g.normal, g.reduce
        for k in NODES:
            if rng.random() < 0.5:
                normal = _swap(normal, k)
            if rng.random() < 0.5:
                reduce = _swap(reduce, k)
        options_n, options_r = _relabels(normal), _relabels(reduce)
        normal = options_n[rng.integers(len(options_n))]
        reduce = options_r[rng.integers(len(options_r))]
        other = g._replace(normal=normal, reduce=reduce)
        relabelled += (len(options_n) > 1) + (len(options_r) > 1)
        assert SPACE.canonical_hash(other) == h
        assert SPACE.canonical_form(other) == SPACE.canonical_form(g)
    assert relabelled > 100  # relabellings were exercised


def test_hash_is_exact_on_a_small_universe() -> None:
    """One operation everywhere: all 2,880 normal-cell wirings; the hash classes must be
    exactly the orbits of pair swaps and valid relabellings (computed by union-find)."""
    cells = []
    for choice in itertools.product(*(itertools.permutations(range(k), 2) for k in NODES)):
        cells.append(tuple(("sep_conv_3x3", s) for pair in choice for s in pair))
    assert len(cells) == 2 * 6 * 12 * 20
    index = {c: i for i, c in enumerate(cells)}
    parent = list(range(len(cells)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for c in cells:
        for other in [*(_swap(c, k) for k in NODES), *_relabels(c)]:
            parent[find(index[c])] = find(index[other])
    orbits = {find(i) for i in range(len(cells))}
    hashes: dict[str, set[int]] = {}
    for i, c in enumerate(cells):
        key = SPACE.canonical_hash(DARTS_V2._replace(normal=c))
        hashes.setdefault(key, set()).add(find(i))
    assert all(len(roots) == 1 for roots in hashes.values())  # a hash never spans two orbits
    assert len(hashes) == len(orbits)  # and every orbit has one hash
    assert len(orbits) < len(cells) // 4  # the merges are substantial


def test_hash_separates_random_genotypes(samples: list[Genotype]) -> None:
    hashes = {SPACE.canonical_hash(g) for g in samples}
    assert len(hashes) >= 9_990
    assert len({SPACE.canonical_hash(n) for n in SPACE.neighbours(DARTS_V2)}) > 100


def test_canonical_form_computes_the_same_function(samples: list[Genotype]) -> None:
    for g in [DARTS_V1, DARTS_V2, *samples[:300]]:
        c = SPACE.canonical_form(g)
        assert _in_space(c)
        for mine, theirs in zip(_cells(g), _cells(c), strict=True):
            np.testing.assert_allclose(_node_values(mine), _node_values(theirs), atol=1e-8)
    # the check has teeth: one changed operation changes the values
    changed = SPACE.neighbours(DARTS_V2)[0]
    assert not np.allclose(_node_values(changed.normal), _node_values(DARTS_V2.normal))


def test_darts_v2_canonical_form() -> None:
    c = SPACE.canonical_form(DARTS_V2)
    # DARTS_V2's normal node 4 (skip 0 + sep 1) sorts first; node 5 (skip 0 + dil from 2),
    # which reads old node 2 (now 3), comes next as node 4; old node 3 goes last
    assert c.normal == (
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("dil_conv_3x3", 3),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
    )
    assert SPACE.canonical_form(c) == c


# --------------------------------------------------------------------- protocol
def test_protocol_and_sampler() -> None:
    assert isinstance(SPACE, SearchSpace)
    assert SPACE.name == "darts" and SPACE.size is None and SPACE.dim == 196
    assert SPACE.n_genotypes == (2 * 6 * 12 * 20 * 7**8) ** 2
    sampler = SpaceSampler(SPACE, seed=3)
    sampler.exclude([DARTS_V2])
    drawn = sampler.draw(50)
    assert len(drawn) == 50 == len({SPACE.canonical_hash(g) for g in drawn})
    assert DARTS_V2 in sampler and DARTS_V2._replace(normal=_swap(DARTS_V2.normal, 2)) in sampler
