"""NB201Space: the three encodings round-trip for every cell; malformed input is rejected."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cenas.space import NB201_OPS, NB201Space

SPACE = NB201Space()


def test_size_and_dimensions() -> None:
    assert SPACE.size == 15_625 == len(list(SPACE.enumerate()))
    assert SPACE.dim == SPACE.n_edges == 6
    assert SPACE.n_ops == len(NB201_OPS) == 5


def test_index_ops_string_round_trip_for_every_cell() -> None:
    for index, ops in enumerate(SPACE.enumerate()):
        assert SPACE.to_index(ops) == index
        assert SPACE.from_index(index) == ops
        arch = SPACE.to_str(ops)
        assert SPACE.from_str(arch) == ops


def test_strings_are_distinct_and_well_formed() -> None:
    strings = {SPACE.to_str(ops) for ops in SPACE.enumerate()}
    assert len(strings) == SPACE.size
    example = SPACE.to_str((4, 2, 1, 2, 1, 1))
    assert example == (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
        "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )


def test_batch_conversions_round_trip_for_every_cell() -> None:
    idx = np.arange(SPACE.size)
    ops = SPACE.indices_to_ops(idx)
    assert ops.shape == (SPACE.size, 6)
    np.testing.assert_array_equal(ops, np.array(list(SPACE.enumerate())))
    np.testing.assert_array_equal(SPACE.ops_to_indices(ops), idx)
    vectors = SPACE.all_vectors()
    assert vectors.shape == (SPACE.size, 6)
    assert vectors.min() > 0.0 and vectors.max() < 1.0
    np.testing.assert_allclose(vectors, (ops + 0.5) / 5)
    np.testing.assert_array_equal(SPACE.vectors_to_ops(vectors), ops)
    np.testing.assert_array_equal(SPACE.vectors_to_indices(vectors), idx)


def test_single_vector_round_trip() -> None:
    for index in (0, 1, 777, SPACE.size - 1):
        ops = SPACE.from_index(index)
        assert SPACE.from_vector(SPACE.to_vector(ops)) == ops


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6))
def test_any_point_decodes_to_its_bins(point: list[float]) -> None:
    ops = SPACE.from_vector(point)
    expected = tuple(min(int(np.floor(v * 5)), 4) for v in point)
    assert ops == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "|nor_conv_3x3~0|",
        "|nor_conv_3x3~0|+|skip_connect~0|none~1|",
        "|nor_conv_3x3~0|+|skip_connect~0|+|none~0|none~1|none~2|",
        "|conv_7x7~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|",
        "|nor_conv_3x3~1|+|skip_connect~0|none~1|+|none~0|none~1|none~2|",
        "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~1|",
        "|nor_conv_3x3|+|skip_connect~0|none~1|+|none~0|none~1|none~2|",
        "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|+|none~0|",
        "|NOR_CONV_3X3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_malformed_strings_raise(bad: str) -> None:
    with pytest.raises(ValueError):
        SPACE.from_str(bad)


@pytest.mark.parametrize("ops", [(0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 5), (0, 0, 0, 0, 0, -1)])
def test_invalid_ops_raise(ops: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        SPACE.to_index(ops)
    with pytest.raises(ValueError):
        SPACE.to_str(ops)


@pytest.mark.parametrize("index", [-1, 15_625, 10**6])
def test_index_out_of_range_raises(index: int) -> None:
    with pytest.raises(ValueError):
        SPACE.from_index(index)


def test_vector_of_wrong_shape_raises() -> None:
    with pytest.raises(ValueError):
        SPACE.from_vector([0.1] * 5)


def test_sample_is_seeded_and_in_range() -> None:
    a = SPACE.sample(np.random.default_rng(3), 50)
    b = SPACE.sample(np.random.default_rng(3), 50)
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() < SPACE.size
