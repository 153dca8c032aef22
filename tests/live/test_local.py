"""The local live backend: real worker processes, pauses, retries, dead workers."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cenas.config import StudyConfig
from cenas.live import WorkerContext, WorkerSetup, WorkItem, build_live_engine, run_nb201_job
from tests.live.runners import fake_objectives


def _config(runner: str, **kw: object) -> StudyConfig:
    base = dataclasses.replace(
        StudyConfig(),
        live=True,
        gpus=2,
        hours=3,
        step_minutes=0.03,
        runner=f"tests.live.runners:{runner}",
        policy="static",
        optimizer="random",
        budget_g=None,
        estimator="zero-cost:synflow",
        max_retries=1,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def _sessions(root: Path) -> dict[int, dict[str, int]]:
    out = {}
    for f in (root / "jobs").glob("*/state.json"):
        out[int(f.parent.name)] = json.loads(f.read_text())
    return out


def test_live_study_trains_pauses_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CENAS_TEST_EPOCH_S", "0.1")
    monkeypatch.setenv("CENAS_TEST_EPOCHS", "7")  # 0.7 s: not a divisor of the 2.4 s step
    engine = build_live_engine(_config("epochs", step_minutes=0.04), tmp_path)
    try:
        engine.run()
    finally:
        engine.backend.close()
    assert engine.step_index == 3 and engine.trained_x
    for arch, y in zip(engine.trained_x, engine.trained_y, strict=True):
        np.testing.assert_array_equal(y, fake_objectives(arch))
    # a training running at a step's end paused at an epoch end and resumed in a later step
    sessions = _sessions(tmp_path)
    resumed = [j for j, s in sessions.items() if s["sessions"] > 1]
    assert resumed, sessions
    for j in resumed:
        job = engine.jobs[j]
        assert job.start_step < job.end_step or job.end_step == -1
    # every job segment is in the ledger, flagged with its meter; nothing modelled is measured
    kinds = {e.kind for e in engine.ledger.entries}
    assert {"train", "estimate"} <= kinds
    for e in engine.ledger.entries:
        assert e.meter.startswith("model:") == (not e.measured)
    charged = {e.job_id for e in engine.ledger.entries if e.job_id is not None}
    finished = {j.id for j in engine.jobs if j.status == "completed"}
    assert finished <= charged


def test_a_job_that_raises_is_retried(tmp_path: Path) -> None:
    engine = build_live_engine(_config("raise_first_attempt", hours=2), tmp_path)
    try:
        engine.run()
        failures = list(engine.backend.failures)  # type: ignore[attr-defined]
    finally:
        engine.backend.close()
    assert engine.trained_x
    assert failures and all(attempt == 0 for _, attempt, _ in failures)
    assert all("injected failure" in reason for _, _, reason in failures)
    assert not [a for a in engine.archs.values() if a.source.startswith("failed")]


def test_a_job_that_keeps_failing_is_recorded_and_the_study_goes_on(tmp_path: Path) -> None:
    engine = build_live_engine(_config("always_raise_train", hours=2, max_retries=2), tmp_path)
    try:
        engine.run()
        failures = list(engine.backend.failures)  # type: ignore[attr-defined]
    finally:
        engine.backend.close()
    assert engine.step_index == 2 and not engine.trained_x
    failed = [j for j in engine.jobs if j.status == "failed"]
    assert failed and all(j.kind == "train" for j in failed)
    assert {a.source for a in engine.archs.values() if a.train_step < 0} >= {"failed-train"}
    per_job: dict[int, int] = {}
    for job_id, _, reason in failures:
        per_job[job_id] = per_job.get(job_id, 0) + 1
        assert "MemoryError" in reason
    assert all(per_job[j.id] == 3 for j in failed)  # first try + 2 retries


def test_a_killed_worker_is_replaced_and_its_job_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CENAS_TEST_EPOCH_S", "0.1")
    monkeypatch.setenv("CENAS_TEST_EPOCHS", "8")
    engine = build_live_engine(
        _config("epochs", gpus=1, hours=2, step_minutes=0.1, policy="vanilla"), tmp_path
    )
    backend = engine.backend
    pid = backend.worker_pid(0)  # type: ignore[attr-defined]

    def kill() -> None:
        time.sleep(0.45)  # inside the first training, after an epoch or more
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill)
    killer.start()
    try:
        engine.run()
        restarts = backend.restarts  # type: ignore[attr-defined]
        new_pid = backend.worker_pid(0)  # type: ignore[attr-defined]
    finally:
        killer.join()
        backend.close()
    assert restarts == 1 and new_pid != pid
    first = engine.jobs[0]
    state = _sessions(tmp_path)[first.id]
    assert first.status == "completed" and state["sessions"] >= 2 and state["epochs"] == 8
    lost = [e for e in engine.ledger.entries if e.meter == "model:lost-worker"]
    assert len(lost) == 1 and lost[0].job_id == first.id and not lost[0].measured


def test_real_training_paused_and_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    train = {"epochs": 2, "channels": 4, "cells_per_stage": 1, "batch_size": 128, "seed": 0}
    item = WorkItem(job_id=7, kind="train", arch=1234, arch_str="")
    from cenas.space import NB201Space

    space = NB201Space()
    item = dataclasses.replace(item, arch_str=space.to_str(space.from_index(1234)))

    def run(root: Path, pause_after_first: bool) -> list:  # type: ignore[type-arg]
        setup = WorkerSetup(root=str(root), train=train, val_size=300, threads=1)
        flag = {"pause": pause_after_first}
        ctx = WorkerContext(setup, "cpu", lambda: flag["pause"])
        outcomes = [run_nb201_job(item, ctx)]
        if outcomes[0].status == "paused":
            flag["pause"] = False
            other = WorkerContext(setup, "cpu", lambda: False)  # another worker resumes it
            outcomes.append(run_nb201_job(item, other))
        return outcomes

    whole = run(tmp_path / "a", False)
    split = run(tmp_path / "b", True)
    assert [o.status for o in whole] == ["completed"]
    assert [o.status for o in split] == ["paused", "completed"]
    assert split[0].detail["epochs_completed"] == 1 and split[1].detail["resumed_from"] == 1
    assert split[1].objectives == whole[0].objectives


def test_released_live_workers_take_no_job_and_wait_their_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cenas.policy import Allocation

    monkeypatch.setenv("CENAS_TEST_EPOCH_S", "0.05")
    monkeypatch.setenv("CENAS_TEST_EPOCHS", "3")
    cfg = _config("epochs", step_minutes=0.03, release_delay_s=0.6)
    engine = build_live_engine(cfg, tmp_path)
    try:
        engine.step(Allocation(1, 0, 1))
        engine.step(Allocation(2, 0, 0))
    finally:
        engine.backend.close()
    step0 = [e for e in engine.ledger.entries if e.step == 0]
    assert {e.kind for e in step0 if e.gpu == 1} == {"released"}
    assert all(e.job_id is None for e in step0 if e.gpu == 1)
    # the local device is not powered down: its released time is charged at idle power
    assert all(e.meter == "model:idle" for e in step0 if e.gpu == 1)
    step1 = [e for e in engine.ledger.entries if e.step == 1 and e.gpu == 1]
    waits = [e for e in step1 if e.kind == "idle"]
    assert waits and waits[0].seconds == pytest.approx(0.6)
    work = [e for e in step1 if e.kind == "train"]
    assert work, "the worker works again after its delay"
    assert engine.records[0].n_release == 1 and engine.records[1].n_release == 0
