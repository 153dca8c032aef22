"""The DARTS CIFAR network: operations, cells, parameter counts, FLOPs, aux head, drop path."""

from __future__ import annotations

import collections
from typing import Any

import pytest
import torch
from torch import nn

import cenas.nn._darts as darts_module
from cenas.nn import (
    DARTS_SIZES,
    DartsNetwork,
    FactorizedReduce,
    Zero,
    build_darts,
    check_genotype,
    count_flops,
    count_params,
    make_darts_op,
)
from cenas.space import DARTS_V1, DARTS_V2, PRIMITIVES, Genotype


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_every_primitive_is_built_in_darts_order() -> None:
    assert tuple(darts_module._OPS) == PRIMITIVES


@pytest.mark.parametrize("name", PRIMITIVES)
@pytest.mark.parametrize("stride", [1, 2])
def test_op_shapes(name: str, stride: int) -> None:
    torch.manual_seed(0)
    op = make_darts_op(name, 6, stride)
    x = torch.randn(2, 6, 16, 16)
    y = op(x)
    side = 16 // stride
    assert tuple(y.shape) == (2, 6, side, side)
    if name == "none":
        assert isinstance(op, Zero) and not y.any()
    if name == "skip_connect":
        assert isinstance(op, nn.Identity if stride == 1 else FactorizedReduce)
        if stride == 1:
            assert torch.equal(y, x)


def test_op_parameter_counts() -> None:
    c = 8
    bn = 2 * c
    expected = {
        "none": 0,
        "max_pool_3x3": 0,
        "avg_pool_3x3": 0,
        "sep_conv_3x3": 2 * (9 * c + c * c + bn),  # twice: depthwise, pointwise, BN
        "sep_conv_5x5": 2 * (25 * c + c * c + bn),
        "dil_conv_3x3": 9 * c + c * c + bn,  # once
        "dil_conv_5x5": 25 * c + c * c + bn,
    }
    for name, n in expected.items():
        assert count_params(make_darts_op(name, c, 1)) == n, name
        assert count_params(make_darts_op(name, c, 2)) == n, name
    assert count_params(make_darts_op("skip_connect", c, 1)) == 0
    # factorized reduction: two 1x1 convs to c/2 channels each, then BN
    assert count_params(make_darts_op("skip_connect", c, 2)) == 2 * c * (c // 2) + bn


def test_op_details() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4) + 1
    # average pooling does not count the padding: a corner averages its 4 pixels
    avg = make_darts_op("avg_pool_3x3", 1, 1)(x)
    assert avg[0, 0, 0, 0] == pytest.approx((1 + 2 + 5 + 6) / 4)
    dil = make_darts_op("dil_conv_5x5", 4, 1)
    conv = next(m for m in dil.modules() if isinstance(m, nn.Conv2d))
    assert conv.dilation == (2, 2) and conv.padding == (4, 4) and conv.groups == 4
    with pytest.raises(ValueError, match="unknown DARTS operation 'conv_7x7'"):
        make_darts_op("conv_7x7", 4)
    with pytest.raises(ValueError, match="stride 1 or 2"):
        make_darts_op("sep_conv_3x3", 4, 3)


def test_darts_v2_has_the_published_3_3m_parameters() -> None:
    net = build_darts(DARTS_V2)  # evaluation size: C=36, 20 cells, auxiliary head
    assert (net.C, net.layers, net.auxiliary) == (36, 20, True)
    without_aux = net.count_params()
    assert without_aux == count_params(net, ("auxiliary_head",)) == 3_349_342
    assert abs(without_aux / 3.3e6 - 1) < 0.02  # the paper's 3.3 M excludes the head
    # AuxiliaryHeadCIFAR on 4 * 144 channels: 1x1 conv, BN, 2x2 conv, BN, linear
    aux = 576 * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * 10 + 10
    assert count_params(net) == net.count_params(auxiliary=True) == without_aux + aux
    assert count_params(build_darts(DARTS_V2, auxiliary=False)) == without_aux
    # DARTS_V1 differs in its cells, hence in its size
    assert build_darts(DARTS_V1).count_params() == 3_169_414


def test_sizes_and_reduction_cells() -> None:
    assert DARTS_SIZES["search"].channels == 16 and DARTS_SIZES["search"].layers == 8
    net = build_darts(DARTS_V2, size="search")
    assert (net.C, net.layers, net.auxiliary_head) == (16, 8, None)
    assert net.reduction_layers == (2, 5) and net.auxiliary_layer == 5
    assert [c.reduction for c in net.cells] == [i in (2, 5) for i in range(8)]
    eval_net = build_darts(DARTS_V2, 8, 5, 100, auxiliary=True)
    assert eval_net.reduction_layers == (1, 3) and eval_net.classifier.out_features == 100
    with pytest.raises(ValueError, match="size: must be one of search, eval"):
        build_darts(DARTS_V2, size="huge")  # type: ignore[arg-type]


def test_search_size_forward_on_a_tiny_batch() -> None:
    torch.manual_seed(0)
    net = build_darts(DARTS_V2, size="search")
    shapes: list[tuple[int, ...]] = []
    for cell in net.cells:
        cell.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    net.train()
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert tuple(logits.shape) == (2, 10) and aux is None
    # 4 nodes concatenated: 4C channels, doubled at each reduction, resolution halved
    assert shapes == [(2, 64, 32, 32)] * 2 + [(2, 128, 16, 16)] * 3 + [(2, 256, 8, 8)] * 3


