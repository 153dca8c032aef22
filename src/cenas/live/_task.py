"""The live NAS-Bench-201 task: objectives measured by real jobs, no table and no HV_max.

A live search trains cells for real (:mod:`cenas.train`) on the user's data, so its
objectives are what a job measures: validation accuracy (maximised) and the network's
parameter count in millions (minimised), in minimisation form ``(-accuracy %, params M)``
like every array below the report. Estimates use the same form with the estimator's score
(higher is better) in place of the accuracy.

Reference point: ``(0 %, 1.01 x the parameters of the largest cell)`` at the configured size
(the all-3×3-convolution cell), so every cell lies inside it; hypervolume is in natural
units (accuracy % × million parameters). There is no ``hv_max``: the engine reports the
share of the reference box the front dominates instead.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cenas.optimize.hypervolume import hypervolume
from cenas.space import NB201Space

LARGEST_CELL = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)


@functools.lru_cache(maxsize=32)
def _params(arch_str: str, channels: int, cells: int, classes: int) -> int:
    from cenas.nn import build_nb201, count_params

    return count_params(build_nb201(arch_str, channels, cells, classes))


class _LiveTask:
    """What every live task shares: measured objectives ``(-val accuracy %, params M)``, a
    reference point at 0 % and 1.01 x the largest network's parameters, no ``hv_max``."""

    objective_names = ("val_accuracy", "params_m")
    directions = ("max", "min")
    n_objectives = 2
    hv_max: float | None = None

    def _set_reference(self, largest_params: int) -> None:
        self.ref_point = np.array([0.0, 1.01 * largest_params / 1e6])
        self.box_volume = float(100.0 * self.ref_point[1])
        """Hypervolume of the whole reference box (100 % accuracy at zero parameters)."""

    def hypervolume(self, y: ArrayLike) -> float:
        """Hypervolume of minimisation-form objectives against :attr:`ref_point`."""
        return hypervolume(np.atleast_2d(np.asarray(y, dtype=np.float64)), self.ref_point)

    def to_natural(self, y: ArrayLike) -> NDArray[np.float64]:
        """``(-acc, params)`` to ``(acc, params)``."""
        out = np.array(y, dtype=np.float64, copy=True)
        out[..., 0] = -out[..., 0]
        return out


class LiveNB201Task(_LiveTask):
    """NAS-Bench-201 cells trained for real: objectives ``(-val accuracy %, params M)``.

    Args:
        channels: ``C`` of the trained networks.
        cells_per_stage: ``N`` of the trained networks.
        num_classes: Classes of the data set.
    """

    def __init__(self, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10):
        self.space = NB201Space()
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.num_classes = num_classes
        self._set_reference(_params(LARGEST_CELL, channels, cells_per_stage, num_classes))

    @property
    def name(self) -> str:
        """Task name, as stored in a study."""
        return f"nb201-live-c{self.channels}-n{self.cells_per_stage}"

    def arch_str(self, index: int) -> str:
        """The cell of enumeration ``index``."""
        return self.space.to_str(self.space.from_index(int(index)))

    def params_m(self, index: int) -> float:
        """Parameters of cell ``index``'s network, in millions."""
        return (
            _params(self.arch_str(index), self.channels, self.cells_per_stage, self.num_classes)
            / 1e6
        )


LARGEST_GENOTYPE = (
    "Genotype(normal=[('sep_conv_5x5', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 0), "
    "('sep_conv_5x5', 1), ('sep_conv_5x5', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 0), "
    "('sep_conv_5x5', 1)], normal_concat=[2, 3, 4, 5], reduce=[('sep_conv_5x5', 0), "
    "('sep_conv_5x5', 1), ('sep_conv_5x5', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 0), "
    "('sep_conv_5x5', 1), ('sep_conv_5x5', 0), ('sep_conv_5x5', 1)], "
    "reduce_concat=[2, 3, 4, 5])"
)
"""Every pair a 5×5 separable convolution: the most parameters a DARTS cell can hold."""


@functools.lru_cache(maxsize=4096)
def _darts_params(genotype: str, channels: int, layers: int, classes: int) -> int:
    from cenas.nn import build_darts
    from cenas.space import parse_genotype

    net = build_darts(parse_genotype(genotype), channels, layers, classes, auxiliary=False)
    return int(net.count_params())


class LiveDartsTask(_LiveTask):
    """DARTS cells (Liu, Simonyan, Yang, ICLR 2019) trained for real, searched over a
    seeded pool: objectives ``(-val accuracy %, params M)``, params without the auxiliary
    head (as DARTS reports them).

    Reference point ``(0 %, 1.01 x the parameters of the all-5×5-separable-convolution
    genotype)`` at the configured size; no ``hv_max``.

    Args:
        channels: ``C`` of the trained networks.
        layers: Cells of the trained networks.
        num_classes: Classes of the data set.
        pool_size: Genotypes in the candidate pool (:class:`cenas.space.PooledSpace`).
        seed: Seed of the pool.
    """

    def __init__(
        self,
        channels: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        pool_size: int = 5000,
        seed: int = 0,
    ) -> None:
        from cenas.space import DartsSpace, PooledSpace

        self.space: PooledSpace = PooledSpace(DartsSpace(), pool_size, seed)  # type: ignore[type-arg]
        self.channels = channels
        self.layers = layers
        self.num_classes = num_classes
        self._set_reference(_darts_params(LARGEST_GENOTYPE, channels, layers, num_classes))

    @property
    def name(self) -> str:
        """Task name, as stored in a study."""
        return f"darts-live-c{self.channels}-l{self.layers}"

    def arch_str(self, index: int) -> str:
        """The genotype at pool position ``index``, printed as DARTS prints it."""
        return self.space.to_str(self.space.from_index(int(index)))

    def encode(self, index: int) -> object:
        """The JSON encoding of the genotype at pool position ``index``."""
        return self.space.encode(self.space.from_index(int(index)))

    def params_m(self, index: int) -> float:
        """Parameters (without the auxiliary head) of genotype ``index``, in millions."""
        return (
            _darts_params(self.arch_str(index), self.channels, self.layers, self.num_classes) / 1e6
        )


__all__ = ["LiveDartsTask", "LiveNB201Task"]
