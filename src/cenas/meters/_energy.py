"""Per-job energy meters: RAPL (CPU package + DRAM), NVML (GPU) and a documented power model.

Each meter measures the energy of one *interval* of work: :meth:`EnergyMeter.begin` returns a
token and :meth:`EnergyMeter.end` turns the token into an :class:`EnergyReading`. A token carries
its own start state, so several intervals may be open at once in one process (a job segment
inside a longer job, two jobs on two GPUs...).

Sources:

* RAPL through the Linux powercap sysfs (``Documentation/power/powercap/powercap.rst`` in the
  kernel tree): each zone ``intel-rapl:N`` (``name`` = ``package-N``) and subzone
  ``intel-rapl:N:M`` (``dram``, ``core``, ``uncore``) has a cumulative ``energy_uj`` counter
  (microjoules) that wraps at ``max_energy_range_uj``. AMD Zen processors are exposed by the
  same driver under the same names. Since Linux 5.10 (and distribution back-ports, November
  2020) ``energy_uj`` is readable by root only, a mitigation of the PLATYPUS power side
  channel (CVE-2020-8694); on such hosts RAPL is unavailable to ordinary users.
* NVML's cumulative GPU energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules,
  Volta and newer), or the time integral of its power samples where the counter is missing,
  through :class:`~cenas.meters.NvmlPowerSampler`.
* A power model (watts × wall seconds) where neither can be read. Its readings are always
  ``measured=False``: nothing modelled is ever reported as measured.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

from cenas.meters._nvml import MeterError, NvmlPowerSampler, PhaseReading, _load_nvml

if TYPE_CHECKING:
    from cenas.engine.energy import PowerModel

DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"
DEFAULT_PROC_ROOT = "/proc"

CPU_WATTS_PER_CORE = 12.0
"""Modelled power of one busy CPU core (W).

