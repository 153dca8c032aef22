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


class LiveNB201Task:
    """NAS-Bench-201 cells trained for real: objectives ``(-val accuracy %, params M)``.

    Args:
        channels: ``C`` of the trained networks.
        cells_per_stage: ``N`` of the trained networks.
        num_classes: Classes of the data set.
    """

    objective_names = ("val_accuracy", "params_m")
    directions = ("max", "min")
    n_objectives = 2
    hv_max: float | None = None

    def __init__(self, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10):
        self.space = NB201Space()
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.num_classes = num_classes
        largest = _params(LARGEST_CELL, channels, cells_per_stage, num_classes) / 1e6
        self.ref_point = np.array([0.0, 1.01 * largest])
        self.box_volume = float(100.0 * self.ref_point[1])
        """Hypervolume of the whole reference box (100 % accuracy at zero parameters)."""

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

    def hypervolume(self, y: ArrayLike) -> float:
        """Hypervolume of minimisation-form objectives against :attr:`ref_point`."""
        return hypervolume(np.atleast_2d(np.asarray(y, dtype=np.float64)), self.ref_point)

    def to_natural(self, y: ArrayLike) -> NDArray[np.float64]:
        """``(-acc, params)`` to ``(acc, params)``."""
        out = np.array(y, dtype=np.float64, copy=True)
        out[..., 0] = -out[..., 0]
        return out


__all__ = ["LiveNB201Task"]
