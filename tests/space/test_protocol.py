"""The search-space protocol: NB201Space conforms; encodings, sampling, neighbours, vectors,
canonical hashes (checked against PyTorch networks) and the generic SpaceSampler."""

from __future__ import annotations

import json
import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from cenas.errors import CenasError
from cenas.nn import build_nb201
from cenas.nn._nb201 import InferCell, ReLUConvBN
from cenas.space import (
    NB201_OPS,
    IndexedSpace,
    NB201Space,
    SearchSpace,
    SpaceError,
    SpaceSampler,
)
from cenas.space._nb201 import _edge_shapes, _live_edges

torch.set_num_threads(1)

SPACE = NB201Space()
ALL = list(SPACE.enumerate())
N_CLASSES = 5234
"""Distinct canonical hashes over the 15,625 cells (measured; see the module docstring of
cenas.space._nb201 for the rules)."""


@pytest.fixture(scope="module")
def hashes() -> list[str]:
    return [SPACE.canonical_hash(ops) for ops in ALL]


# ---------------------------------------------------------------------------- protocol
class PairSpace:
    """A toy space that is not indexed: unordered pairs of 0..3 (10 classes)."""

    name = "pairs"
    size = None
    dim = 2

    def encode(self, arch: tuple[int, int]) -> list[int]:
        return list(arch)

    def decode(self, encoding: object) -> tuple[int, int]:
        if not isinstance(encoding, list) or len(encoding) != 2:
            raise SpaceError(f"pairs encoding {encoding!r}: expected [a, b]")
        return (int(encoding[0]), int(encoding[1]))

    def sample_archs(self, rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
        return [(int(a), int(b)) for a, b in rng.integers(0, 4, size=(n, 2))]

    def to_vector(self, archs: Sequence[tuple[int, int]]) -> np.ndarray:
        return np.asarray(archs, dtype=np.float64).reshape(len(archs), 2) / 4

    def neighbours(self, arch: tuple[int, int]) -> list[tuple[int, int]]:
        return [(a, arch[1]) for a in range(4) if a != arch[0]]

    def canonical_hash(self, arch: tuple[int, int]) -> str:
        return str(sorted(arch))

    def to_str(self, arch: tuple[int, int]) -> str:
        return f"{arch[0]}-{arch[1]}"


def test_nb201_space_is_an_indexed_search_space() -> None:
    assert isinstance(SPACE, SearchSpace)
    assert isinstance(SPACE, IndexedSpace)
    assert isinstance(PairSpace(), SearchSpace)
    assert not isinstance(PairSpace(), IndexedSpace)
    assert not isinstance(object(), SearchSpace)
    assert SPACE.name == "nb201" and SPACE.size == 15_625 and SPACE.dim == 6


def test_existing_sample_is_unchanged_and_sample_archs_matches_it() -> None:
    idx = SPACE.sample(np.random.default_rng(5), 40)
    assert idx.dtype == np.int64 and idx.shape == (40,)
    archs = SPACE.sample_archs(np.random.default_rng(5), 40)
    assert archs == [SPACE.from_index(int(i)) for i in idx]
    assert all(isinstance(a, tuple) and len(a) == 6 for a in archs)


# ---------------------------------------------------------------------------- encodings
def test_encode_decode_round_trip_for_every_cell() -> None:
    for index, ops in enumerate(ALL):
        enc = SPACE.encode(ops)
        assert isinstance(enc, str) and enc == SPACE.to_str(ops)
        assert json.loads(json.dumps(enc)) == enc
        assert SPACE.decode(enc) == ops
        assert SPACE.decode(index) == ops
        assert SPACE.decode(list(ops)) == ops
        assert SPACE.index(ops) == index and SPACE.from_index(index) == ops
    assert SPACE.decode(np.int64(7)) == SPACE.from_index(7)


GOOD = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|"


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("", "expected 3 nodes"),
        ("|nor_conv_3x3~0|", "expected 3 nodes"),
        (GOOD.replace("nor_conv_3x3", "conv_7x7"), "unknown operation 'conv_7x7'"),
        (GOOD.replace("none~2", "none~1"), "should come from node 2"),
        ("x" * 5000, "expected 3 nodes"),
        ("a\nb", "expected 3 nodes"),
        (15_625, "index outside [0, 15625)"),
        (-1, "index outside [0, 15625)"),
        (True, "a boolean"),
        (3.0, "of type float"),
        (None, "of type NoneType"),
        ({"arch": GOOD}, "of type dict"),
        ([], "expected 6 operation indices, got 0"),
        ([0, 1, 2], "expected 6 operation indices, got 3"),
        ([0, 0, 0, 0, 0, 5], "item 5 (5) outside [0, 5)"),
        ([0, 0, 0, 0, 0, -1], "item 5 (-1) outside [0, 5)"),
        ([0, 0, 0, 0, 0, "1"], "item 5 ('1') is not an integer"),
        ([0, 0, True, 0, 0, 0], "item 2 (True) is not an integer"),
        ([0.0] * 6, "item 0 (0.0) is not an integer"),
    ],
)
def test_malformed_encodings_raise_one_line_space_errors(bad: object, fragment: str) -> None:
    with pytest.raises(SpaceError) as info:
        SPACE.decode(bad)  # type: ignore[arg-type]
    message = str(info.value)
    assert isinstance(info.value, CenasError) and isinstance(info.value, ValueError)
    assert message.startswith("nb201 encoding")
    assert fragment in message
    assert "\n" not in message and len(message) < 300


