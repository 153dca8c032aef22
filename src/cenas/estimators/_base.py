"""The interface every live estimator implements.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) splits NAS work into cheap *estimation* of
candidates and expensive *training*. An estimator here runs real PyTorch work on real data
for one cell and reports a score (higher is better), the seconds it took, and what it costs
before the first estimate (a supernet's training, say). The simulator's tabular estimators
(:mod:`cenas.engine.evaluators`) replay tables these produce.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch

from cenas.datasets import ImageSet


@dataclass(frozen=True)
class Cost:
    """What an estimator costs, stated before it runs.

    Attributes:
        kind: ``zero-cost`` (one or a few forward/backward passes at initialisation),
            ``gradient`` (a zero-cost proxy that needs one backward pass: CE-NAS's
            "gradient proxy"), ``low-fidelity`` (short real training), ``one-shot``
            (inherits supernet weights, one validation pass) or ``predictor``.
        passes: Forward(+backward) passes over one batch per estimate, where that is fixed.
        epochs: Training epochs per estimate (low fidelity).
        init: One-time work before the first estimate, in words (``""`` for none).
    """

    kind: str
    passes: int = 0
    epochs: int = 0
    init: str = ""


@dataclass(frozen=True)
class EstimateResult:
    """One estimate of one cell.

    Attributes:
        arch_str: The cell.
        estimator: Name of the estimator.
        score: The estimate; higher means a better cell (an accuracy for low fidelity and
            supernets, a proxy score otherwise).
        seconds: Wall seconds the estimate took, measured.
        device: The device it ran on.
        extra: Estimator-specific details (epochs run, per-proxy seconds, ...).
    """

    arch_str: str
    estimator: str
    score: float
    seconds: float
    device: str
    extra: dict[str, Any] = field(default_factory=dict)


class LiveEstimator(ABC):
    """A real estimator: runs PyTorch work for one cell on real data."""

    name: str = "estimator"
    cost: Cost = Cost(kind="zero-cost")

    def prepare(self, data: ImageSet, device: torch.device) -> float:
        """One-time work before estimates (a supernet's training); returns its seconds."""
        return 0.0

    @abstractmethod
    def estimate(self, arch: str, data: ImageSet, device: torch.device) -> EstimateResult:
        """Estimate one cell (an ``arch_str``) on ``data``."""


__all__ = ["Cost", "EstimateResult", "LiveEstimator"]
