"""Real training: NAS-Bench-201 cells and DARTS genotypes with their papers' recipes,
resumable checkpoints."""

from cenas.train._trainer import (
    CHECKPOINT_NAME,
    LR_SCHEDULES,
    DartsTrainConfig,
    TrainConfig,
    TrainProgress,
    TrainResult,
    cosine_factor,
    data_fingerprint,
    resolve_device,
    train,
    train_darts,
)

__all__ = [
    "CHECKPOINT_NAME",
    "LR_SCHEDULES",
    "DartsTrainConfig",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "cosine_factor",
    "data_fingerprint",
    "resolve_device",
    "train",
    "train_darts",
]