The default power draw per core of the Green Algorithms calculator for a CPU of unknown model
("Any", 12.0 W per core; Lannelongue, Grealey and Inouye, "Green Algorithms: Quantifying the
Carbon Footprint of Computation", Advanced Science 8(12), 2100707, 2021, and the tool's
``data/latest/TDP_cpu.csv``). The figure is a processor's thermal design power divided by its
core count; for comparison the same table lists an Intel Xeon Gold 6248 server CPU at
150 W / 20 cores = 7.5 W per core (Intel ARK). Memory power is not included.
"""


@dataclass(frozen=True)
class EnergyReading:
    """Energy of one interval of work.

    Attributes:
        joules: Energy attributed to the interval (J).
        seconds: Wall seconds of the interval.
        measured: Whether ``joules`` comes from a hardware energy counter or power sensor
            (possibly attributed to the job by a stated rule); ``False`` for a power model.
        meter: The meter, e.g. ``nvml:0``, ``rapl:package-0+dram``, ``model:cpu``.
        detail: How the energy was obtained and attributed, in words.
    """

    joules: float
    seconds: float
    measured: bool
    meter: str
    detail: str

    def __post_init__(self) -> None:
        if self.meter.startswith("model:") and self.measured:
            raise ValueError(f"meter {self.meter}: a modelled reading cannot be measured")
        if not math.isfinite(self.joules) or self.joules < 0:
            raise ValueError(
                f"meter {self.meter}: energy must be finite and >= 0, not {self.joules}"
            )
        if not math.isfinite(self.seconds) or self.seconds < 0:
            raise ValueError(f"meter {self.meter}: seconds must be finite and >= 0")

    @property
    def mean_w(self) -> float | None:
        """Mean power over the interval (W), ``None`` for an empty interval."""
        return self.joules / self.seconds if self.seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


@dataclass(frozen=True)
class Availability:
    """Whether a meter can be read here, and why (truthy when it can).

    Attributes:
        ok: The meter can be read.
        reason: What was found, or why it cannot be read.
    """

    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


class MeterToken:
    """An open interval of one meter; opaque to callers, ended exactly once."""

    def __init__(self, meter: EnergyMeter) -> None:
        self.meter = meter
        self.t0 = time.perf_counter()
        self.ended = False


@dataclass
class Measurement:
    """Filled in when the ``with meter.measure()`` block ends (also when it raises)."""

    reading: EnergyReading | None = None


class EnergyMeter(ABC):
    """A meter of the energy of intervals of work in this process.

    Subclasses set :attr:`name` and :attr:`measured`. Tokens from :meth:`begin` hold all of an
    interval's state, so intervals may overlap.
    """

    name: str
    measured: bool

    @abstractmethod
    def begin(self) -> MeterToken:
        """Start an interval."""

    @abstractmethod
    def end(self, token: MeterToken) -> EnergyReading:
        """End the interval started by ``token`` and read its energy."""

    @contextlib.contextmanager
    def measure(self) -> Iterator[Measurement]:
        """Measure the block: ``with meter.measure() as m: ...`` then ``m.reading``."""
        m = Measurement()
        token = self.begin()
        try:
            yield m
        finally:
            m.reading = self.end(token)

    def _close(self, token: MeterToken, kind: type[MeterToken]) -> float:
        """Check that ``token`` is an open token of this meter; mark it ended; wall seconds."""
        if not isinstance(token, kind) or token.meter is not self:
            raise MeterError(f"meter {self.name}: token was not started by this meter")
        if token.ended:
            raise MeterError(f"meter {self.name}: interval already ended")
        token.ended = True
        return max(0.0, time.perf_counter() - token.t0)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


# --------------------------------------------------------------------------- modelled


class ModelledMeter(EnergyMeter):
    """A documented power model: energy = ``watts`` × wall seconds; never measured.

    Args:
        watts: Modelled power draw (W).
        label: What is modelled; the meter is named ``model:<label>``.
        basis: Where the figure comes from, repeated in each reading's ``detail``.
    """

    measured = False

    def __init__(self, watts: float, label: str, basis: str = "") -> None:
        if not math.isfinite(watts) or watts < 0:
            raise ValueError(f"model:{label}: watts must be finite and >= 0, not {watts}")
        self.watts = float(watts)
        self.label = label
        self.basis = basis
        self.name = f"model:{label}"

    def begin(self) -> MeterToken:
        """Start an interval."""
        return MeterToken(self)

    def end(self, token: MeterToken) -> EnergyReading:
        """Energy of the interval from the model."""
        seconds = self._close(token, MeterToken)
        detail = f"modelled, not measured: {self.watts:g} W x {seconds:.3f} s"
        if self.basis:
            detail += f" ({self.basis})"
        return EnergyReading(self.watts * seconds, seconds, False, self.name, detail)


def cpu_power_model(threads: int = 1, watts_per_core: float = CPU_WATTS_PER_CORE) -> ModelledMeter:
    """The modelled power of a CPU job: ``threads`` busy cores at ``watts_per_core`` each.

    Assumes each of the job's threads keeps one core busy for the whole interval; the default
    figure is :data:`CPU_WATTS_PER_CORE` (Green Algorithms, Lannelongue et al. 2021).

    Args:
        threads: Busy cores of the job (its compute threads).
        watts_per_core: Power of one busy core (W).
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, not {threads}")
    basis = (
        f"{threads} busy core(s) x {watts_per_core:g} W per core, the Green Algorithms "
        "default per-core power (Lannelongue et al., Adv. Sci. 2021)"
    )
    return ModelledMeter(threads * watts_per_core, "cpu", basis)


