"""benchmarks/device_check.py --smoke on CPU: every phase runs and every output is written."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import tarfile
import time
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "device_check.py"
PARAMS_LARGEST_C4_N1 = 23374
"""Parameters of the all-``nor_conv_3x3`` cell at C=4, N=1 (1,531,546 at C=16, N=5)."""


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["device_check"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # ~15-18 s on two loaded cores: two subprocesses each import torch
def test_smoke_run_writes_every_output(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    dc = _load()
    out = tmp_path / "out"
    code = dc.main(
        ["--smoke", "--device", "cpu", "--no-nvml", "--out", str(out), "--minutes", "2",
         "--train-mode", "sequential", "--shards", "1", "--table-dir", str(tmp_path / "t")]
    )  # fmt: skip
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert names == {
        "power.json", "power.txt", "device_check.json", "device_check.log",
        "proxies-table.tar.gz",
    }  # fmt: skip

    report = json.loads((out / "device_check.json").read_text())
    assert report["phase_errors"] == {}
    assert report["mode"] == "smoke" and report["device"] == "cpu"
    assert report["gpu"]["nvml"] == "not measured"
    assert report["data"]["train_images"] == 256 and report["data"]["test_images"] == 128

    cells = report["training"]["cells"]
    assert [c["role"] for c in cells] == ["best", "median", "poor"]
    assert [c["table_test_acc_12ep"] for c in cells] == [89.16, 79.62, 60.99]
    for c in cells:
        assert c["status"] == "completed" and c["epochs_completed"] == 1
        assert isinstance(c["test_acc"], float) and 0.0 <= c["test_acc"] <= 100.0
        assert math.isclose(c["difference_pp"], c["test_acc"] - c["table_test_acc_12ep"])
        assert len(c["epoch_seconds"]) == 1 and c["images_per_second"] > 0
    assert report["training"]["parallel_speedup"] > 0
    assert report["inference"]["images_per_second"] > 0
    assert report["inference"]["params"] == PARAMS_LARGEST_C4_N1
    assert report["supernet"]["estimates"] == 3
    assert report["proxies"]["cells_this_run"] == 1

    power = json.loads((out / "power.json").read_text())
    phases = [p["phase"] for p in power["phases"]]
    assert phases == [
        "idle", "train-sequential", "train-solo", "inference",
        "supernet-train", "supernet-eval", "proxies",
    ]  # fmt: skip
    for p in power["phases"]:  # nothing modelled is reported as measured
        assert p["energy_source"] == "not measured"
        assert p["mean_w"] is None and p["energy_j"] is None and p["seconds"] > 0
    assert power["phases"][1]["work"]["images_trained"] == 3 * 256
    assert "not measured" in (out / "power.txt").read_text()

    with tarfile.open(out / "proxies-table.tar.gz") as tar:
        members = sorted(tar.getnames())
    assert members == ["t/provenance.json", "t/shard-0.csv"]


def test_meter_records_nvml_phases_and_failed_ones(tmp_path: Path) -> None:
    from tests.meters.test_nvml import FakeNvml

    dc = _load()
    log = dc.Log(tmp_path / "log.txt")
    fake = FakeNvml()
    meter = dc.Meter(0, use_nvml=True, nvml=fake)
    info = meter.gpu_info()
    assert info["nvml"] == "ok" and info["name"].startswith("unavailable (")
    with meter.phase("idle", log) as work:
        time.sleep(0.05)
        work["images"] = 7
    with pytest.raises(RuntimeError), meter.phase("broken", log):
        raise RuntimeError("out of memory")
    meter.close()
    assert fake.inited == 0
    idle, broken = meter.phases
    assert idle["energy_source"] == "counter" and idle["mean_w"] == 250.0
    assert idle["work"] == {"images": 7} and idle["energy_j"] > 0
    assert broken["work"] == {"failed": "RuntimeError: out of memory"}
    table = dc._power_table(meter.phases).splitlines()
    assert table[1].split()[:2] == ["idle", f"{idle['seconds']:.1f}"]
    assert table[1].split()[3:5] == ["250.0", "250.0"]
