"""The DARTS evaluation network for CIFAR in PyTorch.

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019, section 3
and appendix A.2 (architecture evaluation), and the network of its public code. A genotype
names two cells, a *normal* and a *reduction* cell. A cell has two inputs, ``c_{k-2}`` and
``c_{k-1}`` (the outputs of the two cells before it), each first brought to ``C`` channels
(a ReLU-1x1 conv-BN, or a factorized reduction when ``c_{k-2}`` is at twice the
resolution); four intermediate nodes, each the sum of two operations applied to earlier
nodes (``(op_name, input_index)`` pairs, index 0 = ``c_{k-2}``, 1 = ``c_{k-1}``, 2.. =
earlier intermediate nodes); and an output that concatenates the nodes named by the
genotype's ``*_concat`` (the four intermediate nodes in DARTS). In a reduction cell the
operations on the two inputs have stride 2.

The operations (the DARTS code's ``operations.py``, affine batch norms): ``none`` (zeros,
subsampled at stride 2), ``max_pool_3x3`` and ``avg_pool_3x3`` (padding 1, the average not
counting padding), ``skip_connect`` (identity, or a factorized reduction at stride 2),
``sep_conv_3x3`` / ``sep_conv_5x5`` (a ReLU-depthwise conv-pointwise conv-BN applied twice,
the first at the stride) and ``dil_conv_3x3`` / ``dil_conv_5x5`` (one ReLU-depthwise conv
with dilation 2-pointwise conv-BN).

The network (``NetworkCIFAR`` of the DARTS code): a 3x3 stem convolution to ``3C`` channels
with batch norm; ``layers`` cells at ``C`` channels per node, doubled at the two reduction
cells at positions ``layers // 3`` and ``2 * layers // 3``; global average pooling and a
linear classifier on the last cell's output. With ``auxiliary=True`` an auxiliary classifier
(``AuxiliaryHeadCIFAR``: ReLU, 5x5 average pool at stride 3, 1x1 conv to 128, BN, ReLU, 2x2
conv to 768, BN, ReLU, linear) reads the output of cell ``2 * layers // 3`` (8x8 for 32x32
images), in training only. In training, drop path (Larsson, Maire, Shakhnarovich,
"FractalNet", ICLR 2017) zeroes each non-identity edge's output per image with probability
``drop_path_prob`` and scales the rest by ``1 / (1 - p)``; evaluation mode never drops.

Differences from the DARTS code, none of which changes a parameter count, nor a value computed
by a network of 4 or more cells: ReLUs are not in place (DARTS's in-place ReLU at the head of
the auxiliary classifier rectifies the cell output it reads, which the next cells rectify
first anyway, but which the classifier reads unrectified when that cell is the last); a
factorized reduction to an odd number of channels gives its second half the
extra channel (DARTS accepts even numbers only).

Sizes: the DARTS search network has 8 cells at ``C=16``; the CIFAR-10 evaluation network 20
cells at ``C=36`` with the auxiliary head (:data:`DARTS_SIZES`). Built from DARTS_V2 at the
evaluation size the network has 3,349,342 trainable parameters without the auxiliary head,
the paper's 3.3 M (the DARTS code logs ``param size`` with ``count_parameters_in_MB``, which
skips every parameter whose name contains ``auxiliary``), and 3,825,768 with its 476,426;
:meth:`DartsNetwork.count_params` leaves the head out unless asked. Inputs must be 32x32
(the auxiliary head's pooling assumes 8x8 after two reductions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch
from torch import nn

from cenas.nn._common import ReLUConvBN, Zero, count_params
from cenas.space import PRIMITIVES, Genotype


class GenotypeLike(Protocol):
    """What the network reads of a genotype (:class:`cenas.space.Genotype` is one)."""

    @property
    def normal(self) -> Sequence[tuple[str, int]]: ...

    @property
    def normal_concat(self) -> Sequence[int]: ...

    @property
    def reduce(self) -> Sequence[tuple[str, int]]: ...

    @property
    def reduce_concat(self) -> Sequence[int]: ...


class SepConv(nn.Sequential):
    """DARTS's separable convolution: ReLU, depthwise ``kernel`` conv at ``stride``,
    pointwise conv, BN, then the same again at stride 1 ending at ``c_out`` channels."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, 1, padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )


