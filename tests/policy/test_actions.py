"""Action -> GPU-count mapping of both action spaces."""

from __future__ import annotations

import numpy as np
import pytest

from cenas.errors import ConfigError
from cenas.policy.rl import action_to_gpus


def test_discrete_levels_on_eight_gpus() -> None:
    got = [action_to_gpus(i, "discrete", 8, 10) for i in range(10)]
    # share i/9 of 8 GPUs, rounded half up: 0, .89, 1.78, 2.67, 3.56, 4.44, 5.33, ...
    assert got == [0, 1, 2, 3, 4, 4, 5, 6, 7, 8]


def test_discrete_accepts_numpy_and_clips() -> None:
    assert action_to_gpus(np.array(9), "discrete", 8) == 8
    assert action_to_gpus(np.array([3]), "discrete", 8) == 3
    assert action_to_gpus(42, "discrete", 8) == 8
    assert action_to_gpus(-1, "discrete", 8) == 0
    assert [action_to_gpus(i, "discrete", 4, 3) for i in range(3)] == [0, 2, 4]


@pytest.mark.parametrize(
    ("share", "gpus"),
    [(0.0, 0), (1.0, 8), (0.5, 4), (0.0625, 1), (0.06, 0), (0.99, 8), (-3.0, 0), (7.0, 8)],
)
def test_continuous_share(share: float, gpus: int) -> None:
    assert action_to_gpus(np.array([share], dtype=np.float32), "continuous", 8) == gpus
    assert action_to_gpus(share, "continuous", 8) == gpus


def test_unknown_kind() -> None:
    with pytest.raises(ConfigError):
        action_to_gpus(0, "binary", 8)
