"""Real training of NAS-Bench-201 cells: NAS-Bench-201's recipe, resumable checkpoints."""

from cenas.train._trainer import (
    CHECKPOINT_NAME,
    TrainConfig,
    TrainProgress,
    TrainResult,
    cosine_factor,
    data_fingerprint,
    resolve_device,
    train,
)

__all__ = [
    "CHECKPOINT_NAME",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "cosine_factor",
    "data_fingerprint",
    "resolve_device",
    "train",
]