class DilConv(nn.Sequential):
    """DARTS's dilated convolution: ReLU, depthwise ``kernel`` conv with ``dilation`` at
    ``stride``, pointwise conv to ``c_out``, BN."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False
            ),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing a pixel: ReLU, two 1x1 convs at stride 2 (the
    second on the input shifted by one row and column), concatenated, then BN.

    The input's height and width must be even.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        if c_out < 2:
            raise ValueError(f"FactorizedReduce needs at least 2 output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


_OPS: dict[str, Callable[[int, int], nn.Module]] = {
    "none": lambda c, stride: Zero(stride),
    "max_pool_3x3": lambda c, stride: nn.MaxPool2d(3, stride=stride, padding=1),
    "avg_pool_3x3": lambda c, stride: nn.AvgPool2d(
        3, stride=stride, padding=1, count_include_pad=False
    ),
    "skip_connect": lambda c, stride: nn.Identity() if stride == 1 else FactorizedReduce(c, c),
    "sep_conv_3x3": lambda c, stride: SepConv(c, c, 3, stride, 1),
    "sep_conv_5x5": lambda c, stride: SepConv(c, c, 5, stride, 2),
    "dil_conv_3x3": lambda c, stride: DilConv(c, c, 3, stride, 2, 2),
    "dil_conv_5x5": lambda c, stride: DilConv(c, c, 5, stride, 4, 2),
}


def make_darts_op(name: str, channels: int, stride: int = 1) -> nn.Module:
    """One DARTS operation with ``channels`` in and out, at ``stride`` 1 or 2.

    Raises:
        ValueError: For an unknown operation or stride.
    """
    if stride not in (1, 2):
        raise ValueError(f"DARTS operations have stride 1 or 2, got {stride!r}")
    try:
        factory = _OPS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown DARTS operation {name!r}: choose one of {', '.join(PRIMITIVES)}"
        ) from None
    return factory(channels, stride)


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero each image of ``x`` with probability ``prob`` and scale the others by
    ``1 / (1 - prob)`` (the mask is drawn from torch's global generator of ``x``'s device)."""
    if prob <= 0.0:
        return x
    keep = 1.0 - prob
    mask = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x / keep * mask


def _check_cell(
    pairs: object, concat: object, which: str
) -> tuple[tuple[tuple[str, int], ...], tuple[int, ...]]:
    if isinstance(pairs, str | bytes) or not isinstance(pairs, Sequence):
        raise ValueError(f"genotype.{which}: expected (op_name, input_index) pairs")
    ops: list[tuple[str, int]] = []
    for k, pair in enumerate(pairs):
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(f"genotype.{which}[{k}]: expected an (op_name, input_index) pair")
        name, index = pair[0], pair[1]
        if not isinstance(name, str) or name not in _OPS:
            raise ValueError(
                f"genotype.{which}[{k}]: unknown operation {name!r}: "
                f"choose one of {', '.join(PRIMITIVES)}"
            )
        node = 2 + k // 2
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < node:
            raise ValueError(
                f"genotype.{which}[{k}]: node {node} reads input {index!r}, "
                f"expected an integer in [0, {node})"
            )
        ops.append((name, int(index)))
    if not ops or len(ops) % 2:
        raise ValueError(f"genotype.{which}: {len(ops)} pairs, expected two per intermediate node")
    if isinstance(concat, str | bytes) or not isinstance(concat, Sequence):
        raise ValueError(f"genotype.{which}_concat: expected a sequence of node indices")
    nodes = 2 + len(ops) // 2
    out: list[int] = []
    for i in concat:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < nodes:
            raise ValueError(
                f"genotype.{which}_concat: node {i!r} is not an integer in [0, {nodes})"
            )
        out.append(int(i))
    if not out:
        raise ValueError(f"genotype.{which}_concat: concatenates no node")
    return tuple(ops), tuple(out)


