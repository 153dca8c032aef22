"""Job runners for live-backend tests: no torch, deterministic, fast.

Each takes ``(WorkItem, WorkerContext)`` like :func:`cenas.live.run_nb201_job`. A fake
objective is derived from the architecture index, so results can be checked exactly.
"""

from __future__ import annotations

import json
import os
import time

from cenas.live import JobOutcome, WorkerContext, WorkItem

EPOCH_S = float(os.environ.get("CENAS_TEST_EPOCH_S", "0.05"))
EPOCHS = int(os.environ.get("CENAS_TEST_EPOCHS", "4"))


def fake_objectives(arch: int) -> list[float]:
    """A deterministic objective pair of an architecture index."""
    return [-float(arch % 97), float(arch % 13) / 10.0]


def noop(item: WorkItem, ctx: WorkerContext) -> JobOutcome:
    """Finish at once (scheduler-overhead measurements)."""
    return JobOutcome("completed", fake_objectives(item.arch))


def epochs(item: WorkItem, ctx: WorkerContext) -> JobOutcome:
    """A training of ``EPOCHS`` epochs of ``EPOCH_S`` seconds, checkpointed after each one
    and pausing at an epoch end when asked; an estimate takes one epoch."""
    if item.kind != "train":
        time.sleep(EPOCH_S)
        return JobOutcome("completed", fake_objectives(item.arch))
    folder = ctx.checkpoint_dir(item.job_id)
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = folder / "state.json"
    state = json.loads(ckpt.read_text()) if ckpt.exists() else {"epochs": 0, "sessions": 0}
    resumed_from = state["epochs"]
    state["sessions"] += 1
    while state["epochs"] < EPOCHS:
        time.sleep(EPOCH_S)
        state["epochs"] += 1
        ckpt.write_text(json.dumps(state))
        if state["epochs"] < EPOCHS and ctx.should_pause():
            return JobOutcome("paused", detail={"epochs": state["epochs"]})
    detail = {
        "epochs": state["epochs"],
        "sessions": state["sessions"],
        "resumed_from": resumed_from,
    }
    return JobOutcome("completed", fake_objectives(item.arch), detail=detail)


def raise_first_attempt(item: WorkItem, ctx: WorkerContext) -> JobOutcome:
    """Trainings raise on their first attempt, then succeed."""
    if item.kind == "train" and item.attempt == 0:
        raise RuntimeError(f"injected failure of job {item.job_id}")
    return JobOutcome("completed", fake_objectives(item.arch))


def always_raise_train(item: WorkItem, ctx: WorkerContext) -> JobOutcome:
    """Every training attempt raises (estimates succeed)."""
    if item.kind == "train":
        raise MemoryError("CUDA out of memory (injected)")
    return JobOutcome("completed", fake_objectives(item.arch))
