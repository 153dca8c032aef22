"""The observation a learned allocation policy sees: a fixed-size vector built from a State.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024), whose RL allocator observes the
search progress, the carbon intensity and its forecast. Unlike the reference code, the
vector carries the hypervolume *after* the previous step (not a stale copy) and sample
counts divided by a fixed normaliser (not raw counts), so it keeps one scale whatever the
episode length.

Layout (all float32, :data:`FEATURES` with ``K = horizon`` forecast slots):

==================  ==============================================================
``time_left``        fraction of the time budget left, [0, 1]
``carbon_left``      fraction of the carbon budget left, [0, 1]
``intensity``        this hour's intensity / the trace maximum, [0, 1]
``forecast_1..K``    the next K hours' intensity / the trace maximum; hours past
                     the end of the forecast repeat its last value (or, with no
                     forecast at all, this hour's intensity)
``percentile``       share of the next 24 forecast hours cleaner than now, [0, 1]
``hv_ratio``         hypervolume of the trained cells / HV_max after the last step
``hv_gap``           ``-log10(1 - hv_ratio) / 3``: resolves the last few percent
``n_trained``        trained cells / (n_gpus * n_steps)
``n_estimated``      estimated cells / (n_gpus * n_steps)
``queue``            queued candidates / queue capacity, [0, 1]
``paused``           paused trainings / n_gpus, [0, 1]
``released``         (release observations only) GPUs released in the previous step /
                     n_gpus, [0, 1]
``release_delay``    (release observations only) the study's release delay in hours
                     (``release_delay_s / 3600``), clipped to [0, 1]
==================  ==============================================================

The last two entries exist only in a *release* observation (``release=True``), the one
the policies that release GPUs (``discrete-release``, ``continuous-release``) see: a GPU
released in the previous step that works again first spends the release delay, so what
returning costs depends on both. Policies of the two original kinds keep the original
layout; a stored policy records its layout (:func:`obs_spec`'s ``features``) and is run
with that layout.

Intensities are divided by the signal's ``intensity_scale`` (the maximum of the trace the
window is cut from). Training episodes cut their window from one bundled year, while a
study on a bundled zone loads all its years, whose maximum can be up to ~15 % higher
(US-MIDA-PJM 2023: 424 vs 493 g/kWh); the intensity percentile, the feature the policy
leans on, does not depend on the scale.

The count normaliser ``n_gpus * n_steps`` is one cell per GPU-hour over the whole time
budget: a NAS-Bench-201 training takes about an hour of GPU time, so the trained share
stays near [0, 1.2] for any pool size and episode length.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cenas.policy.base import State

DEFAULT_HORIZON = 24
"""Forecast hours in the observation (the daily cycle)."""

PERCENTILE_HOURS = 24
"""Coming hours the intensity percentile compares with."""

HV_GAP_SCALE = 3.0
"""``-log10(1 - hv_ratio)`` is divided by this (a gap of 0.1 % maps to 1)."""


RELEASE_FEATURES: tuple[str, ...] = ("released", "release_delay")
"""Entries a release observation appends."""

RELEASE_DELAY_SCALE_S = 3600.0
"""The release delay is divided by this (one hour, the default step)."""


def feature_names(horizon: int = DEFAULT_HORIZON, release: bool = False) -> list[str]:
    """Names of the observation's entries, in order (``release``: with
    :data:`RELEASE_FEATURES`)."""
    return [
        "time_left",
        "carbon_left",
        "intensity",
        *(f"forecast_{i + 1}" for i in range(horizon)),
        "percentile",
        "hv_ratio",
        "hv_gap",
        "n_trained",
        "n_estimated",
        "queue",
        "paused",
        *(RELEASE_FEATURES if release else ()),
    ]


FEATURES: tuple[str, ...] = tuple(feature_names())
"""Feature names of the default observation."""


def obs_size(horizon: int = DEFAULT_HORIZON, release: bool = False) -> int:
    """Length of the observation vector."""
    return len(feature_names(horizon, release))


def obs_bounds(
    horizon: int = DEFAULT_HORIZON, release: bool = False
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Lower and upper bounds of each entry (the gymnasium ``Box``).

    Counts are bounded loosely (a GPU-hour can train several small cells); everything
    else is a fraction in [0, 1].
    """
    n = obs_size(horizon, release)
    low = np.zeros(n, dtype=np.float32)
    high = np.ones(n, dtype=np.float32)
    names = feature_names(horizon, release)
    for name in ("n_trained", "n_estimated"):
        high[names.index(name)] = 100.0
    return low, high