def test_auxiliary_head_runs_in_training_only() -> None:
    torch.manual_seed(0)
    net = build_darts(DARTS_V2, 4, 5, auxiliary=True)
    x = torch.randn(3, 3, 32, 32)
    net.train()
    _, aux = net(x)
    assert aux is not None and tuple(aux.shape) == (3, 10)
    net.eval()
    logits_eval, aux_eval = net(x)
    assert aux_eval is None and tuple(logits_eval.shape) == (3, 10)


def test_drop_path_in_training_only() -> None:
    torch.manual_seed(0)
    net = build_darts(DARTS_V2, 4, 3, auxiliary=False, drop_path_prob=0.5)
    x = torch.randn(4, 3, 32, 32)
    net.eval()
    a = net(x)[0]
    b = net(x)[0]
    net.drop_path_prob = 0.0
    c = net(x)[0]
    assert torch.equal(a, b) and torch.equal(a, c)  # evaluation never drops
    net.train()
    net.drop_path_prob = 0.0
    d = net(x)[0]
    assert torch.equal(d, net(x)[0])  # no drop path: training forward is deterministic
    net.drop_path_prob = 0.5
    torch.manual_seed(1)
    e = net(x)[0]
    torch.manual_seed(1)
    assert torch.equal(e, net(x)[0])  # the masks come from the global generator
    assert not torch.equal(e, d)


def test_drop_path_skips_identity_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []

    def spy(x: torch.Tensor, prob: float) -> torch.Tensor:
        calls.append(prob)
        return x

    monkeypatch.setattr(darts_module, "drop_path", spy)
    net = build_darts(DARTS_V2, 4, 1, auxiliary=False, drop_path_prob=0.3)
    net.train()
    net(torch.randn(2, 3, 32, 32))
    # one cell, a reduction: DARTS_V2 reduces with 5 pooling edges and 3 skips from node 2,
    # which run at stride 1 and so are identities
    assert calls == [0.3] * 5
    calls.clear()
    net = build_darts(DARTS_V2, 4, 4, auxiliary=False, drop_path_prob=0.3)
    net.train()
    net(torch.randn(2, 3, 32, 32))
    # cells 0 and 3 normal (DARTS_V2 normal: 2 identity skips of 8), 1 and 2 reductions
    assert len(calls) == 6 + 5 + 5 + 6
    net.eval()
    calls.clear()
    net(torch.randn(2, 3, 32, 32))
    assert calls == []


def test_drop_path_statistics() -> None:
    torch.manual_seed(0)
    x = torch.ones(4000, 1, 1, 1)
    y = darts_module.drop_path(x, 0.25)
    kept = y.flatten() != 0
    assert torch.allclose(y.flatten()[kept], torch.full((int(kept.sum()),), 1 / 0.75))
    assert abs(float(kept.float().mean()) - 0.75) < 0.03
    assert darts_module.drop_path(x, 0.0) is x


def test_flops_by_pytorch_counter_match_a_hand_count() -> None:
    """``count_flops`` (PyTorch's FlopCounterMode) against MACs summed by forward hooks."""
    torch.manual_seed(0)
    net = build_darts(DARTS_V2, size="search")
    macs = 0

    def conv_hook(m: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        nonlocal macs
        assert isinstance(m, nn.Conv2d)
        kh, kw = m.kernel_size
        macs += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        nonlocal macs
        assert isinstance(m, nn.Linear)
        macs += out.numel() * m.in_features

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
    flops = count_flops(net)
    assert flops == 2 * macs and macs == 43_444_736
    # evaluation mode: the auxiliary head is never counted
    torch.manual_seed(0)
    with_aux = build_darts(DARTS_V2, 16, 8, auxiliary=True)
    assert count_flops(with_aux) == flops
    assert with_aux.training  # the mode is restored


def test_genotypes_are_checked() -> None:
    legacy = collections.namedtuple("legacy", "normal normal_concat reduce reduce_concat")
    g = legacy(list(DARTS_V2.normal), range(2, 6), list(DARTS_V2.reduce), range(2, 6))
    assert check_genotype(g) == DARTS_V2  # DARTS's own namedtuple, lists and ranges
    assert isinstance(check_genotype(g), Genotype)
    net = DartsNetwork(g, 4, layers=2)
    assert net.genotype == DARTS_V2
    bad_op = DARTS_V2._replace(normal=(("conv_9x9", 0), *DARTS_V2.normal[1:]))
    bad_input = DARTS_V2._replace(reduce=(*DARTS_V2.reduce[:2], ("skip_connect", 3)))
    cases: list[tuple[Any, str]] = [
        (bad_op, "genotype.normal[0]: unknown operation 'conv_9x9'"),
        (bad_input, "genotype.reduce[2]: node 3 reads input 3, expected an integer in [0, 3)"),
        (DARTS_V2._replace(normal=DARTS_V2.normal[:3]), "genotype.normal: 3 pairs"),
        (DARTS_V2._replace(reduce_concat=(2, 6)), "genotype.reduce_concat: node 6"),
        (DARTS_V2._replace(normal_concat=()), "genotype.normal_concat: concatenates no node"),
        ("sep_conv_3x3", "genotype: expected normal, normal_concat"),
    ]
    for genotype, needle in cases:
        with pytest.raises(ValueError) as info:
            DartsNetwork(genotype, 4, layers=2)
        assert needle in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match="auxiliary head needs at least 2 cells"):
        DartsNetwork(DARTS_V2, 4, layers=1, auxiliary=True)
    assert (
        DartsNetwork(DARTS_V2, 4, layers=1, auxiliary=False)(torch.zeros(1, 3, 32, 32))[1] is None
    )
