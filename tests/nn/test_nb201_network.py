"""The NAS-Bench-201 network: parameter counts, FLOPs, arch round trips, forward shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cenas.nn import NB201Network, build_nb201, count_flops, count_params, parse_arch
from cenas.space import NB201Space

SPACE = NB201Space()
ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+" + (
    "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
# the ResNet-like cell of the NAS-Bench-201 paper: two 3x3 convolutions in series plus a skip
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_published_extremes_on_cifar10() -> None:
    # NAS-Bench-201's published range of parameter counts on CIFAR-10 (millions)
    assert count_params(build_nb201(ALL_NONE)) == 73_306
    assert count_params(build_nb201(ALL_CONV3)) == 1_531_546


def test_resnet_cell() -> None:
    # the all-none skeleton plus two 3x3 convolution edges of 243,040 parameters each
    assert count_params(build_nb201(RESNET)) == 73_306 + 2 * 243_040


def _closed_form(ops: tuple[int, ...], c: int = 16, n: int = 5, classes: int = 10) -> int:
    """Parameters of the NATS-Bench skeleton counted by hand from its layer list."""
    stem = 3 * c * 9 + 2 * c
    per_conv1 = sum(n * (m * c) ** 2 + n * 2 * m * c for m in (1, 2, 4))
    per_conv3 = sum(n * 9 * (m * c) ** 2 + n * 2 * m * c for m in (1, 2, 4))
    reductions = 0
    for c_in, c_out in ((c, 2 * c), (2 * c, 4 * c)):
        reductions += 9 * c_in * c_out + 2 * c_out  # conv_a + BN
        reductions += 9 * c_out * c_out + 2 * c_out  # conv_b + BN
        reductions += c_in * c_out  # 1x1 projection
    head = 2 * 4 * c + 4 * c * classes + classes
    n1 = sum(o == 2 for o in ops)
    n3 = sum(o == 3 for o in ops)
    return stem + reductions + head + n1 * per_conv1 + n3 * per_conv3


@pytest.mark.parametrize("seed", range(3))
def test_parameter_count_of_random_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for index in rng.integers(0, SPACE.size, size=4):
        ops = SPACE.from_index(int(index))
        assert count_params(build_nb201(ops)) == _closed_form(ops)


def test_cifar100_head_and_small_sizes() -> None:
    ops = SPACE.from_str(RESNET)
    assert count_params(build_nb201(ops, num_classes=100)) == _closed_form(ops, classes=100)
    assert count_params(build_nb201(ops, 8, 1)) == _closed_form(ops, c=8, n=1)


def test_flops_from_torch_counter() -> None:
    # NAS-Bench-201 reports multiply-adds: 7.78305 M and 220.11969 M for the extremes
    assert count_flops(build_nb201(ALL_NONE)) // 2 == 7_783_040
    assert count_flops(build_nb201(ALL_CONV3)) // 2 == 220_119_680


@pytest.mark.parametrize("index", [0, 1, 777, 15_624])
def test_arch_round_trip(index: int) -> None:
    ops = SPACE.from_index(index)
    arch_str = SPACE.to_str(ops)
    net = build_nb201(arch_str, 4, 1)
    assert net.ops == ops
    assert net.arch_str == arch_str
    assert parse_arch(index) == ops
    assert parse_arch(str(index)) == ops
    assert parse_arch(list(ops)) == ops
    assert build_nb201(index, 4, 1).arch_str == arch_str


def test_bad_arch_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        build_nb201("|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ValueError, match="outside"):
        build_nb201(15_625)


def test_forward_shapes_and_disconnected_cell() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    net = build_nb201(RESNET, 4, 1, num_classes=10)
    assert net(x).shape == (2, 10)
    assert net.features(x).shape == (2, 16)
    # a cell whose output node receives only 'none' carries nothing through the cells
    dead = build_nb201(ALL_NONE, 4, 1).eval()
    assert torch.count_nonzero(dead.cells[0](dead.stem(x))).item() == 0
    assert torch.count_nonzero(dead.cells(dead.stem(x))).item() == 0
    logits = dead(x)
    assert torch.equal(logits[0], logits[1])  # the input cannot reach the classifier


def test_network_is_an_nn_module() -> None:
    net = build_nb201(RESNET, 4, 1)
    assert isinstance(net, NB201Network)
    assert sum(1 for _ in net.cells) == 3 + 2  # three cells, two reductions