def hv_gap(hv_ratio: float) -> float:
    """``-log10(1 - hv_ratio) / 3``, clipped to [0, 1]."""
    gap = max(1.0 - hv_ratio, 10.0**-HV_GAP_SCALE)
    return float(min(max(-math.log10(gap) / HV_GAP_SCALE, 0.0), 1.0))


def observation(
    state: State, horizon: int = DEFAULT_HORIZON, release: bool = False
) -> NDArray[np.float32]:
    """Build the observation vector of ``state`` (see the module docstring for the layout).

    Args:
        state: What the engine shows the policy before a step.
        horizon: Forecast hours to include.
        release: Append :data:`RELEASE_FEATURES` (the release observation).

    Returns:
        A float32 vector of length :func:`obs_size`, inside :func:`obs_bounds`.
    """
    scale = max(float(state.intensity_scale), 1e-9)
    now = float(state.intensity)
    coming = np.asarray(state.forecast, dtype=np.float64)[:horizon]
    fc = np.empty(horizon, dtype=np.float64)
    fc[: coming.size] = coming
    fc[coming.size :] = coming[-1] if coming.size else now
    norm = float(max(state.n_gpus * state.n_steps, 1))
    hv_ratio = float(min(max(state.hv_ratio, 0.0), 1.0))
    values = [
        state.time_left,
        state.carbon_left,
        now / scale,
        *(fc / scale),
        state.intensity_percentile(PERCENTILE_HOURS),
        hv_ratio,
        hv_gap(hv_ratio),
        state.n_trained / norm,
        state.n_estimated / norm,
        state.queue_len / max(state.queue_capacity, 1),
        state.n_paused_train / max(state.n_gpus, 1),
    ]
    if release:
        values += [
            state.n_released / max(state.n_gpus, 1),
            state.release_delay_s / RELEASE_DELAY_SCALE_S,
        ]
    low, high = obs_bounds(horizon, release)
    return np.clip(np.asarray(values, dtype=np.float32), low, high)


def obs_spec(horizon: int = DEFAULT_HORIZON, release: bool = False) -> dict[str, Any]:
    """JSON-ready description of the observation (stored next to shipped weights).

    The release observation adds ``release_delay_scale_s``; the original layout's spec is
    unchanged, so the policies stored before it are written back identically.
    """
    spec: dict[str, Any] = {
        "horizon": horizon,
        "percentile_hours": PERCENTILE_HOURS,
        "hv_gap_scale": HV_GAP_SCALE,
        "count_normaliser": "n_gpus * n_steps",
        "features": feature_names(horizon, release),
    }
    if release:
        spec["release_delay_scale_s"] = RELEASE_DELAY_SCALE_S
    return spec


def spec_has_release(spec: dict[str, Any]) -> bool:
    """Whether a stored observation spec is the release layout (its features say so)."""
    features = spec.get("features", [])
    return isinstance(features, list) and all(f in features for f in RELEASE_FEATURES)


__all__ = [
    "DEFAULT_HORIZON",
    "FEATURES",
    "RELEASE_FEATURES",
    "feature_names",
    "hv_gap",
    "obs_bounds",
    "obs_size",
    "obs_spec",
    "observation",
    "spec_has_release",
]
