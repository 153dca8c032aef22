"""Image data: CIFAR-10/100 from local copies, the packaged subset, the NB201 pipeline."""

from cenas.datasets._cifar import PACKAGED_SUBSET, load_cifar, packaged_subset_path
from cenas.datasets._types import (
    CIFAR_MEAN,
    CIFAR_STD,
    BatchLoader,
    ImageSet,
    augment,
    cutout,
    normalize,
    train_val_split,
)

__all__ = [
    "CIFAR_MEAN",
    "CIFAR_STD",
    "PACKAGED_SUBSET",
    "BatchLoader",
    "ImageSet",
    "augment",
    "cutout",
    "load_cifar",
    "normalize",
    "packaged_subset_path",
    "train_val_split",
]
