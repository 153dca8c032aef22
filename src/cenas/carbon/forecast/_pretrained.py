"""Pretrained transformer forecasters for the bundled zones.

Each zone's model is trained on its bundled 2021-2022 trace with the default
:class:`TransformerConfig` and stored in ``cenas/data/forecast/<ZONE>.npz`` (weights as plain
arrays) plus ``<ZONE>.json`` (configuration, scaling statistics, training facts). Reproduce one
with::

    cenas forecast train --zone US-CAL-CISO --out src/cenas/data/forecast

(or ``python benchmarks/forecast.py --train`` for all zones).
"""

from __future__ import annotations

import platform
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


def train_zone(
    zone: str,
    years: Sequence[int] = DEFAULT_TRAIN_YEARS,
    out: str | Path | None = None,
    trace: CarbonTrace | None = None,
    **overrides: Any,
) -> TransformerForecaster:
    """Train the transformer of a zone as the shipped one was trained, and optionally save it.

    Args:
        zone: Bundled zone (ignored for loading when ``trace`` is given, but used as file name).
        years: Bundled years to train on.
        out: Folder to write ``<zone>.npz``/``<zone>.json`` to (nothing is written if ``None``).
        trace: Train on this trace instead of the bundled years.
        **overrides: :class:`TransformerConfig` field overrides.

    Returns:
        The fitted model.
    """
    if trace is None:
        from cenas.carbon import load_bundled

        trace = load_bundled(zone, list(years))
        zone = trace.zone
    model = TransformerForecaster(**overrides).fit(trace)
    model.meta = {
        "zone": zone,
        "source": trace.source,
        "train_from": trace.start.isoformat(),
        "train_until": trace.end.isoformat(),
        "kind": trace.kind,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "command": f"cenas forecast train --zone {zone} --out <dir>",
    }
    if out is not None:
        model.save(Path(out) / f"{zone}.json")
    return model


__all__ = [
    "DEFAULT_TRAIN_YEARS",
    "load_pretrained",
    "pretrained_dir",
    "pretrained_zones",
    "train_zone",
]
