"""Optimisers by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpy.typing import ArrayLike

from cenas.errors import ConfigError
from cenas.optimize._lamoo import LaMOO
from cenas.optimize._nsga2 import NSGA2
from cenas.optimize._qnehvi import QNEHVI
from cenas.optimize.base import Optimizer, RandomSearch
from cenas.space import NB201Space


def _lamoo_qnehvi(space: NB201Space, ref_point: ArrayLike, seed: int, **kwargs: Any) -> LaMOO:
    kwargs.setdefault("sampler", "qlognehvi")
    opt = LaMOO(space, ref_point, seed, **kwargs)
    opt.name = "lamoo-qnehvi"
    return opt


_FACTORIES: dict[str, Callable[..., Optimizer]] = {
    "lamoo": LaMOO,
    "lamoo-qnehvi": _lamoo_qnehvi,
    "random": RandomSearch,
    "nsga2": NSGA2,
    "qnehvi": QNEHVI,
}

OPTIMIZERS: tuple[str, ...] = tuple(_FACTORIES)
"""Names accepted by :func:`make_optimizer`."""


def make_optimizer(
    name: str, space: NB201Space, ref_point: ArrayLike, seed: int = 0, **kwargs: Any
) -> Optimizer:
    """Build an optimiser by name.

    Names: ``lamoo`` (LaMOO, uniform sampling in the selected region), ``lamoo-qnehvi``
    (LaMOO with qLogNEHVI inside the region), ``random``, ``nsga2`` (pymoo) and ``qnehvi``
    (qLogNEHVI over the whole space).

    Args:
        name: One of :data:`OPTIMIZERS` (case-insensitive).
        space: The search space.
        ref_point: Reference point (minimisation form).
        seed: Seed.
        **kwargs: Options of the optimiser's constructor.

    Returns:
        A fresh optimiser.

    Raises:
        ConfigError: For an unknown name or invalid options.
    """
    key = name.strip().lower()
    if key not in _FACTORIES:
        raise ConfigError(f"unknown optimizer {name!r}: expected one of {', '.join(OPTIMIZERS)}")
    if key == "nsga2" and not NSGA2.supports(space):
        raise ConfigError(
            f"optimizer 'nsga2': the {getattr(space, 'name', space)} space has neither fixed "
            f"edges (NAS-Bench-201) nor indices with neighbours; wrap it in a "
            f"cenas.space.PooledSpace"
        )
    try:
        return _FACTORIES[key](space, ref_point, seed, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"optimizer {key!r}: {exc}") from exc


__all__ = ["OPTIMIZERS", "make_optimizer"]
