"""Pretrained transformer forecasters for the bundled zones.

Each zone's model is the cross-zone transformer (fitted on all bundled zones' 2021-2022 traces,
default :class:`TransformerConfig`) fine-tuned on the zone's own 2021-2022 trace, stored in
``cenas/data/forecast/<ZONE>.npz`` (weights as plain
arrays) plus ``<ZONE>.json`` (configuration, scaling statistics, training facts). Reproduce one
with::

    cenas forecast train --zone US-CAL-CISO --out src/cenas/data/forecast

(or ``python benchmarks/forecast.py --train`` for all zones, sharing one cross-zone model).
"""

from __future__ import annotations

import copy
import platform
import time
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch

from cenas.carbon._trace import CarbonTrace
from cenas.carbon.forecast._base import ForecastError
from cenas.carbon.forecast._transformer import TransformerForecaster

DEFAULT_TRAIN_YEARS: tuple[int, ...] = (2021, 2022)


def pretrained_dir() -> Path:
    """Folder of the shipped pretrained models."""
    return Path(str(files("cenas") / "data" / "forecast"))


def pretrained_zones() -> list[str]:
    """Zones with a shipped pretrained transformer."""
    d = pretrained_dir()
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.json") if p.with_suffix(".npz").is_file())


def _match_zone(zone: str, zones: Sequence[str]) -> str | None:
    for z in zones:
        if z.lower() == zone.strip().lower():
            return z
    return None


def load_pretrained(zone: str, directory: str | Path | None = None) -> TransformerForecaster:
    """The shipped transformer forecaster of a bundled zone (trained on 2021-2022).

    Args:
        zone: Zone name, case-insensitive (e.g. ``US-CAL-CISO``).
        directory: Folder to load from instead of the shipped one.

    Raises:
        ForecastError: If there is no pretrained model for the zone.
    """
    d = pretrained_dir() if directory is None else Path(directory)
    zones = sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []
    name = _match_zone(zone, zones)
    if name is None:
        have = ", ".join(zones) or "none"
        raise ForecastError(f"no pretrained forecaster for zone {zone!r}; available: {have}")
    return TransformerForecaster.load(d / f"{name}.json")


def train_base(
    years: Sequence[int] = DEFAULT_TRAIN_YEARS,
    zones: Sequence[str] | None = None,
    **overrides: Any,
) -> TransformerForecaster:
    """The cross-zone transformer: one model fitted on every bundled zone's years.

    Args:
        years: Bundled years to train on.
        zones: Zones to pool (default: all bundled zones).
        **overrides: :class:`TransformerConfig` field overrides.
    """
    from cenas.carbon import BUNDLED_ZONES, load_bundled

    pool = list(zones or BUNDLED_ZONES)
    traces = [load_bundled(z, list(years)) for z in pool]
    model = TransformerForecaster(**overrides).fit(traces)
    model.meta = {"zones": pool, "years": list(years)}
    return model


def train_zone(
    zone: str,
    years: Sequence[int] = DEFAULT_TRAIN_YEARS,
    out: str | Path | None = None,
    trace: CarbonTrace | None = None,
    base: TransformerForecaster | None = None,
    **overrides: Any,
) -> TransformerForecaster:
    """Train a zone's transformer as the shipped ones were, and optionally save it.

    A bundled zone's model is the cross-zone model (:func:`train_base`, fitted on all bundled
    zones over ``years``) fine-tuned on the zone's own ``years``; both steps are seeded, so
    the result is reproducible on CPU. A user ``trace`` is fitted on directly.

    Args:
        zone: Bundled zone, also the file name (``<zone>.npz``/``<zone>.json``).
        years: Bundled years to train on.
        out: Folder to write the model to (nothing is written if ``None``).
        trace: Fit on this trace alone instead of the bundled data.
        base: A cross-zone model to fine-tune (default: train one now).
        **overrides: :class:`TransformerConfig` field overrides.

    Returns:
        The fitted model; ``report.train_seconds`` is the total training time.
    """
    t0 = time.perf_counter()
    if trace is None:
        from cenas.carbon import load_bundled

        trace = load_bundled(zone, list(years))
        zone = trace.zone
        if base is None:
            base = train_base(years, **overrides)
        base_seconds = base.report.train_seconds
        model = copy.deepcopy(base)
        model.fine_tune(trace)
        how = f"cross-zone {'+'.join(base.meta.get('zones', []))} then fine-tuned on {zone}"
    else:
        model = TransformerForecaster(**overrides).fit(trace)
        base_seconds = 0.0
        how = f"fitted on {trace.source or zone}"
    model.meta = {
        "zone": zone,
        "source": trace.source,
        "training": how,
        "train_from": trace.start.isoformat(),
        "train_until": trace.end.isoformat(),
        "kind": trace.kind,
        "base_train_seconds": round(base_seconds, 1),
        "zone_train_seconds": round(model.report.train_seconds - base_seconds, 1),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "command": f"cenas forecast train --zone {zone} --out src/cenas/data/forecast",
    }
    if out is not None:
        model.save(Path(out) / f"{zone}.json")
    return model


__all__ = [
    "DEFAULT_TRAIN_YEARS",
    "load_pretrained",
    "pretrained_dir",
    "pretrained_zones",
    "train_base",
    "train_zone",
]