def gpu_power_model(power: PowerModel | None = None, shared_by: int = 1) -> ModelledMeter:
    """The modelled power of a GPU job: the simulator's ``PowerModel.train_w``.

    Args:
        power: The power model (default: :class:`~cenas.engine.energy.PowerModel`, an A100 at
            300 W while training).
        shared_by: Jobs sharing the GPU; each is charged an equal share of ``train_w``.
    """
    from cenas.engine.energy import PowerModel  # here: the engine imports the meters

    power = power if power is not None else PowerModel()
    _check_shared_by(shared_by)
    basis = f"PowerModel.train_w = {power.train_w:g} W per training GPU"
    if shared_by > 1:
        basis += f", divided equally by {shared_by} jobs sharing the GPU"
    return ModelledMeter(power.train_w / shared_by, "gpu", basis)


def _check_shared_by(shared_by: int) -> None:
    if shared_by < 1:
        raise ValueError(f"shared_by must be >= 1, not {shared_by}")


# --------------------------------------------------------------------------- RAPL

_ZONE = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")
_COUNTED = re.compile(r"^(package-\d+|dram)$")


def _read_text(path: Path) -> str:
    """Read a small sysfs or procfs file (module-level so tests can make it fail)."""
    return path.read_text()


@dataclass(frozen=True)
class RaplDomain:
    """One counted RAPL zone.

    Attributes:
        zone: The powercap zone directory name (``intel-rapl:0``, ``intel-rapl:0:0``).
        name: Its ``name`` file (``package-0``, ``dram``).
        path: The zone directory.
        max_range_uj: The counter's range (``max_energy_range_uj``); it wraps to 0 there.
    """

    zone: str
    name: str
    path: Path
    max_range_uj: int

    def read_uj(self) -> int:
        """The cumulative counter now (µJ)."""
        return int(_read_text(self.path / "energy_uj").strip())


def _zone_key(zone: str) -> tuple[int, int]:
    m = _ZONE.match(zone)
    assert m is not None
    return int(m.group(1)), int(m.group(2)) if m.group(2) is not None else -1


def find_rapl_domains(root: str | os.PathLike[str] = DEFAULT_POWERCAP_ROOT) -> list[RaplDomain]:
    """The RAPL zones counted for CPU energy: every ``package-N`` and ``dram`` zone.

    ``core`` and ``uncore`` lie inside their package and are not counted again; ``psys``
    (the whole platform, on client machines) overlaps the package and is not counted;
    ``intel-rapl-mmio`` zones repeat the package and are not counted. Zones are looked for
    both at the top of ``root`` (the usual symbolic links) and nested inside their parents.

    Raises:
        MeterError: ``root`` is missing, or a counted zone's ``name`` or range is unreadable.
    """
    base = Path(root)
    if not base.is_dir():
        raise MeterError(f"no powercap tree at {base} (no RAPL driver, or not Linux)")
    found: dict[str, Path] = {}
    frontier = [base]
    for _ in range(3):  # root/intel-rapl:0, root/intel-rapl/intel-rapl:0/intel-rapl:0:0
        nxt: list[Path] = []
        for d in frontier:
            with contextlib.suppress(OSError):
                for child in sorted(d.iterdir()):
                    if not child.is_dir():
                        continue
                    if _ZONE.match(child.name):
                        found.setdefault(child.name, child)
                    if _ZONE.match(child.name) or child.name == "intel-rapl":
                        nxt.append(child)
        frontier = nxt
    domains: list[RaplDomain] = []
    for zone in sorted(found, key=_zone_key):
        path = found[zone]
        try:
            name = _read_text(path / "name").strip()
        except OSError as exc:
            raise MeterError(f"cannot read {path / 'name'}: {exc.strerror or exc}") from exc
        if not _COUNTED.match(name):
            continue
        try:
            max_range = int(_read_text(path / "max_energy_range_uj").strip())
        except (OSError, ValueError) as exc:
            raise MeterError(f"cannot read {path / 'max_energy_range_uj'}: {exc}") from exc
        domains.append(RaplDomain(zone, name, path, max_range))
    return domains


