"""Forecasters by name, for the CLI and benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cenas.carbon.forecast._base import Forecaster, ForecastError
from cenas.carbon.forecast._baselines import (
    ETS,
    SARIMA,
    LagRegression,
    PreviousDay,
    SameHourLastWeek,
)
from cenas.carbon.forecast._transformer import TransformerForecaster

_FACTORIES: dict[str, Callable[..., Forecaster]] = {
    "transformer": TransformerForecaster,
    "previous-day": PreviousDay,
    "last-week": SameHourLastWeek,
    "ets": ETS,
    "sarima": SARIMA,
    "lag-regression": LagRegression,
}


def available_forecasters() -> list[str]:
    """Names accepted by :func:`make_forecaster`."""
    return list(_FACTORIES)


def make_forecaster(name: str, **kw: Any) -> Forecaster:
    """A new, unfitted forecaster by registry name.

    Args:
        name: One of :func:`available_forecasters` (``transformer``, ``previous-day``,
            ``last-week``, ``ets``, ``sarima``, ``lag-regression``).
        **kw: Constructor arguments of the model.

    Raises:
        ForecastError: If the name or an argument is unknown.
    """
    key = name.strip().lower().replace("_", "-")
    if key not in _FACTORIES:
        raise ForecastError(
            f"unknown forecaster {name!r}; choose from {', '.join(available_forecasters())}"
        )
    try:
        return _FACTORIES[key](**kw)
    except TypeError as exc:
        raise ForecastError(f"forecaster {key}: {str(exc).splitlines()[0]}") from None


__all__ = ["available_forecasters", "make_forecaster"]
