"""The Ray live backend: actors running real jobs, pauses, retries, killed actors.

Every test shares one local Ray instance (``ray_cluster`` in ``conftest.py``, 2 CPUs); the
runners of ``tests.live.runners`` take ``RAY_EPOCH_S`` per epoch there.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cenas.config import StudyConfig
from cenas.engine.backend import Job
from cenas.live import BackendError, WorkerSetup, build_live_engine
from cenas.live._ray import RayBackend
from tests.live.conftest import RAY_EPOCHS
from tests.live.runners import fake_objectives


def _config(runner: str, **kw: Any) -> StudyConfig:
    base = dataclasses.replace(
        StudyConfig(),
        live=True,
        backend="ray",
        gpus=2,
        hours=2,
        step_minutes=0.03,
        runner=f"tests.live.runners:{runner}",
        policy="static",
        optimizer="random",
        budget_g=None,
        estimator="zero-cost:synflow",
        max_retries=1,
    )
    return dataclasses.replace(base, **kw)


def _sessions(root: Path) -> dict[int, dict[str, int]]:
    """The ``epochs`` runner's checkpoint of every training: epochs done, sessions run."""
    return {
        int(f.parent.name): json.loads(f.read_text()) for f in (root / "jobs").glob("*/state.json")
    }


def test_without_ray_the_backend_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(BackendError, match=r"pip install 'cenas\[ray\]'") as info:
        RayBackend(WorkerSetup(root=str(tmp_path)), ["cpu"], str)
    assert "\n" not in str(info.value)


@pytest.mark.usefixtures("ray_cluster")
def test_a_bad_runner_stops_the_backend_with_its_cause(tmp_path: Path) -> None:
    setup = WorkerSetup(root=str(tmp_path), runner="tests.live.runners:no_such_runner")
    with pytest.raises(BackendError, match="no function 'no_such_runner'") as info:
        RayBackend(setup, ["cpu"], str)
    assert "worker 0 (cpu) did not start" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.usefixtures("ray_cluster")
def test_more_workers_than_the_cluster_has_cpus_is_refused(tmp_path: Path) -> None:
    setup = WorkerSetup(root=str(tmp_path), threads=2)
    with pytest.raises(BackendError, match="need 4 CPUs and 0 GPUs; the Ray cluster has 2 CPUs"):
        RayBackend(setup, ["cpu", "cpu"], str)


@pytest.mark.usefixtures("ray_cluster")
def test_live_study_on_ray_trains_pauses_and_resumes(tmp_path: Path) -> None:
    config = _config("epochs", hours=3, step_minutes=0.05, max_retries=2)
    engine = build_live_engine(config, tmp_path)
    try:
        assert isinstance(engine.backend, RayBackend)
        pids = {engine.backend.worker_pid(w) for w in range(2)}
        engine.run()
    finally:
        engine.backend.close()
    assert engine.step_index == 3 and engine.trained_x
    assert len(pids) == 2 and all(p > 0 for p in pids)  # two actor processes
    for arch, y in zip(engine.trained_x, engine.trained_y, strict=True):
        np.testing.assert_array_equal(y, fake_objectives(arch))
    # a training running at a step's end paused at an epoch end and resumed in a later step
    sessions = _sessions(tmp_path)
    resumed = [j for j, s in sessions.items() if s["sessions"] > 1]
    assert resumed, sessions
    for j in resumed:
        steps = {e.step for e in engine.ledger.entries if e.job_id == j}
        assert len(steps) >= 2  # one ledger entry per segment, in the steps they ran
        if engine.jobs[j].status == "completed":
            assert sessions[j]["epochs"] == RAY_EPOCHS
    # every job segment is in the ledger with its meter; nothing modelled is called measured
    kinds = {e.kind for e in engine.ledger.entries}
    assert {"train", "estimate"} <= kinds
    for e in engine.ledger.entries:
        assert e.meter and e.meter.startswith("model:") == (not e.measured)
    charged = {e.job_id for e in engine.ledger.entries if e.job_id is not None}
    assert {j.id for j in engine.jobs if j.status in ("completed", "paused")} <= charged