def rapl_available(
    root: str | os.PathLike[str] = DEFAULT_POWERCAP_ROOT,
    proc_root: str | os.PathLike[str] = DEFAULT_PROC_ROOT,
) -> Availability:
    """Whether RAPL package energy can be read here (and ``/proc/stat``, for attribution).

    Truthy when it can; ``reason`` names the domains found or what is missing or unreadable
    (an ``energy_uj`` readable by root only is reported as permission denied).
    """
    try:
        domains = find_rapl_domains(root)
    except MeterError as exc:
        return Availability(False, str(exc))
    if not any(d.name.startswith("package-") for d in domains):
        return Availability(False, f"no RAPL package zone under {root}")
    for d in domains:
        path = d.path / "energy_uj"
        try:
            d.read_uj()
        except PermissionError:
            return Availability(
                False,
                f"permission denied reading {path} (root-only since Linux 5.10, CVE-2020-8694)",
            )
        except (OSError, ValueError) as exc:
            return Availability(False, f"cannot read {path}: {exc}")
    try:
        _machine_busy_ticks(Path(proc_root))
    except MeterError as exc:
        return Availability(False, str(exc))
    return Availability(True, "readable: " + "+".join(d.name for d in domains))


def _machine_busy_ticks(proc_root: Path) -> int:
    """Busy CPU time of the whole machine since boot, in clock ticks, from ``/proc/stat``.

    Busy = user + nice + system + irq + softirq; idle and iowait are idle; steal (time a
    hypervisor ran something else) is not this machine's work; guest and guest_nice are
    already inside user and nice.
    """
    path = proc_root / "stat"
    try:
        first = _read_text(path).splitlines()[0].split()
        if first[0] != "cpu":
            raise ValueError("first line is not the 'cpu' total")
        user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in first[1:8])
    except (OSError, ValueError, IndexError) as exc:
        raise MeterError(f"cannot read machine CPU time from {path}: {exc}") from exc
    return user + nice + system + irq + softirq


def _process_cpu_ticks(proc_root: Path, pid: int) -> int:
    """CPU time (user + system, all threads) of process ``pid`` in clock ticks."""
    path = proc_root / str(pid) / "stat"
    try:
        text = _read_text(path)
        fields = text[text.rindex(")") + 2 :].split()  # the command may contain spaces
        return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5): utime, stime
    except (OSError, ValueError, IndexError) as exc:
        raise MeterError(f"cannot read CPU time of process {pid} from {path}: {exc}") from exc


class _RaplToken(MeterToken):
    def __init__(self, meter: RaplMeter, totals: dict[str, float], proc_s: float, busy_s: float):
        super().__init__(meter)
        self.totals = totals
        self.proc_s = proc_s
        self.busy_s = busy_s


