"""The NAS-Bench-201 network in PyTorch.

Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
Search", ICLR 2020; Dong, Liu, Musial, Gabrys, "NATS-Bench", TPAMI 2021. The macro skeleton
is NATS-Bench's ``TinyNetwork``: a 3x3 stem convolution with batch norm; three stages of
``N`` cells at ``C``, ``2C`` and ``4C`` channels, joined by residual reduction blocks; then
batch norm, ReLU, global average pooling and a linear classifier.

A cell is a DAG of four nodes; node ``j`` sums one operation applied to each earlier node.
The operations are ``none`` (a zero tensor), ``skip_connect`` (identity),
``nor_conv_1x1`` / ``nor_conv_3x3`` (ReLU, convolution, batch norm) and ``avg_pool_3x3``
(padding not counted). As in NATS-Bench, batch norms are affine, track running statistics,
and a convolution carries no bias. With ``C=16, N=5`` and 10 classes the parameter count
matches NAS-Bench-201's published count of every cell (0.073306 M to 1.531546 M).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from cenas.nn._common import ReLUConvBN, Zero, count_flops, count_params
from cenas.space import NB201_EDGES, NB201_OPS, NB201Space


def make_op(name: str, channels: int) -> nn.Module:
    """One NAS-Bench-201 operation at stride 1 with ``channels`` in and out.

    Raises:
        ValueError: For an unknown operation name.
    """
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 operation {name!r}: choose one of {NB201_OPS}")


class InferCell(nn.Module):
    """A fixed NAS-Bench-201 cell: six edges, each one operation."""

    def __init__(self, ops: Sequence[int], channels: int) -> None:
        super().__init__()
        self.ops = tuple(int(o) for o in ops)
        self.edges = nn.ModuleList(make_op(NB201_OPS[o], channels) for o in self.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        k = 0
        for to_node in range(1, 4):
            total = self.edges[k](nodes[0])
            for from_node in range(1, to_node):
                total = total + self.edges[k + from_node](nodes[from_node])
            k += to_node
            nodes.append(total)
        return nodes[-1]


class ResidualReduction(nn.Module):
    """NATS-Bench's residual reduction block: two ReLU-conv-BN (first at stride 2) plus an
    average-pooled 1x1 projection of the input."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Skeleton(nn.Module):
    """The layers around the cells, shared by a network and a supernet (see
    :func:`build_skeleton`)."""

    stem: nn.Sequential
    cells: nn.Sequential
    lastact: nn.Sequential
    global_pooling: nn.AdaptiveAvgPool2d
    classifier: nn.Linear


def build_skeleton(
    net: NB201Skeleton,
    channels: int,
    cells_per_stage: int,
    num_classes: int,
    make_cell: Callable[[int], nn.Module],
) -> None:
    """Give ``net`` NATS-Bench's macro skeleton around cells made by ``make_cell(C)``.

    Sets ``stem``, ``cells`` (three stages of ``cells_per_stage`` cells at C, 2C, 4C
    channels joined by :class:`ResidualReduction`), ``lastact``, ``global_pooling`` and
    ``classifier``: the parameter names a trained network and a supernet share.

    Raises:
        ValueError: If a size is not positive.
    """
    if channels < 1 or cells_per_stage < 1 or num_classes < 1:
        raise ValueError("channels, cells_per_stage and num_classes must be positive")
    net.stem = nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
    )
    layers: list[nn.Module] = []
    c_prev = channels
    for stage, mult in enumerate((1, 2, 4)):
        c = channels * mult
        if stage > 0:
            layers.append(ResidualReduction(c_prev, c))
        layers.extend(make_cell(c) for _ in range(cells_per_stage))
        c_prev = c
    net.cells = nn.Sequential(*layers)
    net.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
    net.global_pooling = nn.AdaptiveAvgPool2d(1)
    net.classifier = nn.Linear(c_prev, num_classes)


class NB201Network(NB201Skeleton):
    """NATS-Bench's ``TinyNetwork`` for one NAS-Bench-201 cell.

    Args:
        ops: The cell as six operation indices (see :class:`cenas.space.NB201Space`).
        channels: ``C``, the channels of the first stage (16 in the benchmark).
        cells_per_stage: ``N``, cells per stage (5 in the benchmark).
        num_classes: Classifier outputs (10 for CIFAR-10, 100 for CIFAR-100).
    """

    def __init__(
        self,
        ops: Sequence[int],
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        space = NB201Space()
        self.ops = tuple(int(o) for o in ops)
        self.arch_str = space.to_str(self.ops)
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.num_classes = num_classes
        build_skeleton(
            self, channels, cells_per_stage, num_classes, lambda c: InferCell(self.ops, c)
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features the classifier reads, ``(batch, 4C)``."""
        out = self.lastact(self.cells(self.stem(x)))
        return torch.flatten(self.global_pooling(out), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def parse_arch(arch: str | int | Sequence[int]) -> tuple[int, ...]:
    """Operation indices of a cell given as an ``arch_str``, an enumeration index or indices.

    An integer is the position in :meth:`cenas.space.NB201Space.enumerate` (base 5); the
    official NAS-Bench-201 row index is mapped by :func:`cenas.bench.load_nb201_table`.

    Raises:
        ValueError: If the cell cannot be decoded.
    """
    space = NB201Space()
    if isinstance(arch, str):
        text = arch.strip()
        if text.isdigit():
            return space.from_index(int(text))
        return space.from_str(text)
    if isinstance(arch, int):
        return space.from_index(arch)
    return space._check_ops(arch)


def build_nb201(
    arch: str | int | Sequence[int],
    channels: int = 16,
    cells_per_stage: int = 5,
    num_classes: int = 10,
) -> NB201Network:
    """Build the network of a cell given as an ``arch_str``, an index or operation indices."""
    return NB201Network(parse_arch(arch), channels, cells_per_stage, num_classes)


__all__ = [
    "NB201_EDGES",
    "InferCell",
    "NB201Network",
    "NB201Skeleton",
    "ReLUConvBN",
    "ResidualReduction",
    "Zero",
    "build_nb201",
    "build_skeleton",
    "count_flops",
    "count_params",
    "make_op",
    "parse_arch",
]