def check_genotype(genotype: GenotypeLike | Any) -> Genotype:
    """``genotype`` checked and as a :class:`cenas.space.Genotype` (tuples throughout).

    ``genotype`` is anything with ``normal``, ``normal_concat``, ``reduce`` and
    ``reduce_concat`` (a :class:`cenas.space.Genotype`, or the DARTS code's namedtuple with
    ``range`` concats). A cell may have any number of intermediate nodes (two pairs each);
    node ``k`` reads inputs ``0 .. k - 1``.

    Raises:
        ValueError: With a one-line message naming the field at fault.
    """
    try:
        fields = (
            genotype.normal,
            genotype.normal_concat,
            genotype.reduce,
            genotype.reduce_concat,
        )
    except AttributeError:
        raise ValueError(
            "genotype: expected normal, normal_concat, reduce and reduce_concat, "
            f"got {type(genotype).__name__}"
        ) from None
    normal, normal_concat = _check_cell(fields[0], fields[1], "normal")
    reduce, reduce_concat = _check_cell(fields[2], fields[3], "reduce")
    return Genotype(normal, normal_concat, reduce, reduce_concat)


class DartsCell(nn.Module):
    """A fixed DARTS cell.

    Args:
        ops: The cell's ``(op_name, input_index)`` pairs, two per intermediate node.
        concat: The nodes concatenated into the output.
        c_prev_prev: Channels of ``c_{k-2}``.
        c_prev: Channels of ``c_{k-1}``.
        channels: ``C`` of this cell (channels of each node).
        reduction: A reduction cell (stride 2 on the inputs' operations).
        reduction_prev: The previous cell reduced (``c_{k-2}`` is at twice the resolution).
    """

    def __init__(
        self,
        ops: Sequence[tuple[str, int]],
        concat: Sequence[int],
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0: nn.Module = (
            FactorizedReduce(c_prev_prev, channels)
            if reduction_prev
            else ReLUConvBN(c_prev_prev, channels, 1, 1, 0)
        )
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0)
        self.indices = tuple(int(index) for _, index in ops)
        self.concat = tuple(int(i) for i in concat)
        self.steps = len(self.indices) // 2
        self.ops = nn.ModuleList(
            make_darts_op(name, channels, 2 if reduction and index < 2 else 1)
            for name, index in ops
        )
        self.out_channels = len(self.concat) * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        drop = self.training and drop_prob > 0.0
        for i in range(self.steps):
            total: torch.Tensor | None = None
            for k in (2 * i, 2 * i + 1):
                op = self.ops[k]
                h = op(states[self.indices[k]])
                if drop and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                total = h if total is None else total + h
            assert total is not None
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    """DARTS's auxiliary classifier for an 8x8 input (after two reductions of 32x32)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),  # 8x8 -> 2x2
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),  # 2x2 -> 1x1
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class DartsNetwork(nn.Module):
    """DARTS's CIFAR evaluation network (``NetworkCIFAR``) for one genotype.

    Args:
        genotype: The normal and reduction cells (see :func:`check_genotype`).
        C: Channels of each node of the first cells (36 at the evaluation size).
        num_classes: Classifier outputs.
        layers: Cells (20 at the evaluation size; at least 2 with the auxiliary head).
        auxiliary: Add the auxiliary classifier after cell ``2 * layers // 3``.
        drop_path_prob: Drop-path probability in training (a trainer changes the attribute
            of that name from epoch to epoch).

    ``forward`` returns ``(logits, aux_logits)``; ``aux_logits`` is ``None`` in evaluation
    mode or without the auxiliary head.

    Raises:
        ValueError: For a malformed genotype or a size that is not positive.
    """

    auxiliary_head: AuxiliaryHeadCIFAR | None

    def __init__(
        self,
        genotype: GenotypeLike | Any,
        C: int = 36,
        num_classes: int = 10,
        layers: int = 20,
        auxiliary: bool = True,
        drop_path_prob: float = 0.0,
    ) -> None:
        super().__init__()
        checked = check_genotype(genotype)
        for name, value in (("C", C), ("num_classes", num_classes), ("layers", layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: must be a positive integer, got {value!r}")
        if auxiliary and layers < 2:
            raise ValueError("layers: the auxiliary head needs at least 2 cells (two reductions)")
        if not 0.0 <= drop_path_prob < 1.0:
            raise ValueError(f"drop_path_prob: must be in [0, 1), got {drop_path_prob!r}")
        self.genotype = checked
        self.C = C
        self.num_classes = num_classes
        self.layers = layers
        self.auxiliary = bool(auxiliary)
        self.drop_path_prob = float(drop_path_prob)
        self.reduction_layers = (layers // 3, 2 * layers // 3)
        self.auxiliary_layer = 2 * layers // 3

        c_stem = 3 * C
        self.stem = nn.Sequential(
            nn.Conv2d(3, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem)
        )
        c_prev_prev, c_prev, c = c_stem, c_stem, C
        cells: list[DartsCell] = []
        reduction_prev = False
        c_aux = 0
        for i in range(layers):
            reduction = i in self.reduction_layers
            if reduction:
                c *= 2
            ops, concat = (
                (checked.reduce, checked.reduce_concat)
                if reduction
                else (checked.normal, checked.normal_concat)
            )
            cell = DartsCell(ops, concat, c_prev_prev, c_prev, c, reduction, reduction_prev)
            cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.out_channels
            if i == self.auxiliary_layer:
                c_aux = c_prev
        self.cells = nn.ModuleList(cells)
        self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        aux: torch.Tensor | None = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.auxiliary_layer and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        out = torch.flatten(self.global_pooling(s1), 1)
        return self.classifier(out), aux

    def count_params(self, auxiliary: bool = False) -> int:
        """Trainable parameters, without the auxiliary head unless ``auxiliary`` (DARTS
        reports sizes without it)."""
        return count_params(self, () if auxiliary else ("auxiliary_head",))


@dataclass(frozen=True)
class DartsSize:
    """A DARTS network size: ``channels`` (``C``), ``layers`` (cells) and the auxiliary head."""

    channels: int
    layers: int
    auxiliary: bool


DARTS_SIZES: dict[str, DartsSize] = {
    "search": DartsSize(channels=16, layers=8, auxiliary=False),
    "eval": DartsSize(channels=36, layers=20, auxiliary=True),
}
"""DARTS's two CIFAR sizes: the search network (8 cells, ``C=16``) and the evaluation
network (20 cells, ``C=36``, auxiliary head)."""


def build_darts(
    genotype: GenotypeLike | Any,
    C: int | None = None,
    layers: int | None = None,
    num_classes: int = 10,
    auxiliary: bool | None = None,
    *,
    size: Literal["search", "eval"] = "eval",
    drop_path_prob: float = 0.0,
) -> DartsNetwork:
    """The DARTS CIFAR network of ``genotype``.

    ``C``, ``layers`` and ``auxiliary`` left ``None`` come from ``size``: ``"eval"`` (20
    cells, ``C=36``, auxiliary head) or ``"search"`` (8 cells, ``C=16``, none).

    Raises:
        ValueError: For a malformed genotype, an unknown size or a size that is not positive.
    """
    if size not in DARTS_SIZES:
        raise ValueError(f"size: must be one of {', '.join(DARTS_SIZES)}, got {size!r}")
    preset = DARTS_SIZES[size]
    return DartsNetwork(
        genotype,
        C=preset.channels if C is None else C,
        num_classes=num_classes,
        layers=preset.layers if layers is None else layers,
        auxiliary=preset.auxiliary if auxiliary is None else auxiliary,
        drop_path_prob=drop_path_prob,
    )


__all__ = [
    "DARTS_SIZES",
    "AuxiliaryHeadCIFAR",
    "DartsCell",
    "DartsNetwork",
    "DartsSize",
    "DilConv",
    "FactorizedReduce",
    "GenotypeLike",
    "SepConv",
    "build_darts",
    "check_genotype",
    "drop_path",
    "make_darts_op",
]