class RaplMeter(EnergyMeter):
    """CPU package + DRAM energy from RAPL, attributed to a process by its CPU-time share.

    Several worker processes share one package, so a job is charged

        E_job = ΔE(packages + dram) × Δcpu(pid) / Δbusy(machine)

    over the interval: its process's CPU seconds (user + system of all its threads) over the
    whole machine's busy CPU seconds (from ``/proc/stat``). The package's idle draw is thus
    shared among the processes that were busy; when every worker process is metered the shares
    add up to the package energy. CPU time of child processes (data-loader workers) is not
    counted for ``pid``.

    Counters wrap at ``max_energy_range_uj`` (about 262 kJ, a quarter of an hour of a busy
    server package). A wrap between two reads is undone; so that an interval spans at most one
    wrap between reads, a background thread reads the counters every ``poll_s`` seconds while
    any interval of this meter is open.

    Args:
        root: The powercap sysfs root.
        pid: The process charged; ``None``: this process (CPU time from :func:`os.times`).
        proc_root: The procfs root (``/proc/stat``, ``/proc/<pid>/stat``).
        attribute: ``False``: charge the whole package(s) + DRAM energy, not a share.
        poll_s: Seconds between background reads of the counters; ``None``: no thread (a long
            interval may then miss wraps; call :meth:`poll` yourself).

    Raises:
        MeterError: RAPL cannot be read (see :func:`rapl_available`).
    """

    measured = True

    def __init__(
        self,
        root: str | os.PathLike[str] = DEFAULT_POWERCAP_ROOT,
        pid: int | None = None,
        *,
        proc_root: str | os.PathLike[str] = DEFAULT_PROC_ROOT,
        attribute: bool = True,
        poll_s: float | None = 5.0,
    ) -> None:
        if poll_s is not None and poll_s <= 0:
            raise ValueError("poll_s must be positive or None")
        status = rapl_available(root, proc_root)
        if not status:
            raise MeterError(f"RAPL: {status.reason}")
        self.root = Path(root)
        self.proc_root = Path(proc_root)
        self.pid = pid
        self.attribute = attribute
        self.poll_s = poll_s
        self.domains = find_rapl_domains(root)
        self.name = "rapl:" + "+".join(d.name for d in self.domains)
        self._tick = float(os.sysconf("SC_CLK_TCK"))
        self._lock = threading.Lock()
        self._last: dict[str, int] | None = None
        self._totals: dict[str, float] = {d.zone: 0.0 for d in self.domains}
        self._wraps = 0
        self._open = 0
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def poll(self) -> dict[str, float]:
        """Read the counters, fold any wrap into the running totals; totals per zone (J)."""
        raw = {}
        for d in self.domains:
            try:
                raw[d.zone] = d.read_uj()
            except (OSError, ValueError) as exc:
                raise MeterError(f"cannot read {d.path / 'energy_uj'}: {exc}") from exc
        with self._lock:
            if self._last is not None:
                for d in self.domains:
                    delta = raw[d.zone] - self._last[d.zone]
                    if delta < 0:  # wrapped past max_energy_range_uj back to 0
                        delta += d.max_range_uj
                        self._wraps += 1
                    self._totals[d.zone] += delta / 1e6
            self._last = raw
            return dict(self._totals)

    def _cpu_seconds(self) -> tuple[float, float]:
        busy = _machine_busy_ticks(self.proc_root) / self._tick
        if self.pid is None:
            t = os.times()
            return t.user + t.system, busy
        return _process_cpu_ticks(self.proc_root, self.pid) / self._tick, busy

    def _poll_loop(self, stop: threading.Event, every: float) -> None:
        while not stop.wait(every):
            with contextlib.suppress(MeterError):
                self.poll()

    def begin(self) -> MeterToken:
        """Start an interval: read the counters and the CPU times."""
        proc_s, busy_s = self._cpu_seconds()
        totals = self.poll()
        token = _RaplToken(self, totals, proc_s, busy_s)
        with self._lock:
            self._open += 1
            if self._open == 1 and self.poll_s is not None:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._poll_loop, args=(self._stop, self.poll_s), daemon=True
                )
                self._thread.start()
        return token

    def end(self, token: MeterToken) -> EnergyReading:
        """End the interval: the energy delta, attributed by CPU-time share."""
        seconds = self._close(token, _RaplToken)
        assert isinstance(token, _RaplToken)
        try:
            totals = self.poll()
            proc_s, busy_s = self._cpu_seconds()
        finally:
            self._release()
        parts = {d.zone: max(0.0, totals[d.zone] - token.totals[d.zone]) for d in self.domains}
        energy = sum(parts.values())
        breakdown = " + ".join(f"{d.name} {parts[d.zone]:.3f} J" for d in self.domains)
        if not self.attribute:
            detail = f"RAPL {breakdown} over {seconds:.3f} s: whole package(s), not attributed"
            return EnergyReading(energy, seconds, True, self.name, detail)
        d_proc = max(0.0, proc_s - token.proc_s)
        d_busy = max(0.0, busy_s - token.busy_s)
        who = "this process" if self.pid is None else f"process {self.pid}"
        if d_busy <= 0:
            share = 1.0 if d_proc > 0 else 0.0
            note = "no machine-wide busy CPU time recorded (interval below a clock tick)"
        else:
            share = min(1.0, d_proc / d_busy)
            note = f"{d_proc:.2f} CPU s of {d_busy:.2f} busy CPU s machine-wide"
            if d_proc > d_busy:
                note += ", capped at 1"
        detail = (
            f"RAPL {breakdown} = {energy:.3f} J over {seconds:.3f} s, attributed to {who} by "
            f"its CPU-time share {share:.4f} ({note})"
        )
        return EnergyReading(energy * share, seconds, True, self.name, detail)

    def _release(self) -> None:
        stop = thread = None
        with self._lock:
            self._open -= 1
            if self._open == 0:
                stop, thread = self._stop, self._thread
                self._stop = self._thread = None
        if stop is not None and thread is not None:
            stop.set()
            thread.join()

    @property
    def wraps(self) -> int:
        """Counter wrap-arounds undone so far."""
        return self._wraps


