"""Per-job energy meters against a fake powercap tree, a fake /proc and a fake NVML."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

import cenas.meters._energy as _energy
from cenas.engine.energy import PowerModel
from cenas.meters import (
    CPU_WATTS_PER_CORE,
    EnergyReading,
    MeterError,
    ModelledMeter,
    NvmlMeter,
    RaplMeter,
    auto_meter,
    cpu_power_model,
    describe_meters,
    find_rapl_domains,
    gpu_power_model,
    nvml_index,
    nvml_status,
    rapl_available,
)
from tests.meters.test_nvml import FakeNvml

PID = 4242
BIG_RANGE = 262_143_328_850  # a typical max_energy_range_uj


class FakeNvmlGpus(FakeNvml):
    """The fake NVML of test_nvml with a device count."""

    def nvmlDeviceGetCount(self) -> int:
        return 2


class Tree:
    """A fake /sys/class/powercap laid out as sysfs does (nested zones, top-level links)."""

    def __init__(self, tmp_path: Path, max_uj: int = BIG_RANGE) -> None:
        self.root = tmp_path / "powercap"
        ctl = self.root / "intel-rapl"
        ctl.mkdir(parents=True)
        (ctl / "enabled").write_text("1\n")
        self.zones: dict[str, Path] = {}
        for zone, parent, name in [
            ("intel-rapl:0", ctl, "package-0"),
            ("intel-rapl:0:0", ctl / "intel-rapl:0", "dram"),
            ("intel-rapl:0:1", ctl / "intel-rapl:0", "core"),
            ("intel-rapl:1", ctl, "psys"),
        ]:
            d = parent / zone
            d.mkdir()
            (d / "name").write_text(name + "\n")
            (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
            (self.root / zone).symlink_to(d)
            self.zones[name.split("-")[0]] = d
        self.set(package=0, dram=0, core=0, psys=0)

    def set(self, **uj: int) -> None:
        for name, value in uj.items():
            (self.zones[name] / "energy_uj").write_text(f"{value}\n")


class Proc:
    """A fake /proc with the machine's CPU times and one process's."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "proc"
        (self.root / str(PID)).mkdir(parents=True)
        self.set(busy=(1000, 0, 500, 10, 20), idle=5000, steal=7, utime=100, stime=50)

    def set(
        self, busy: tuple[int, int, int, int, int], idle: int, steal: int, utime: int, stime: int
    ) -> None:
        user, nice, system, irq, softirq = busy
        (self.root / "stat").write_text(
            f"cpu  {user} {nice} {system} {idle} 100 {irq} {softirq} {steal} 0 0\n"
            f"cpu0 {user} {nice} {system} {idle} 100 {irq} {softirq} {steal} 0 0\n"
            "intr 12345\n"
        )
        rest = " ".join(["0"] * 30)
        (self.root / str(PID) / "stat").write_text(
            f"{PID} (python (worker) 1) R 1 {PID} {PID} 0 -1 4194304 10 0 0 0 "
            f"{utime} {stime} 7 9 20 0 3 0 {rest}\n"
        )


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


@pytest.fixture
def proc(tmp_path: Path) -> Proc:
    return Proc(tmp_path)


# --------------------------------------------------------------------------- readings, model


def test_a_modelled_reading_cannot_claim_to_be_measured() -> None:
    with pytest.raises(ValueError, match="modelled reading cannot be measured"):
        EnergyReading(1.0, 1.0, True, "model:cpu", "")
    with pytest.raises(ValueError, match="energy must be finite"):
        EnergyReading(-1.0, 1.0, True, "nvml:0", "")
    r = EnergyReading(30.0, 2.0, True, "nvml:0", "counter")
    assert r.mean_w == 15.0
    assert r.to_dict() == {
        "joules": 30.0, "seconds": 2.0, "measured": True, "meter": "nvml:0", "detail": "counter"
    }  # fmt: skip


def test_modelled_meter_is_watts_times_wall_seconds_and_never_measured() -> None:
    meter = ModelledMeter(40.0, "test", basis="a figure")
    assert meter.name == "model:test" and meter.measured is False
    outer = meter.begin()
    with pytest.raises(RuntimeError), meter.measure() as m:
        time.sleep(0.01)
        raise RuntimeError("job failed")
    inner = m.reading  # a failed segment is still read
    r = meter.end(outer)
    assert inner is not None and inner.measured is False and r.measured is False
    assert r.joules == pytest.approx(40.0 * r.seconds, rel=1e-12)
    assert r.seconds >= inner.seconds > 0  # the outer interval contains the inner one
    assert "modelled, not measured" in r.detail and "a figure" in r.detail


