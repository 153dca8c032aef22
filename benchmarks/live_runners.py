"""Job runners for the live benchmarks (import path: ``benchmarks`` on ``PYTHONPATH``)."""

from __future__ import annotations

import os
import time

from cenas.live import JobOutcome, WorkerContext, WorkItem

JOB_S = float(os.environ.get("CENAS_BENCH_JOB_S", "0.5"))


def sleep_job(item: WorkItem, ctx: WorkerContext) -> JobOutcome:
    """A no-op trainer: takes ``JOB_S`` seconds and does no work (scheduler overhead)."""
    time.sleep(JOB_S)
    return JobOutcome("completed", [-float(item.arch % 97), float(item.arch % 13) / 10.0])
