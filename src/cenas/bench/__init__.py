"""Tabular NAS benchmark tasks with true objectives, costs, reference points and HV_max."""

from __future__ import annotations

from cenas.bench._nb201 import (
    DATASETS,
    DEVICES,
    NB201Task,
    TrainingCostModel,
    get_task,
    load_nb201_table,
    parse_task_name,
)

DEFAULT_TASK = "nb201-cifar10-fpga"

__all__ = [
    "DATASETS",
    "DEFAULT_TASK",
    "DEVICES",
    "NB201Task",
    "TrainingCostModel",
    "get_task",
    "load_nb201_table",
    "parse_task_name",
]