# ---------------------------------------------------------------------------- sampling
def test_sample_archs_is_uniform() -> None:
    n = 156_250  # 10 per cell
    archs = np.array(SPACE.sample_archs(np.random.default_rng(11), n))
    # each edge's operation: 5 bins of 31,250 expected
    for edge in range(6):
        counts = np.bincount(archs[:, edge], minlength=5)
        chi2 = float(((counts - n / 5) ** 2 / (n / 5)).sum())
        assert chi2 < 25.0, (edge, counts)  # chi2(4): P(> 25) ~ 5e-5
    # whole cells: chi2 with 15,624 degrees of freedom, mean 15,624 and sd ~177
    counts = np.bincount(SPACE.ops_to_indices(archs), minlength=SPACE.size)
    chi2 = float(((counts - 10.0) ** 2 / 10.0).sum())
    assert abs(chi2 - 15_624) < 6 * 177, chi2
    again = SPACE.sample_archs(np.random.default_rng(11), 100)
    assert again == [tuple(a) for a in archs[:100].tolist()]


# ---------------------------------------------------------------------------- neighbours
def test_neighbours_are_the_24_one_edge_moves() -> None:
    for ops in ALL:
        nbrs = SPACE.neighbours(ops)
        assert len(nbrs) == 24 == len(set(nbrs))
        for other in nbrs:
            diff = [k for k in range(6) if other[k] != ops[k]]
            assert len(diff) == 1
        assert Counter(next(k for k in range(6) if o[k] != ops[k]) for o in nbrs) == {
            k: 4 for k in range(6)
        }
    a = ALL[1234]
    assert all(a in SPACE.neighbours(b) for b in SPACE.neighbours(a))


# ---------------------------------------------------------------------------- vectors
def test_vectors_have_shape_n_by_dim() -> None:
    archs = ALL[:7]
    v = SPACE.to_vector(archs)
    assert v.shape == (7, SPACE.dim)
    np.testing.assert_allclose(v, (np.array(archs) + 0.5) / 5)
    assert SPACE.to_vector([]).shape == (0, 6)
    np.testing.assert_array_equal(SPACE.vectors_to_indices(v), np.arange(7))
    idx = np.array([0, 99, 15_624])
    np.testing.assert_array_equal(SPACE.indices_to_vectors(idx), SPACE.all_vectors()[idx])
    assert SPACE.to_vector(ALL[3]).shape == (6,)  # a single cell, as before


# ---------------------------------------------------------------------------- hashes
def s2o(arch_str: str) -> tuple[int, ...]:
    return SPACE.from_str(arch_str)


def test_hash_basic_properties(hashes: list[str]) -> None:
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in hashes)
    assert hashes == [SPACE.canonical_hash(ops) for ops in ALL]  # deterministic
    assert len(set(hashes)) == N_CLASSES
    # removing the edges that cannot affect the output keeps the hash
    for ops, h in zip(ALL, hashes, strict=True):
        live = _live_edges(ops)
        pruned = tuple(o if keep else 0 for o, keep in zip(ops, live, strict=True))
        assert SPACE.canonical_hash(pruned) == h
    # every cell whose output is zero is one class: the all-`none` cell's
    zero = SPACE.canonical_hash((0,) * 6)
    n_zero = sum(h == zero for h in hashes)
    assert SPACE.canonical_form((0,) * 6) == "0"
    assert n_zero == sum(not any(_live_edges(ops)) for ops in ALL) > 1