# --------------------------------------------------------------------------- NVML


class _NvmlToken(MeterToken):
    def __init__(self, meter: NvmlMeter, stack: contextlib.ExitStack[Any], reading: PhaseReading):
        super().__init__(meter)
        self.stack = stack
        self.reading = reading


class NvmlMeter(EnergyMeter):
    """One GPU's energy from NVML over each interval.

    The energy is the delta of NVML's cumulative energy counter
    (``nvmlDeviceGetTotalEnergyConsumption``); where the GPU lacks the counter (before Volta),
    the time integral of power samples taken every ``interval_s`` (``detail`` says which).
    Each open interval runs its own :class:`~cenas.meters.NvmlPowerSampler` phase, which also
    gives the mean and peak power.

    The reading is the *whole GPU's* energy over the interval: from inside one process NVML
    cannot tell which process drew the power. Where ``shared_by`` jobs share the GPU, each
    interval is charged an equal ``1/shared_by`` of it, and ``detail`` says so.

    Args:
        index: NVML device index (see :func:`nvml_index` for a CUDA device number).
        shared_by: Jobs sharing the GPU at once.
        interval_s: Seconds between power samples.
        nvml: The NVML module (``pynvml``); injectable for tests.

    Raises:
        MeterError: NVML is not installed.
    """

    measured = True

    def __init__(
        self,
        index: int = 0,
        shared_by: int = 1,
        *,
        interval_s: float = 0.1,
        nvml: ModuleType | None = None,
    ) -> None:
        _check_shared_by(shared_by)
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.index = index
        self.shared_by = shared_by
        self.interval_s = interval_s
        self._nvml = nvml if nvml is not None else _load_nvml()
        self.name = f"nvml:{index}"

    def begin(self) -> MeterToken:
        """Start an interval: read the counter and start sampling power.

        Raises:
            MeterError: NVML cannot read the GPU.
        """
        stack = contextlib.ExitStack()
        try:
            sampler = stack.enter_context(
                NvmlPowerSampler(self.index, interval_s=self.interval_s, nvml=self._nvml)
            )
            reading = stack.enter_context(sampler.phase("job"))
        except BaseException:
            stack.close()
            raise
        return _NvmlToken(self, stack, reading)

    def end(self, token: MeterToken) -> EnergyReading:
        """End the interval: the GPU's energy over it (an equal share if shared)."""
        self._close(token, _NvmlToken)
        assert isinstance(token, _NvmlToken)
        token.stack.close()
        r = token.reading
        source = (
            "NVML energy counter"
            if r.energy_source == "counter"
            else f"integral of {r.samples} NVML power samples (no energy counter on this GPU)"
        )
        energy = max(0.0, r.energy_j)
        detail = (
            f"GPU {self.index}: {energy:.3f} J over {r.seconds:.3f} s from the {source}; "
            f"mean {r.mean_w:.1f} W, peak {r.max_w:.1f} W; the whole GPU's energy"
        )
        if self.shared_by > 1:
            detail += (
                f", divided equally among {self.shared_by} jobs sharing the GPU (per-job "
                "energy is not measurable from one process)"
            )
        return EnergyReading(energy / self.shared_by, r.seconds, True, self.name, detail)


