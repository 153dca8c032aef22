"""Layers and measurements shared by the cell networks of every search space.

``ReLUConvBN`` and ``Zero`` are the two operations NAS-Bench-201 (Dong & Yang, ICLR 2020)
and DARTS (Liu, Simonyan, Yang, ICLR 2019) define alike: a ReLU, a bias-free convolution and
an affine batch norm; and a zero tensor (DARTS subsamples it at stride 2). Parameters are
counted as both papers count them (trainable tensors, no batch-norm running statistics) and
FLOPs by PyTorch's own ``torch.utils.flop_counter``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ReLUConvBN(nn.Sequential):
    """ReLU, a bias-free convolution, then an affine batch norm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """The ``none`` operation: a zero tensor of the input's shape, or of every ``stride``-th
    row and column of it (DARTS's ``none`` in a reduction cell).

    Args:
        stride: Spatial stride (1 keeps the input's shape).
    """

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = int(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def count_params(model: nn.Module, exclude: Sequence[str] = ()) -> int:
    """Trainable parameters (NAS-Bench-201 and DARTS count these, not batch-norm running stats).

    Args:
        model: The network.
        exclude: Names of submodules whose parameters are not counted (e.g.
            ``("auxiliary_head",)``: DARTS reports its networks' sizes without it).
    """
    prefixes = tuple(f"{name}." for name in exclude)
    return sum(
        p.numel()
        for name, p in model.named_parameters()
        if p.requires_grad and not name.startswith(prefixes)
    )


def count_flops(model: nn.Module, input_size: tuple[int, int, int] = (3, 32, 32)) -> int:
    """FLOPs of one forward pass on one image in evaluation mode, by PyTorch's
    ``FlopCounterMode``.

    Any network whose ``forward`` takes one batch works (whatever it returns). Evaluation
    mode leaves out what runs in training only (DARTS's auxiliary head and drop path).
    PyTorch counts a multiply-add as two FLOPs; NAS-Bench-201 and DARTS report multiply-adds
    (half this number).
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.zeros((1, *input_size), device=device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops())


__all__ = ["ReLUConvBN", "Zero", "count_flops", "count_params"]