def reference_unique_str(ops: tuple[int, ...]) -> str:
    """NATS-Bench's published rule for its 6,466 "unique" cells, re-derived: a node is the
    sorted '+'-join of its inputs' strings, where an input is '#' if its op is none or its
    source string is '#', the source string itself for a skip, else '(source)@op'."""
    nodes = ["0"]
    k = 0
    for to_node in range(1, 4):
        parts = []
        for src in range(to_node):
            op = NB201_OPS[ops[k]]
            k += 1
            if op == "none" or nodes[src] == "#":
                parts.append("#")
            elif op == "skip_connect":
                parts.append(nodes[src])
            else:
                parts.append(f"({nodes[src]})@{op}")
        nodes.append("+".join(sorted(parts)))
    return nodes[3]


def test_distinct_hash_count_versus_nas_bench_201(hashes: list[str]) -> None:
    assert len({reference_unique_str(ops) for ops in ALL}) == 6466  # the paper's count
    assert len(set(hashes)) == N_CLASSES
    # Where the two disagree, and why (see cenas.space._nb201's docstring):
    # 1. the reference keeps zero inputs in a sum: two always-zero cells differ there
    a = s2o("|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|")
    b = s2o("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert reference_unique_str(a) != reference_unique_str(b)
    assert SPACE.canonical_hash(a) == SPACE.canonical_hash(b)
    # 2. the reference reads a conv of a zero node as zero; batch norm adds its shift
    a = s2o("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|")
    b = s2o("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    assert reference_unique_str(a) == reference_unique_str(b)
    assert SPACE.canonical_hash(a) != SPACE.canonical_hash(b)
    # 3. the reference's expression trees cannot tell one shared conv from two convs
    a = s2o("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|")
    b = s2o("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|")
    assert reference_unique_str(a) == reference_unique_str(b)
    assert SPACE.canonical_hash(a) != SPACE.canonical_hash(b)
    n_convs = [sum(s is not None for s in _edge_shapes(o)) for o in (a, b)]
    assert n_convs == [2, 3]
    # 4. the reference does not use that average pooling is linear
    a = s2o("|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|")
    b = s2o("|nor_conv_3x3~0|+|none~0|none~1|+|avg_pool_3x3~0|avg_pool_3x3~1|none~2|")
    assert reference_unique_str(a) != reference_unique_str(b)
    assert SPACE.canonical_hash(a) == SPACE.canonical_hash(b)


# Cells the hash claims equivalent, one rule each; all members of a group must agree.
EQUIVALENT = {
    "dead edges": [
        "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",
        "|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",
        "|avg_pool_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|none~1|none~2|",
    ],
    "skip and pool of a zero node": [
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
        "|none~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|skip_connect~1|avg_pool_3x3~2|",
    ],
    "skip absorbed": [
        "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|",
        "|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|skip_connect~2|",
        "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|",
    ],
    "sums regrouped": [
        "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
        "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|skip_connect~1|none~2|",
    ],
    "pooling distributed": [
        "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|",
        "|nor_conv_3x3~0|+|none~0|none~1|+|avg_pool_3x3~0|avg_pool_3x3~1|none~2|",
    ],
    "conv of a zero node": [
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|none~2|",
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|",
        "|none~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|",
    ],
}


def _randn(shape: Sequence[int], gen: torch.Generator) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=gen)


def set_cell_weights(cell: InferCell, ops: tuple[int, ...], tag: str, noise: int) -> None:
    """Weights of a cell's convolutions chosen by the shape of their canonical instance (so
    equivalent cells agree); what the hash says cannot matter is random noise instead."""
    rand = torch.Generator().manual_seed(noise)
    for module, shape in zip(cell.edges, _edge_shapes(ops), strict=True):
        if not isinstance(module, ReLUConvBN):
            continue
        conv, bn = module[1], module[2]
        assert isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d)
        assert bn.running_var is not None and bn.running_mean is not None
        keyed = torch.Generator().manual_seed(zlib.crc32(f"{tag}:{shape}".encode()))
        live = shape is not None and shape != "b"
        with torch.no_grad():
            conv.weight.copy_(_randn(conv.weight.shape, keyed if live else rand))
            bn.weight.copy_(_randn(bn.weight.shape, keyed if live else rand))
            bn.bias.copy_(_randn(bn.bias.shape, keyed if shape is not None else rand))
            bn.running_var.copy_(_randn(bn.running_var.shape, keyed if live else rand).abs() + 0.5)
            if live:  # a conv of a zero node keeps running mean 0, as training leaves it
                bn.running_mean.copy_(_randn(bn.running_mean.shape, keyed))