def test_tokens_are_ended_once_by_their_own_meter() -> None:
    a, b = ModelledMeter(1.0, "a"), ModelledMeter(1.0, "b")
    token = a.begin()
    with pytest.raises(MeterError, match="not started by this meter"):
        b.end(token)
    a.end(token)
    with pytest.raises(MeterError, match="already ended"):
        a.end(token)


def test_power_models() -> None:
    cpu = cpu_power_model(4)
    assert CPU_WATTS_PER_CORE == 12.0 and cpu.watts == 48.0 and cpu.name == "model:cpu"
    assert "Green Algorithms" in cpu.basis
    gpu = gpu_power_model(PowerModel(train_w=250.0), shared_by=2)
    assert gpu.watts == 125.0 and gpu.name == "model:gpu" and "2 jobs" in gpu.basis
    assert gpu_power_model().watts == PowerModel().train_w
    with pytest.raises(ValueError):
        cpu_power_model(0)
    with pytest.raises(ValueError):
        gpu_power_model(shared_by=0)


# --------------------------------------------------------------------------- RAPL


def test_domains_count_package_and_dram_only(tree: Tree) -> None:
    domains = find_rapl_domains(tree.root)
    assert [(d.zone, d.name) for d in domains] == [
        ("intel-rapl:0", "package-0"),
        ("intel-rapl:0:0", "dram"),
    ]
    assert domains[0].max_range_uj == BIG_RANGE


def test_rapl_attributes_package_and_dram_by_cpu_share(tree: Tree, proc: Proc) -> None:
    tree.set(package=1_000_000, dram=500_000, core=0, psys=0)
    meter = RaplMeter(tree.root, PID, proc_root=proc.root, poll_s=None)
    assert meter.name == "rapl:package-0+dram" and meter.measured
    token = meter.begin()
    # +100 J package, +20 J dram; core and psys overlap the package and must not count
    tree.set(package=101_000_000, dram=20_500_000, core=90_000_000, psys=500_000_000)
    # machine busy +400 ticks (user 300, system 80, irq 10, softirq 10); steal and idle don't
    # count; the process +100 ticks: a quarter of the machine's busy time
    proc.set(busy=(1300, 0, 580, 20, 30), idle=6000, steal=57, utime=180, stime=70)
    r = meter.end(token)
    assert r.measured and r.meter == "rapl:package-0+dram"
    assert r.joules == pytest.approx(0.25 * 120.0)
    assert "CPU-time share 0.2500" in r.detail and f"process {PID}" in r.detail
    assert "package-0 100.000 J + dram 20.000 J" in r.detail


def test_rapl_undoes_a_counter_wrap(tree: Tree, proc: Proc) -> None:
    tree.set(package=BIG_RANGE - 10_000_000, dram=0)
    meter = RaplMeter(tree.root, PID, proc_root=proc.root, attribute=False, poll_s=None)
    token = meter.begin()
    tree.set(package=5_000_000, dram=5_000_000)  # package: 10 J to the top, wrapped, 5 J more
    r = meter.end(token)
    assert r.joules == pytest.approx(15.0 + 5.0)
    assert meter.wraps == 1 and "not attributed" in r.detail


def test_rapl_polls_fold_several_wraps_into_one_interval(tmp_path: Path, proc: Proc) -> None:
    tree = Tree(tmp_path, max_uj=100_000_000)  # a 100 J range
    tree.set(package=10_000_000)
    meter = RaplMeter(tree.root, PID, proc_root=proc.root, attribute=False, poll_s=None)
    token = meter.begin()
    for uj in (90_000_000, 30_000_000):  # +80 J, then +40 J across a wrap
        tree.set(package=uj)
        meter.poll()
    tree.set(package=70_000_000)  # +40 J
    r = meter.end(token)
    assert r.joules == pytest.approx(160.0)  # more than the range; two reads alone give 60 J
    assert meter.wraps == 1


def test_rapl_overlapping_intervals_and_poll_thread(tree: Tree, proc: Proc) -> None:
    meter = RaplMeter(tree.root, PID, proc_root=proc.root, attribute=False, poll_s=30.0)
    outer = meter.begin()
    assert meter._thread is not None and meter._thread.is_alive()
    tree.set(package=7_000_000)
    inner = meter.begin()
    tree.set(package=10_000_000)
    r_inner = meter.end(inner)
    assert meter._thread is not None  # the outer interval is still open
    thread = meter._thread
    r_outer = meter.end(outer)
    assert (r_outer.joules, r_inner.joules) == (pytest.approx(10.0), pytest.approx(3.0))
    assert meter._thread is None and not thread.is_alive()