@pytest.mark.usefixtures("ray_cluster")
def test_a_job_that_raises_on_ray_is_retried(tmp_path: Path) -> None:
    engine = build_live_engine(_config("raise_first_attempt", step_minutes=0.02), tmp_path)
    try:
        engine.run()
        failures = list(engine.backend.failures)  # type: ignore[attr-defined]
    finally:
        engine.backend.close()
    assert engine.trained_x
    assert failures and all(attempt == 0 for _, attempt, _ in failures)
    assert all("injected failure" in reason for _, _, reason in failures)
    for job_id, _, _ in failures:  # each failed once, then completed on its retry
        job = engine.jobs[job_id]
        assert job.status in ("completed", "paused") and job.attempts == 1
    assert any(engine.jobs[j].status == "completed" for j, _, _ in failures)
    assert not [a for a in engine.archs.values() if a.source.startswith("failed")]


@pytest.mark.usefixtures("ray_cluster")
def test_a_job_that_keeps_failing_on_ray_is_recorded_and_the_study_goes_on(
    tmp_path: Path,
) -> None:
    config = _config("always_raise_train", step_minutes=0.02, max_retries=2)
    engine = build_live_engine(config, tmp_path)
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
    assert any(a.estimated is not None for a in engine.archs.values())  # estimates went on


def test_a_killed_actor_is_replaced_and_its_job_resumes(ray_cluster: Any, tmp_path: Path) -> None:
    config = _config("epochs", gpus=1, step_minutes=0.04, policy="vanilla")  # all train
    engine = build_live_engine(config, tmp_path)
    backend = engine.backend
    assert isinstance(backend, RayBackend)
    old_pid = backend.worker_pid(0)
    killed: list[int] = []

    def kill() -> None:  # once the first training has checkpointed an epoch, kill its actor
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            done = [j for j, s in _sessions(tmp_path).items() if 1 <= s["epochs"] < RAY_EPOCHS]
            if done:
                ray_cluster.kill(backend.worker_actor(0), no_restart=True)
                killed.append(done[0])
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill)
    killer.start()
    try:
        engine.run()
    finally:
        killer.join()
        backend.close()
    assert killed, "no training reached its first epoch"
    assert backend.restarts == 1 and backend.worker_pid(0) not in (0, old_pid)
    job = engine.jobs[killed[0]]
    state = _sessions(tmp_path)[job.id]
    assert job.status == "completed" and state["sessions"] >= 2 and state["epochs"] == RAY_EPOCHS
    lost = [e for e in engine.ledger.entries if e.meter == "model:lost-worker"]
    assert len(lost) == 1 and lost[0].job_id == job.id and not lost[0].measured
    assert (job.id, 0, "worker 0 died") in backend.failures


@pytest.mark.usefixtures("ray_cluster")
def test_a_real_training_runs_on_a_ray_actor(tmp_path: Path) -> None:
    from cenas.nn import build_nb201, count_params
    from cenas.space import NB201Space

    space = NB201Space()

    def arch_str(index: int) -> str:
        return space.to_str(space.from_index(index))

    train = {"epochs": 1, "channels": 4, "cells_per_stage": 1, "batch_size": 128, "seed": 0}
    setup = WorkerSetup(root=str(tmp_path), train=train, val_size=300, threads=1)
    backend = RayBackend(setup, ["cpu"], arch_str, max_retries=0)
    try:
        backend.begin_step(0, 300.0, 100.0, {})
        t, w, result = backend.next_free()  # type: ignore[misc]
        assert (w, result) == (0, None)
        backend.start(Job(id=3, kind="train", arch=1234, total_s=0.0), 0, t)
        event = backend.next_free()
        paused, late = backend.end_step()
    finally:
        backend.close()
    assert event is not None and (paused, late) == ([], [])
    result = event[2]
    assert result is not None and result.status == "completed", result
    assert result.detail["epochs_completed"] == 1 and result.detail["resumed_from"] == 0
    params = count_params(build_nb201(arch_str(1234), 4, 1, 10))
    assert result.objectives is not None
    np.testing.assert_allclose(result.objectives, [-result.detail["val_acc"], params / 1e6])
    assert 0.0 <= result.detail["val_acc"] <= 100.0
    assert any((tmp_path / "jobs" / "3").iterdir())  # its checkpoint
    (entry,) = backend.ledger.entries
    assert (entry.job_id, entry.kind, entry.step) == (3, "train", 0)
    assert entry.seconds > 0 and entry.energy_j >= 0 and entry.meter
