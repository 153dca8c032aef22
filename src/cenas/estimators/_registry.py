"""Live estimators by name: ``cenas estimate --estimator NAME`` and the search's live mode.

Names: ``zero-cost:<proxy>`` for each proxy of :data:`cenas.estimators.PROXIES`,
``zero-cost:vote`` (:class:`cenas.estimators.VoteEstimator`), ``low-fidelity`` (short real
training), ``one-shot`` and ``few-shot`` (weights inherited from a trained supernet). The
last three live in their own modules and are imported only when asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from cenas.errors import CenasError
from cenas.estimators._base import LiveEstimator
from cenas.estimators._proxies import PROXIES, VoteEstimator, ZeroCostEstimator

_LAZY: dict[str, tuple[str, str]] = {
    "low-fidelity": ("cenas.estimators._low_fidelity", "LowFidelityEstimator"),
    "one-shot": ("cenas.estimators._supernet", "OneShotEstimator"),
    "few-shot": ("cenas.estimators._supernet", "FewShotEstimator"),
}

LIVE_ESTIMATORS: tuple[str, ...] = (
    *(f"zero-cost:{p}" for p in PROXIES),
    "zero-cost:vote",
    *_LAZY,
)
"""Every name :func:`make_live_estimator` accepts."""


def make_live_estimator(name: str, **opts: Any) -> LiveEstimator:
    """Build the live estimator called ``name``; ``opts`` go to its constructor.

    Raises:
        CenasError: For an unknown name, or one whose module this installation lacks.
    """
    if name.startswith("zero-cost:"):
        proxy = name.split(":", 1)[1]
        if proxy == "vote":
            return VoteEstimator(**opts)
        if proxy in PROXIES:
            return ZeroCostEstimator(proxy, **opts)
    elif name in _LAZY:
        module_name, class_name = _LAZY[name]
        if importlib.util.find_spec(module_name) is None:
            raise CenasError(f"estimator {name!r}: not available in this installation")
        cls = getattr(importlib.import_module(module_name), class_name, None)
        if cls is None:
            raise CenasError(f"estimator {name!r}: {module_name} has no {class_name}")
        estimator = cls(**opts)
        assert isinstance(estimator, LiveEstimator)
        return estimator
    raise CenasError(f"--estimator: unknown {name!r}; choose one of {', '.join(LIVE_ESTIMATORS)}")


__all__ = ["LIVE_ESTIMATORS", "make_live_estimator"]