def test_rapl_self_uses_this_process_cpu_time(
    tree: Tree, proc: Proc, monkeypatch: pytest.MonkeyPatch
) -> None:
    times = iter([(2.0, 1.0), (3.5, 1.5)])  # +2 CPU s of this process

    def fake_times() -> os.times_result:
        user, system = next(times)
        return os.times_result((user, system, 0.0, 0.0, 0.0))

    monkeypatch.setattr(os, "times", fake_times)
    tick = os.sysconf("SC_CLK_TCK")
    meter = RaplMeter(tree.root, None, proc_root=proc.root, poll_s=None)
    token = meter.begin()
    tree.set(package=80_000_000)
    proc.set(busy=(1000 + 8 * tick, 0, 500, 10, 20), idle=5000, steal=7, utime=0, stime=0)
    r = meter.end(token)  # 2 of 8 busy CPU seconds
    assert r.joules == pytest.approx(20.0) and "this process" in r.detail


def test_rapl_process_gone_is_a_meter_error(tree: Tree, proc: Proc) -> None:
    meter = RaplMeter(tree.root, PID, proc_root=proc.root, poll_s=None)
    token = meter.begin()
    (proc.root / str(PID) / "stat").unlink()
    with pytest.raises(MeterError, match=f"CPU time of process {PID}"):
        meter.end(token)