def network_outputs(arch_strs: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Eval- then train-mode outputs of ``build_nb201(arch, C=4, N=1)`` for each cell, with
    shared skeleton weights and cell weights from :func:`set_cell_weights`."""
    torch.manual_seed(0)
    skeleton = build_nb201(arch_strs[0], 4, 1).state_dict()
    x = _randn((3, 3, 8, 8), torch.Generator().manual_seed(1))
    out = []
    for noise, arch in enumerate(arch_strs):
        net = build_nb201(arch, 4, 1)
        net.load_state_dict({k: v for k, v in skeleton.items() if ".edges." not in k}, False)
        for position, cell in enumerate(net.cells):
            if isinstance(cell, InferCell):
                set_cell_weights(cell, cell.ops, str(position), 100 * noise + position)
        with torch.no_grad():
            out.append((net.eval()(x), net.train()(x)))
    return out


@pytest.mark.parametrize("rule", sorted(EQUIVALENT))
def test_equivalent_cells_share_a_hash_and_compute_the_same(rule: str) -> None:
    group = EQUIVALENT[rule]
    assert len({SPACE.canonical_hash(s2o(a)) for a in group}) == 1
    outputs = network_outputs(group)
    for eval_out, train_out in outputs[1:]:
        torch.testing.assert_close(eval_out, outputs[0][0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(train_out, outputs[0][1], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(outputs[0][0], outputs[0][1])  # the modes differ


def test_conv_of_a_zero_node_is_not_none() -> None:
    """The reference merges these; batch norm's shift tells them apart."""
    group = [
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|",
        "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
    ]
    assert SPACE.canonical_hash(s2o(group[0])) != SPACE.canonical_hash(s2o(group[1]))
    (a_eval, a_train), (b_eval, b_train) = network_outputs(group)
    assert (a_eval - b_eval).abs().max() > 1e-3
    assert (a_train - b_train).abs().max() > 1e-3


def test_sampled_classes_compute_the_same_function(hashes: list[str]) -> None:
    classes: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        classes[h].append(i)
    multi = sorted(k for k, v in classes.items() if len(v) > 1)
    rng = np.random.default_rng(0)
    x = _randn((2, 3, 6, 6), torch.Generator().manual_seed(2))
    for key in rng.choice(multi, size=40, replace=False):
        members = rng.choice(classes[str(key)], size=min(3, len(classes[str(key)])), replace=False)
        outs = []
        for j, index in enumerate(members):
            ops = ALL[int(index)]
            cell = InferCell(ops, 3)
            set_cell_weights(cell, ops, "cell", 1000 + j)
            with torch.no_grad():
                outs.append((cell.eval()(x), cell.train()(x)))
        for e, t in outs[1:]:
            torch.testing.assert_close(e, outs[0][0], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(t, outs[0][1], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------- sampler
def test_sampler_on_a_space_without_indices() -> None:
    space = PairSpace()
    sampler: SpaceSampler[tuple[int, int]] = SpaceSampler(space, seed=3, patience=200)
    sampler.exclude([(0, 1)])
    assert (1, 0) in sampler and (2, 2) not in sampler
    got = sampler.draw(100)
    assert len(got) == 9 and sampler.exhausted and sampler.n_seen == 10
    keys = [space.canonical_hash(a) for a in got]
    assert len(set(keys)) == 9 and "[0, 1]" not in keys
    assert sampler.draw(5) == [] and list(sampler) == []
    with pytest.raises(ValueError, match="patience"):
        SpaceSampler(space, patience=0)


def test_sampler_reaches_every_nb201_class(hashes: list[str]) -> None:
    sampler = SpaceSampler(SPACE, seed=0, patience=100)
    first = sampler.draw(500)
    assert len(first) == 500 and not sampler.exhausted
    keys = {SPACE.canonical_hash(a) for a in first}
    assert len(keys) == 500 and all(len(a) == 6 for a in first)
    rest = list(sampler)  # rejection sampling, then a scan of the enumeration
    assert sampler.exhausted
    assert len(rest) + 500 == N_CLASSES
    assert keys | {SPACE.canonical_hash(a) for a in rest} == set(hashes)
    same = SpaceSampler(SPACE, seed=0, patience=100).draw(500)
    assert same == first  # seeded
