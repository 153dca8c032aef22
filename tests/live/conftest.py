"""Fixtures of the live-backend tests: one local Ray instance shared by every Ray test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

RAY_EPOCH_S = 0.2
"""Seconds of one epoch of ``tests.live.runners:epochs`` in the Ray actors."""
RAY_EPOCHS = 7
"""Epochs of one such training: 1.4 s, not a divisor of the Ray tests' step lengths."""


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A new local Ray instance (2 CPUs, no dashboard) for the session, shut down after it.

    ``address="local"`` never joins a cluster that is already running here (another test
    process's, or one from ``ray start``). The actors' runner timings come from the job's
    environment, set here once for all Ray tests.
    """
    ray = pytest.importorskip("ray", reason="the Ray backend needs pip install 'cenas[ray]'")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * 1024 * 1024,
        runtime_env={
            "env_vars": {
                "CENAS_TEST_EPOCH_S": str(RAY_EPOCH_S),
                "CENAS_TEST_EPOCHS": str(RAY_EPOCHS),
            }
        },
    )
    try:
        yield ray
    finally:
        ray.shutdown()
