"""Shared fixtures of the learned-policy tests: one torch thread, short episodes."""

from __future__ import annotations

import pytest
import torch

from cenas.rl import EnvConfig


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def short_config() -> EnvConfig:
    """12-hour episodes on two zones of 2021, small budgets."""
    return EnvConfig(
        zones=("US-CAL-CISO", "GB"),
        years=(2021,),
        hours=12,
        budget_range_g=(1500.0, 4000.0),
        optimizer="random",
        signal="actual",
    )