def nvml_index(cuda_index: int, environ: Mapping[str, str] | None = None) -> int:
    """The NVML index of CUDA device ``cuda:<cuda_index>`` as this process sees it.

    With ``CUDA_VISIBLE_DEVICES`` a list of numbers, ``cuda:k`` is its k-th entry; unset, the
    indices agree. This assumes ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` or identical GPUs (CUDA
    otherwise numbers the fastest GPU first, NVML by PCI bus).

    Raises:
        MeterError: ``CUDA_VISIBLE_DEVICES`` hides the device or names GPUs by UUID or MIG
            instance (not mapped here).
    """
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return cuda_index
    entries = [e.strip() for e in visible.split(",") if e.strip()]
    if cuda_index >= len(entries):
        raise MeterError(f"cuda:{cuda_index} is not in CUDA_VISIBLE_DEVICES={visible!r}")
    entry = entries[cuda_index]
    if not entry.isdigit():
        raise MeterError(
            f"CUDA_VISIBLE_DEVICES entry {entry!r} is not a device number (UUIDs and MIG "
            "instances are not mapped to NVML)"
        )
    return int(entry)


def nvml_status(index: int = 0, nvml: ModuleType | None = None) -> Availability:
    """Whether NVML can read GPU ``index``, and whether it has the energy counter."""
    try:
        lib = nvml if nvml is not None else _load_nvml()
    except MeterError as exc:
        return Availability(False, str(exc))
    try:
        lib.nvmlInit()
    except Exception as exc:
        return Availability(False, f"NVML cannot start: {exc}")
    try:
        handle = lib.nvmlDeviceGetHandleByIndex(index)
        try:
            lib.nvmlDeviceGetTotalEnergyConsumption(handle)
            how = "energy counter"
        except Exception:
            lib.nvmlDeviceGetPowerUsage(handle)
            how = "power samples (no energy counter)"
    except Exception as exc:
        return Availability(False, f"NVML cannot read GPU {index}: {exc}")
    finally:
        lib.nvmlShutdown()
    return Availability(True, f"GPU {index}: {how}")


def _nvml_count(nvml: ModuleType | None) -> int:
    lib = nvml if nvml is not None else _load_nvml()
    lib.nvmlInit()
    try:
        return int(lib.nvmlDeviceGetCount())
    finally:
        lib.nvmlShutdown()


# --------------------------------------------------------------------------- choice

_DEVICE = re.compile(r"^(cpu|cuda)(?::(\d+))?$")