def test_permission_denied_energy_is_unavailable(
    tree: Tree, proc: Proc, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tree.zones["package"] / "energy_uj"
    locked.chmod(0o000)
    real = _energy._read_text

    def read(path: Path) -> str:  # root reads a mode-000 file, so deny it as the kernel would
        if path.resolve() == locked.resolve():
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(_energy, "_read_text", read)
    status = rapl_available(tree.root, proc.root)
    assert not status and "permission denied" in status.reason and "energy_uj" in status.reason
    with pytest.raises(MeterError, match="permission denied"):
        RaplMeter(tree.root, PID, proc_root=proc.root)
    meter = auto_meter("cpu", threads=2, rapl_root=tree.root, proc_root=proc.root)
    assert isinstance(meter, ModelledMeter) and meter.watts == 2 * CPU_WATTS_PER_CORE
    assert "RAPL not used: permission denied" in meter.basis
    with meter.measure() as m:
        pass
    assert m.reading is not None and m.reading.measured is False


def test_rapl_unavailable_reasons(tmp_path: Path, tree: Tree) -> None:
    missing = rapl_available(tmp_path / "nothing")
    assert not missing and "no powercap tree" in missing.reason
    no_proc = rapl_available(tree.root, tmp_path / "noproc")
    assert not no_proc and "cannot read machine CPU time" in no_proc.reason
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no RAPL package zone" in rapl_available(empty).reason


# --------------------------------------------------------------------------- NVML


def test_nvml_counter_energy_and_overlap() -> None:
    fake = FakeNvml()
    meter = NvmlMeter(0, nvml=fake, interval_s=0.01)  # type: ignore[arg-type]
    assert meter.name == "nvml:0" and meter.measured
    a = meter.begin()
    b = meter.begin()
    assert fake.inited == 2  # two intervals open at once
    time.sleep(0.1)
    rb = meter.end(b)
    ra = meter.end(a)
    assert fake.inited == 0
    for r in (ra, rb):
        assert r.measured and r.meter == "nvml:0" and "NVML energy counter" in r.detail
        assert r.joules == pytest.approx(250.0 * r.seconds, rel=0.05)
        assert "the whole GPU's energy" in r.detail and "divided" not in r.detail


def test_nvml_without_counter_integrates_samples_and_says_so() -> None:
    meter = NvmlMeter(0, nvml=FakeNvml(counter=False), interval_s=0.01)  # type: ignore[arg-type]
    with meter.measure() as m:
        time.sleep(0.05)
    r = m.reading
    assert r is not None and r.measured
    assert "NVML power samples (no energy counter" in r.detail
    assert r.joules == pytest.approx(250.0 * r.seconds, rel=1e-9)


def test_nvml_shared_gpu_is_divided_equally_and_flagged() -> None:
    meter = NvmlMeter(0, shared_by=4, nvml=FakeNvml(counter=False), interval_s=0.01)  # type: ignore[arg-type]
    with meter.measure() as m:
        time.sleep(0.03)
    r = m.reading
    assert r is not None
    assert r.joules == pytest.approx(250.0 * r.seconds / 4, rel=1e-9)
    assert "divided equally among 4 jobs" in r.detail


def test_nvml_unreadable_gpu() -> None:
    meter = NvmlMeter(0, nvml=FakeNvml(fail_init=True))  # type: ignore[arg-type]
    with pytest.raises(MeterError, match="NVML cannot read GPU 0"):
        meter.begin()
    status = nvml_status(0, FakeNvml(fail_init=True))  # type: ignore[arg-type]
    assert not status and "NVML cannot start" in status.reason
    assert nvml_status(0, FakeNvml()).reason == "GPU 0: energy counter"  # type: ignore[arg-type]
    fake = FakeNvml(counter=False)
    assert "no energy counter" in nvml_status(1, fake).reason  # type: ignore[arg-type]
    assert fake.inited == 0


def test_nvml_index_follows_cuda_visible_devices() -> None:
    assert nvml_index(1, {}) == 1
    assert nvml_index(1, {"CUDA_VISIBLE_DEVICES": "3, 5"}) == 5
    with pytest.raises(MeterError, match="not in CUDA_VISIBLE_DEVICES"):
        nvml_index(2, {"CUDA_VISIBLE_DEVICES": "3,5"})
    with pytest.raises(MeterError, match="not a device number"):
        nvml_index(0, {"CUDA_VISIBLE_DEVICES": "GPU-8f1c"})


# --------------------------------------------------------------------------- choice


def test_auto_meter_gpu_choices() -> None:
    fake: Any = FakeNvml()
    m = auto_meter("cuda:1", nvml=fake, environ={}, shared_by=2)
    assert isinstance(m, NvmlMeter) and (m.index, m.shared_by) == (1, 2)
    m = auto_meter("cuda:1", nvml=fake, environ={"CUDA_VISIBLE_DEVICES": "3,5"})
    assert isinstance(m, NvmlMeter) and m.name == "nvml:5"
    m = auto_meter("cuda", nvml=FakeNvml(fail_init=True), environ={}, shared_by=2)  # type: ignore[arg-type]
    assert isinstance(m, ModelledMeter) and m.name == "model:gpu" and not m.measured
    assert m.watts == PowerModel().train_w / 2 and "NVML not used: NVML cannot start" in m.basis
    m = auto_meter("cuda:0", nvml=fake, environ={"CUDA_VISIBLE_DEVICES": "MIG-1"})
    assert isinstance(m, ModelledMeter) and "not a device number" in m.basis
    m = auto_meter("cuda:0", nvml=FakeNvml(fail_init=True), power=PowerModel(train_w=200.0))  # type: ignore[arg-type]
    assert isinstance(m, ModelledMeter) and m.watts == 200.0


def test_auto_meter_cpu_choices_and_bad_devices(tmp_path: Path, tree: Tree, proc: Proc) -> None:
    m = auto_meter("cpu", rapl_root=tree.root, proc_root=proc.root, pid=PID)
    assert isinstance(m, RaplMeter) and m.pid == PID
    m = auto_meter("cpu", threads=3, rapl_root=tmp_path / "none")
    assert isinstance(m, ModelledMeter) and m.watts == 36.0 and "no powercap tree" in m.basis
    for bad in ("tpu", "cpu:1", "cuda:x", "mps"):
        with pytest.raises(MeterError, match="expected 'cpu', 'cuda' or 'cuda:N'"):
            auto_meter(bad)


def test_describe_meters(tmp_path: Path, tree: Tree, proc: Proc) -> None:
    rows = describe_meters(tree.root, proc_root=proc.root, nvml=FakeNvmlGpus())  # type: ignore[arg-type]
    assert [(m, ok) for m, ok, _ in rows] == [
        ("rapl:package-0+dram", True),
        ("nvml:0", True),
        ("nvml:1", True),
        ("model:cpu", True),
        ("model:gpu", True),
    ]
    assert rows[1].reason == "GPU 0: energy counter"
    assert "never measured" in rows[3].reason and "300 W" in rows[4].reason
    rows = describe_meters(tmp_path / "none", nvml=FakeNvml(fail_init=True))  # type: ignore[arg-type]
    assert [(m, ok) for m, ok, _ in rows[:2]] == [("rapl", False), ("nvml", False)]
    assert "NVML cannot start" in rows[1].reason
