"""Real networks: the NAS-Bench-201 cell network in PyTorch."""

from cenas.nn._nb201 import (
    InferCell,
    NB201Network,
    ReLUConvBN,
    ResidualReduction,
    Zero,
    build_nb201,
    count_flops,
    count_params,
    make_op,
    parse_arch,
)

__all__ = [
    "InferCell",
    "NB201Network",
    "ReLUConvBN",
    "ResidualReduction",
    "Zero",
    "build_nb201",
    "count_flops",
    "count_params",
    "make_op",
    "parse_arch",
]