def auto_meter(
    device: str,
    threads: int = 1,
    rapl_root: str | os.PathLike[str] = DEFAULT_POWERCAP_ROOT,
    shared_by: int = 1,
    *,
    pid: int | None = None,
    proc_root: str | os.PathLike[str] = DEFAULT_PROC_ROOT,
    nvml: ModuleType | None = None,
    power: PowerModel | None = None,
    environ: Mapping[str, str] | None = None,
) -> EnergyMeter:
    """The best meter for a job on ``device``.

    ``cuda`` / ``cuda:N``: :class:`NvmlMeter` of that GPU if NVML reads it, else the GPU power
    model (:func:`gpu_power_model`). ``cpu``: :class:`RaplMeter` if RAPL is readable, else the
    CPU power model (:func:`cpu_power_model` with ``threads`` busy cores).

    Args:
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        threads: The job's compute threads (CPU model only).
        rapl_root: The powercap sysfs root.
        shared_by: Jobs sharing the GPU (GPU meters only).
        pid: Process charged by RAPL (default: this process).
        proc_root: The procfs root.
        nvml: The NVML module; injectable for tests.
        power: The GPU power model (default :class:`~cenas.engine.energy.PowerModel`).
        environ: Environment for ``CUDA_VISIBLE_DEVICES`` (default: this process's).

    Raises:
        MeterError: ``device`` is not one of the forms above.
    """
    m = _DEVICE.match(device.strip())
    if m is None:
        raise MeterError(f"device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")
    if m.group(1) == "cpu":
        if m.group(2) is not None:
            raise MeterError(f"device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")
        status = rapl_available(rapl_root, proc_root)
        if status:
            return RaplMeter(rapl_root, pid, proc_root=proc_root)
        return _because(cpu_power_model(threads), f"RAPL not used: {status.reason}")
    cuda_index = int(m.group(2) or 0)
    try:
        index = nvml_index(cuda_index, environ)
    except MeterError as exc:
        return _because(gpu_power_model(power, shared_by), f"NVML not used: {exc}")
    gpu = nvml_status(index, nvml)
    if gpu:
        return NvmlMeter(index, shared_by, nvml=nvml)
    return _because(gpu_power_model(power, shared_by), f"NVML not used: {gpu.reason}")


def _because(model: ModelledMeter, reason: str) -> ModelledMeter:
    """``model`` with why no measuring meter was used added to its basis."""
    return ModelledMeter(model.watts, model.label, f"{model.basis}; {reason}")


class MeterInfo(NamedTuple):
    """One row of :func:`describe_meters`: a meter, whether it can be used here, and why."""

    meter: str
    available: bool
    reason: str


def describe_meters(
    rapl_root: str | os.PathLike[str] = DEFAULT_POWERCAP_ROOT,
    *,
    proc_root: str | os.PathLike[str] = DEFAULT_PROC_ROOT,
    nvml: ModuleType | None = None,
    power: PowerModel | None = None,
) -> list[MeterInfo]:
    """Every meter and whether it is available here (for ``cenas meters``).

    Rows: RAPL; one NVML row per GPU (or one ``nvml`` row saying why none); the two power
    models, always available and never measured. Each row is a
    ``(meter, available, reason)`` named tuple.
    """
    rows: list[MeterInfo] = []
    status = rapl_available(rapl_root, proc_root)
    rapl_name = "rapl"
    if status:
        rapl_name = "rapl:" + "+".join(d.name for d in find_rapl_domains(rapl_root))
    rows.append(MeterInfo(rapl_name, status.ok, status.reason))
    try:
        count = _nvml_count(nvml)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, MeterError) else f"NVML cannot start: {exc}"
        rows.append(MeterInfo("nvml", False, reason))
    else:
        if count == 0:
            rows.append(MeterInfo("nvml", False, "NVML sees no GPU"))
        for i in range(count):
            s = nvml_status(i, nvml)
            rows.append(MeterInfo(f"nvml:{i}", s.ok, s.reason))
    cpu = cpu_power_model(1)
    rows.append(MeterInfo(cpu.name, True, f"modelled, never measured: {cpu.basis}"))
    gpu = gpu_power_model(power)
    rows.append(MeterInfo(gpu.name, True, f"modelled, never measured: {gpu.basis}"))
    return rows


__all__ = [
    "CPU_WATTS_PER_CORE",
    "Availability",
    "EnergyMeter",
    "EnergyReading",
    "Measurement",
    "MeterInfo",
    "MeterToken",
    "ModelledMeter",
    "NvmlMeter",
    "RaplDomain",
    "RaplMeter",
    "auto_meter",
    "cpu_power_model",
    "describe_meters",
    "find_rapl_domains",
    "gpu_power_model",
    "nvml_index",
    "nvml_status",
    "rapl_available",
]
