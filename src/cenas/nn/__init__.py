"""Real networks: the NAS-Bench-201 cell network and the DARTS CIFAR network in PyTorch."""

from cenas.nn._common import ReLUConvBN, Zero, count_flops, count_params
from cenas.nn._darts import (
    DARTS_SIZES,
    AuxiliaryHeadCIFAR,
    DartsCell,
    DartsNetwork,
    DartsSize,
    DilConv,
    FactorizedReduce,
    GenotypeLike,
    SepConv,
    build_darts,
    check_genotype,
    drop_path,
    make_darts_op,
)
from cenas.nn._nb201 import (
    InferCell,
    NB201Network,
    ResidualReduction,
    build_nb201,
    make_op,
    parse_arch,
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
    "InferCell",
    "NB201Network",
    "ReLUConvBN",
    "ResidualReduction",
    "SepConv",
    "Zero",
    "build_darts",
    "build_nb201",
    "check_genotype",
    "count_flops",
    "count_params",
    "drop_path",
    "make_darts_op",
    "make_op",
    "parse_arch",
]
