"""JSON-safe copies of result records: the one home of that conversion."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """``value`` with string keys, lists for tuples, numpy scalars as Python numbers and
    non-finite floats as their ``repr`` (``'nan'``, ``'inf'``), which JSON cannot hold."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


__all__ = ["json_safe"]
