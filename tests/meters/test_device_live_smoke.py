"""benchmarks/device_live.py: the --smoke run on CPU end to end, and its NVML-side helpers
against a fake NVML (nothing modelled may come out as measured)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import torch

from cenas.engine.energy import LedgerEntry
from tests.meters.test_nvml import FakeNvml

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "device_live.py"
PARAMS_DARTS_V2_C4_L5 = 11554
"""DARTS_V2 at C=4, 5 cells, without the auxiliary head (3,349,342 at C=36, 20 cells)."""
SPLIT = 2400
"""Training images of a live worker's split of the packaged subset (3,000 less 20 %)."""


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("device_live", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["device_live"] = module
    spec.loader.exec_module(module)
    return module


class UtilNvml(FakeNvml):
    """The fake NVML of test_nvml plus utilisation (70 % GPU, 30 % memory) and 1 GiB used."""

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any:
        return SimpleNamespace(gpu=70, memory=30)

    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any:
        return SimpleNamespace(used=2**30, total=2**37)


def _not_modelled_as_measured(meter: str, measured: bool) -> None:
    assert not (measured and meter.startswith("model:")), meter


@pytest.mark.slow  # ~35-60 s on two loaded cores: two live searches of two spawned workers
def test_smoke_run_writes_every_output(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    dl = _load()
    out = tmp_path / "out"
    code = dl.main(["--smoke", "--device", "cpu", "--no-nvml", "--out", str(out), "--minutes", "3"])
    assert code == 0
    assert {p.name for p in out.iterdir()} == {
        "device_live.json",
        "device_live.txt",
        "device_live.log",
    }
    report = json.loads((out / "device_live.json").read_text())
    assert report["phase_errors"] == {}
    assert report["mode"] == "smoke" and report["device"] == "cpu"
    assert report["gpu"]["nvml"] == "not measured"
    assert report["utilisation_source"] == "not measured"
    assert report["data"]["path"] == "packaged:cifar10-subset"
    assert report["data"]["live_train_split"] == SPLIT
    assert isinstance(report["git_commit"], str) and report["versions"]["torch"]

    live = report["live"]
    cfg = live["config"]
    assert (cfg["space"], cfg["gpus"], cfg["device"], cfg["policy"], cfg["optimizer"]) == (
        "nb201", 2, "cpu", "static", "lamoo",
    )  # fmt: skip
    assert cfg["estimator"] == "zero-cost:synflow" and cfg["train_epochs"] == 1
    assert live["aborted"] is None and live["shared_by"] == 1
    steps = live["steps"]
    # step 0 follows the static policy (one of two trains), step 1 trains on both workers
    assert [(s["n_train"], s["n_estimate"]) for s in steps] == [(1, 1), (2, 0)]
    for s in steps:
        # one-epoch trainings finish inside their segment: whole epochs of the split
        assert s["train_images"] > 0 and s["train_images"] % SPLIT == 0
        assert s["aggregate_train_images_per_second"] > 0
        assert s["gpu_power"]["mean_w"] is None
        assert s["gpu_power"]["energy_source"] == "not measured"
        assert s["gpu_util"]["source"] == "not measured"
        assert s["gpu_util"]["gpu_mean_pct"] is None
    assert steps[1]["train_images"] >= 2 * SPLIT and steps[0]["estimate_segments"] >= 1
    agg = live["all_train_steps"]
    assert agg["steps"] == [1] and agg["train_images"] == steps[1]["train_images"]
    assert math.isclose(
        agg["aggregate_images_per_second"], agg["train_images"] / agg["wall_seconds"]
    )
    assert agg["gpu_util_mean_pct"] is None and agg["gpu_power_mean_w"] is None
    assert live["engine_summary"]["n_trained"] == len(live["completed_trainings"]) >= 3
    assert live["jobs_images_per_second"]["median"] > 0

    ledger = live["ledger"]
    kinds = ledger["by_kind"]
    assert set(kinds) >= {"train", "estimate", "idle"}
    assert kinds["train"]["entries"] >= 3 and kinds["estimate"]["entries"] >= 1
    for part in kinds.values():  # measured and modelled never mix; no GPU share without NVML
        if part["measured"] is not None:
            assert not any(m.startswith("model:") for m in part["measured"]["meters"])
            assert part["measured"]["gpu_mean_w"] is None
        if part["modelled"] is not None:
            assert all(m.startswith("model:") for m in part["modelled"]["meters"])
    assert math.isclose(
        ledger["measured_j"] + ledger["modelled_j"],
        sum(p["energy_j"] for p in kinds.values()),
    )
    assert math.isclose(  # every charge lies in a step, measured and modelled kept apart
        sum(s["ledger_measured_j"] + s["ledger_modelled_j"] for s in steps),
        ledger["measured_j"] + ledger["modelled_j"],
    )
    for seg in live["segments"]:
        _not_modelled_as_measured(seg["meter"], seg["measured"])
        if seg["kind"] == "train":
            assert seg["epochs"] == 1 and seg["images"] == SPLIT

    solo = report["solo"]
    assert solo["epochs"] == 1 and solo["train_images"] == 1024
    assert solo["images_per_second_last_epoch"] > 0
    assert solo["gpu_util_last_epoch"]["source"] == "not measured"

    i12 = report["issue12"]
    assert math.isclose(
        i12["throughput_ratio"],
        agg["aggregate_images_per_second"] / solo["images_per_second_last_epoch"],
    )
    assert i12["utilisation_ratio"] is None
    assert i12["throughput_goal_met"] is None and i12["utilisation_goal_met"] is None

    de = report["darts_eval"]
    assert de["params_without_auxiliary"] == PARAMS_DARTS_V2_C4_L5
    assert de["images"] == 8 * de["steps"] > 0 and de["images_per_second"] > 0
    proj = de["projection_600_epochs"]
    assert math.isclose(proj["device_hours"], 600 * 50_000 / de["images_per_second"] / 3600)
    assert proj["energy_kwh"] is None and proj["power_basis"] == "not measured"

    darts = report["darts_live"]
    assert darts["config"]["space"] == "darts"
    assert darts["config"]["estimator"] == "low-fidelity"
    assert [(s["n_train"], s["n_estimate"]) for s in darts["steps"]] == [(1, 1)]
    # a low-fidelity estimate is a short training: it too trains whole epochs
    assert darts["steps"][0]["estimate_images"] >= SPLIT
    assert darts["steps"][0]["train_images"] >= SPLIT

    phases = [p["phase"] for p in report["power"]]
    assert phases == [
        "idle", "live-start", "live-step0", "live-step1", "train-solo", "darts-eval",
        "darts-live-start", "darts-live-step0",
    ]  # fmt: skip
    for p in report["power"]:
        assert p["energy_source"] == "not measured" and p["mean_w"] is None
    text = (out / "device_live.txt").read_text()
    assert "not measured" in text and "## issue 12" in text and "## live DARTS search" in text


def test_util_sampler_windows_with_fake_nvml(tmp_path: Path) -> None:
    dl = _load()
    fake = UtilNvml()
    meter = dl.dc.Meter(0, use_nvml=True, nvml=fake)
    util = dl.UtilSampler(meter, interval_s=0.01)
    t0 = time.time()
    util.start()
    time.sleep(0.1)
    util.stop()
    t1 = time.time()
    meter.close()
    w = util.window(t0, t1)
    assert w["source"] == "nvml" and w["samples"] >= 3
    assert w["gpu_mean_pct"] == 70.0 and w["memory_mean_pct"] == 30.0
    assert w["memory_used_max_bytes"] == 2**30
    empty = util.window(t1 + 10, t1 + 20)
    assert empty["samples"] == 0 and empty["gpu_mean_pct"] is None

    plain = dl.dc.Meter(0, use_nvml=True, nvml=FakeNvml())
    no_util = dl.UtilSampler(plain)
    no_util.start()  # FakeNvml has no utilisation call: not measured, with the reason
    plain.close()
    off = no_util.window(0.0, time.time())
    assert off["source"] == "not measured" and off["gpu_mean_pct"] is None
    assert "nvmlDeviceGetUtilizationRates failed" in off["why"]


def test_ledger_by_kind_keeps_measured_and_modelled_apart() -> None:
    dl = _load()
    entries = [
        LedgerEntry(0, 0, "train", 1, 10.0, 1000.0, 0.0, True, "nvml:0"),
        LedgerEntry(0, 1, "train", 2, 30.0, 2000.0, 0.0, True, "nvml:0"),
        LedgerEntry(1, 2, "estimate", 3, 2.0, 100.0, 0.0, True, "nvml:0"),
        LedgerEntry(1, 3, "idle", None, 5.0, 275.0, 0.0, False, "model:idle"),
        LedgerEntry(1, 0, "train", 1, 4.0, 1200.0, 0.0, False, "model:lost-worker"),
    ]
    kinds = dl.ledger_by_kind(entries, shared_by=4)
    train = kinds["train"]
    assert train["entries"] == 3 and train["energy_j"] == 4200.0
    assert train["measured"]["mean_w_per_job"] == 75.0  # 3000 J / 40 s: a quarter share
    assert train["measured"]["gpu_mean_w"] == 300.0  # the GPU's draw: 4 shares
    assert train["modelled"]["meters"] == ["model:lost-worker"]
    assert train["modelled"]["mean_w_per_job"] == 300.0
    assert kinds["estimate"]["measured"]["gpu_mean_w"] == 200.0
    assert kinds["estimate"]["modelled"] is None
    idle = kinds["idle"]
    assert idle["measured"] is None and idle["measured_note"].startswith("not measured")
    assert idle["modelled"]["mean_w_per_job"] == 55.0
    rapl = dl.ledger_by_kind([LedgerEntry(0, 0, "train", 1, 2.0, 40.0, 0.0, True, "rapl:0")], 1)
    assert rapl["train"]["measured"]["gpu_mean_w"] is None  # a CPU meter: no GPU share


def test_hard_stop_and_issue12_judgement() -> None:
    dl = _load()
    with pytest.raises(dl.PhaseTimeout), dl.hard_stop(time.time() + 0.05):
        time.sleep(2.0)
    with dl.hard_stop(time.time() + 0.5):  # ends first: the timer is cancelled
        pass
    time.sleep(0.6)

    def report(mode: str, device: str, util: float | None) -> dict[str, Any]:
        return {
            "mode": mode,
            "device": device,
            "live": {
                "all_train_steps": {
                    "aggregate_images_per_second": 3000.0,
                    "gpu_util_mean_pct": util,
                }
            },
            "solo": {
                "images_per_second_last_epoch": 6000.0,
                "gpu_util_last_epoch": {"gpu_mean_pct": None if util is None else 80.0},
            },
        }

    full = dl.issue12(report("full", "cuda", 72.0))
    assert full["throughput_ratio"] == 0.5 and full["throughput_goal_met"] is False
    assert full["utilisation_ratio"] == 0.9 and full["utilisation_goal_met"] is True
    smoke = dl.issue12(report("smoke", "cpu", None))
    assert smoke["throughput_ratio"] == 0.5 and smoke["throughput_goal_met"] is None
    assert smoke["utilisation_ratio"] is None and smoke["utilisation_goal_met"] is None
