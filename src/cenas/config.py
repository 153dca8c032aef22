"""Study configuration: the embedded default, TOML files, flags and validation."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import textwrap
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cenas.engine.energy import PowerModel
from cenas.errors import ConfigError

if TYPE_CHECKING:
    from cenas.engine.loop import EngineConfig
    from cenas.engine.signal import CarbonSignal
    from cenas.policy.base import Policy

DEFAULT_ZONE = "US-CAL-CISO"
DEFAULT_START = "2021-07-02T00:00:00+00:00"
CAP_RULES: tuple[str, ...] = ("efficient", "carbon")
"""How a study with power caps picks each step's level (see ``StudyConfig.cap_rule``)."""
DEFAULT_BUDGET_G = 15_000.0
"""Default carbon budget: 15 kg CO2eq, about 40 % of what 8 GPUs training for the whole
80-hour default window would emit on the default trace (37 kg)."""


@dataclass
class StudyConfig:
    """Everything that defines a study; stored with it and replayed on resume.

    Attributes:
        task: Benchmark task, ``nb201-<dataset>-<device>``.
        zone: Bundled trace zone, case-insensitive (stored in the zone's own spelling);
            not used when ``trace`` is given.
        trace: Path of a user trace (Electricity Maps export, or a CSV with ``timestamp``
            and ``value`` columns; other columns are ignored).
        kind: ``direct`` or ``lca`` intensity.
        fill_gaps: With ``trace``: interpolate gaps of at most this many missing hours
            (``0``: a gap is an error).
        value_column: With ``trace``: the column to read (``None``: ``value``, or the
            kind's intensity column of an Electricity Maps export).
        start: First hour of the window (UTC). ``None`` means 2021-07-02 00:00 UTC on a
            bundled trace (every zone) and the first hour of a user's trace; a study stores
            the start it resolved, never ``None``.
        hours: Time budget in hours.
        gpus: GPUs in the pool.
        step_hours: Hours per scheduling step.
        budget_g: Carbon budget in grams (``None``: unlimited).
        policy: Allocation policy name (default ``day-ahead``: the rule with the least
            carbon to a target on unseen windows, ``benchmarks/results/lever.txt``).
        estimator: Estimator name (see :data:`cenas.engine.evaluators.ESTIMATORS`);
            ``one-shot`` and ``few-shot`` need a CIFAR-10 task, ``zero-cost:<proxy>`` a proxy
            table that covers every cell.
        optimizer: Optimiser name.
        seed: Seed of everything random.
        queue_capacity: Candidate-queue bound (``None``: 4 per GPU).
        queue_policy: ``replace`` (keep estimating, drop the worst) or ``block``.
        estimate_ratio: Estimates allowed per training (``None``: unbounded).
        selection: How training picks from the queue: ``hvi`` (largest hypervolume gain
            of the estimate over the trained cells' estimates) or ``dominance`` (lowest
            dominance number within the queue).
        signal: What the policy sees of the coming hours: ``forecast`` (the zone's shipped
            transformer, or a lag regression fitted on a user trace's data before the
            window), ``actual`` (the trace's own future, hindsight) or ``auto`` (forecast
            whenever there is history enough before the window, else actual).
        zones: A spatial study: comma-separated bundled zones (``None``: one zone,
            ``zone``); each step runs in the zone whose coming hours are cleanest, paying
            ``migration_setup_s`` plus the checkpoints' transfer to move (every zone's window
            starts at the same UTC hour).
        migration_setup_s: Spatial: seconds to provision the pool in a new zone.
        checkpoint_gb: Spatial: GB of one unfinished job's checkpoint to move.
        release_delay_s: Seconds a GPU released in one step needs, in the next step it
            works, before it works again (provisioning or power-up; charged at idle power).
        release_idle: Whether a GPU left with nothing to do in a step is released for the
            rest of it (0 W in simulation, as a cloud GPU billed by the second; a live local
            device is not powered down, so its time stays at idle power) instead of idling.
        train_unscreened: Whether a training GPU with no queued candidate worth training
            trains an unscreened one anyway (``False``: it estimates instead).
        train_full_queue: With screened training, whether the best of a full queue trains
            even when its estimate adds nothing (no stall once estimation is capped).
        screen: Proposals each estimate is chosen among by a surrogate fitted on the
            estimates (``0``: none; NAS-Bench-201 cells only).
        steer: ``queue`` (estimates choose what trains) or ``optimizer`` (calibrated
            estimates also inform the optimiser's model of where good cells lie).
        power_caps: Power-cap levels the GPUs may run at: a table of
            :data:`cenas.engine.energy.POWER_CAP_TABLES` (``zeus-a40``, ``zeus-v100``:
            Zeus's published power-limit profiles); ``None``: caps off. Live caps set the
            GPUs' power limits through NVML (CUDA workers, and the permission to).
        cap_rule: With ``power_caps``, how each step's level is chosen: ``efficient`` (the
            level with the least energy per unit of training, every step) or ``carbon``
            (that level in the hours dirtier than the median of the coming day, uncapped in
            the cleaner ones).
        results: Simulation: when a job's result reaches the scheduler: ``at-finish`` (when
            the job finishes, as in live mode) or ``at-dispatch`` (when it starts, the
            look-ahead of the tabular simulator before the carbon lever).
        clock: ``simulated`` (time jumps) or ``wall`` (each step waits for real time).
        speedup: With the wall clock, how many times faster than real time it runs.
        power: GPU power model.
        live: Run real jobs (trainings and estimates of real networks on real data) on
            live workers instead of the tabular simulation; ``gpus`` is then the number of
            workers and ``task`` is not used (objectives: validation accuracy, parameters).
        backend: Live workers: ``local`` (one process per device slot) or ``ray``.
        data: Live: CIFAR copy to train on (``None``: the packaged CIFAR-10 subset).
        device: Live: ``cpu``, ``cuda`` (the workers share the visible GPUs in turn) or
            ``auto`` (``cuda`` when available).
        step_minutes: Live: wall-clock minutes of one step, each step replaying one hour of
            the trace (``None``: ``step_hours`` of real time).
        train_epochs: Live: epochs of a training job (NAS-Bench-201's recipe: 200).
        channels: Live: ``C`` of the trained networks (16 in NAS-Bench-201).
        cells_per_stage: Live: ``N`` of the trained networks (5 in NAS-Bench-201).
        threads: Live: torch threads of each CPU worker.
        max_retries: Live: restarts of a job that raised, before it counts as failed.
        runner: Live: ``module:function`` that runs one job (the NAS-Bench-201 trainer and
            estimators by default; a test or benchmark may plug in its own).
        carbon: Live: where each step's intensity comes from: ``trace`` (replay of the
            bundled zone or ``trace``, one trace hour per step), ``electricitymaps``
            (token in ``ELECTRICITYMAPS_TOKEN``) or ``watttime`` (``WATTTIME_USERNAME``,
            ``WATTTIME_PASSWORD``); on a provider error the last value and the forecast
            stand in, and each step records where its value came from.
        carbon_zone: Live: the provider's zone (Electricity Maps) or region (WattTime);
            ``None``: ``zone``.
        carbon_url: Live: the provider's base URL (``None``: its public API).
        space: Live: ``nb201`` (NAS-Bench-201 cells) or ``darts`` (DARTS normal and
            reduction cells, searched over a seeded pool of ``pool_size`` genotypes).
        layers: Live, ``darts``: cells of the trained networks (8 at DARTS's search size).
        pool_size: Live, ``darts``: genotypes in the seeded candidate pool the optimiser
            searches (the space itself, about 2.8e20 cells, is never enumerated).
    """

    task: str = "nb201-cifar10-fpga"
    zone: str = DEFAULT_ZONE
    trace: str | None = None
    kind: str = "direct"
    fill_gaps: int = 0
    value_column: str | None = None
    start: str | None = None
    hours: int = 80
    gpus: int = 8
    step_hours: float = 1.0
    budget_g: float | None = DEFAULT_BUDGET_G
    policy: str = "day-ahead"
    estimator: str = "low-fidelity"
    optimizer: str = "lamoo"
    seed: int = 0
    queue_capacity: int | None = None
    queue_policy: str = "replace"
    estimate_ratio: float | None = 8.0
    selection: str = "hvi"
    signal: str = "auto"
    zones: str | None = None
    migration_setup_s: float = 300.0
    checkpoint_gb: float = 0.05
    release_delay_s: float = 0.0
    release_idle: bool = True
    train_unscreened: bool = False
    train_full_queue: bool = True
    screen: int = 0
    steer: str = "optimizer"
    results: str = "at-finish"
    power_caps: str | None = None
    cap_rule: str = "efficient"
    clock: str = "simulated"
    speedup: float = 1.0
    power: PowerModel = field(default_factory=PowerModel)
    live: bool = False
    backend: str = "local"
    data: str | None = None
    device: str = "cpu"
    step_minutes: float | None = None
    train_epochs: int = 200
    channels: int = 16
    cells_per_stage: int = 5
    threads: int = 1
    max_retries: int = 2
    runner: str = "cenas.live._worker:run_nb201_job"
    carbon: str = "trace"
    carbon_zone: str | None = None
    carbon_url: str | None = None
    space: str = "nb201"
    layers: int = 8
    pool_size: int = 5000

    def validate(self) -> StudyConfig:
        """Check every field; raise :class:`ConfigError` with a one-line message.

        Types are checked first (see :func:`check_types`); an integer given for a float
        field is stored as a float.
        """
        from cenas.bench import parse_task_name

        for f in dataclasses.fields(self):
            if f.name != "power":
                value = _check_value(f.name, getattr(self, f.name), _hints()[f.name], "config")
                setattr(self, f.name, value)
        if not isinstance(self.power, PowerModel):
            raise ConfigError(
                f"config: power: expected a table of {', '.join(_power_keys())}, "
                f"got {_show(self.power)}"
            )
        for f in dataclasses.fields(self.power):
            _check_value(f"power.{f.name}", getattr(self.power, f.name), float, "config")
        from cenas.bench import get_task
        from cenas.engine.evaluators import check_estimator
        from cenas.policy.registry import POLICIES

        try:
            parse_task_name(self.task)
        except ValueError as exc:
            raise ConfigError(f"task: {exc}") from None
        if self.hours <= 0:
            raise ConfigError(f"hours: must be positive, got {self.hours}")
        if self.gpus <= 0:
            raise ConfigError(f"gpus: must be positive, got {self.gpus}")
        if self.step_hours <= 0:
            raise ConfigError(f"step_hours: must be positive, got {self.step_hours}")
        if self.step_hours != 1.0:
            raise ConfigError("step_hours: only 1-hour steps are supported on hourly traces")
        if self.budget_g is not None and self.budget_g <= 0:
            raise ConfigError(f"budget_g: must be positive, got {self.budget_g}")
        if self.policy not in POLICIES:
            raise ConfigError(
                f"policy: unknown {self.policy!r}; choose one of {', '.join(POLICIES)}"
            )
        if self.live:
            self._validate_live()
        else:
            check_estimator(self.estimator, get_task(self.task))
        from cenas.optimize import OPTIMIZERS

        if self.optimizer.strip().lower() not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer: unknown {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.kind not in ("direct", "lca"):
            raise ConfigError(f"kind: must be 'direct' or 'lca', got {self.kind!r}")
        if self.signal not in ("auto", "actual", "forecast"):
            raise ConfigError(
                f"signal: must be 'auto', 'actual' or 'forecast', got {self.signal!r}"
            )
        if self.queue_policy not in ("replace", "block"):
            raise ConfigError(
                f"queue_policy: must be 'replace' or 'block', got {self.queue_policy!r}"
            )
        if self.selection not in ("hvi", "dominance"):
            raise ConfigError(f"selection: must be 'hvi' or 'dominance', got {self.selection!r}")
        if self.estimate_ratio is not None and self.estimate_ratio <= 0:
            raise ConfigError(f"estimate_ratio: must be positive, got {self.estimate_ratio}")
        if self.zones is not None:
            from cenas.carbon import BUNDLED_ZONES

            names = self.zone_list
            if len(names) < 2 or len(set(names)) != len(names):
                raise ConfigError(f"zones: give two or more distinct zones, got {self.zones!r}")
            bad = [z for z in names if z not in BUNDLED_ZONES]
            if bad:
                raise ConfigError(
                    f"zones: unknown zone {bad[0]!r}; bundled zones are {', '.join(BUNDLED_ZONES)}"
                )
            if self.trace is not None or self.live:
                raise ConfigError("zones: a spatial study runs on bundled traces, in simulation")
        if self.migration_setup_s < 0 or self.checkpoint_gb < 0:
            raise ConfigError("migration_setup_s and checkpoint_gb must be non-negative")
        if self.release_delay_s < 0:
            raise ConfigError(f"release_delay_s: must be non-negative, got {self.release_delay_s}")
        if self.screen < 0:
            raise ConfigError(f"screen: must be non-negative, got {self.screen}")
        if self.screen > 1 and self.live and self.space != "nb201":
            raise ConfigError("screen: needs NAS-Bench-201 cells (space = 'nb201')")
        if self.power_caps is not None:
            from cenas.engine.energy import POWER_CAP_TABLES

            if self.power_caps not in POWER_CAP_TABLES:
                raise ConfigError(
                    f"power_caps: unknown table {self.power_caps!r}; choose one of "
                    f"{', '.join(POWER_CAP_TABLES)}"
                )
            if self.live and self.device == "cpu":
                raise ConfigError(
                    "power_caps: live power caps set GPU power limits through NVML; the "
                    "workers run on the cpu (device = 'cpu')"
                )
        if self.cap_rule not in CAP_RULES:
            raise ConfigError(
                f"cap_rule: must be one of {', '.join(CAP_RULES)}, got {self.cap_rule!r}"
            )
        if self.steer not in ("queue", "optimizer"):
            raise ConfigError(f"steer: must be 'queue' or 'optimizer', got {self.steer!r}")
        from cenas.engine.backend import RESULT_TIMINGS

        if self.results not in RESULT_TIMINGS:
            raise ConfigError(
                f"results: must be one of {', '.join(RESULT_TIMINGS)}, got {self.results!r}"
            )
        if self.clock not in ("simulated", "wall"):
            raise ConfigError(f"clock: must be 'simulated' or 'wall', got {self.clock!r}")
        if self.speedup <= 0:
            raise ConfigError(f"speedup: must be positive, got {self.speedup}")
        if self.queue_capacity is not None and self.queue_capacity <= 0:
            raise ConfigError(f"queue_capacity: must be positive, got {self.queue_capacity}")
        if self.fill_gaps < 0:
            raise ConfigError(f"fill_gaps: must be 0 or more hours, got {self.fill_gaps}")
        if self.trace is None and self.fill_gaps:
            raise ConfigError("fill_gaps: applies to a trace file; bundled traces have no gaps")
        if self.trace is None and self.value_column is not None:
            raise ConfigError("value_column: applies to a trace file, not to a bundled zone")
        if self.trace is None:
            from cenas.carbon import BUNDLED_ZONES, canonical_zone

            self.zone = canonical_zone(self.zone)
            if self.zone not in BUNDLED_ZONES:
                raise ConfigError(
                    f"zone: unknown {self.zone!r}; bundled zones are {', '.join(BUNDLED_ZONES)}"
                )
        return self

    def _validate_live(self) -> None:
        from cenas.estimators import LIVE_ESTIMATORS

        if self.backend not in ("local", "ray"):
            raise ConfigError(f"backend: must be 'local' or 'ray', got {self.backend!r}")
        if self.device not in ("cpu", "cuda", "auto") and not self.device.startswith("cuda:"):
            raise ConfigError(
                f"device: must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}"
            )
        # predictor and predictor:<base>: a GP in the coordinator (cenas.live._predictor),
        # on its own or on a base estimate that the workers compute
        base = self.estimator.removeprefix("predictor:")
        if self.estimator != "predictor" and base not in LIVE_ESTIMATORS:
            raise ConfigError(
                f"estimator: unknown live estimator {self.estimator!r}; choose one of "
                f"{', '.join(LIVE_ESTIMATORS)}, predictor or predictor:<one of those>"
            )
        if base in ("one-shot", "few-shot"):
            raise ConfigError(
                f"estimator: {self.estimator!r} needs a supernet trained before the search, "
                "which live mode does not schedule yet; use a zero-cost proxy, low-fidelity "
                "or predictor"
            )
        if self.space not in ("nb201", "darts"):
            raise ConfigError(f"space: must be 'nb201' or 'darts', got {self.space!r}")
        if self.space == "darts" and base == "zero-cost:vote":
            raise ConfigError(
                f"estimator: {self.estimator!r} does not apply to the darts space; use a "
                "zero-cost proxy (zero-cost:synflow, ...), low-fidelity or predictor"
            )
        if (
            self.estimator == "predictor"
            and self.estimate_ratio is None
            and self.queue_policy == "replace"
        ):
            raise ConfigError(
                "estimate_ratio: the live predictor answers estimates at once, so without a "
                "ratio it would estimate the whole space before it learned anything; set one"
            )
        if self.space == "darts" and self.layers < 3:
            raise ConfigError(f"layers: a DARTS network needs at least 3 cells, got {self.layers}")
        if self.pool_size < 1:
            raise ConfigError(f"pool_size: must be positive, got {self.pool_size}")
        if self.step_minutes is not None and self.step_minutes <= 0:
            raise ConfigError(f"step_minutes: must be positive, got {self.step_minutes}")
        for name in ("train_epochs", "channels", "cells_per_stage", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {getattr(self, name)}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries: must be 0 or more, got {self.max_retries}")
        if self.carbon not in ("trace", "electricitymaps", "watttime"):
            raise ConfigError(
                f"carbon: must be 'trace', 'electricitymaps' or 'watttime', got {self.carbon!r}"
            )
        if self.carbon != "trace" and self.policy == "clairvoyant":
            raise ConfigError(
                "policy: 'clairvoyant' reads the whole window ahead, which a live provider "
                "cannot give; use carbon = 'trace' or another policy"
            )
        if self.data is not None and not Path(self.data).exists():
            raise ConfigError(f"data: {self.data} does not exist")

    @property
    def zone_list(self) -> list[str]:
        """The zones of a spatial study (empty for one zone)."""
        if self.zones is None:
            return []
        return [z.strip() for z in self.zones.split(",") if z.strip()]

    def engine_config(self) -> EngineConfig:
        """The :class:`cenas.engine.EngineConfig` of this study (a live study's
        ``step_minutes`` becomes its step's length in seconds)."""
        from cenas.engine.loop import EngineConfig

        return EngineConfig(
            n_gpus=self.gpus,
            hours=self.hours,
            step_hours=self.step_hours,
            carbon_budget_g=self.budget_g,
            queue_capacity=self.queue_capacity,
            queue_policy=self.queue_policy,  # type: ignore[arg-type]
            estimate_ratio=self.estimate_ratio,
            selection=self.selection,  # type: ignore[arg-type]
            power=self.power,
            step_seconds=None if self.step_minutes is None else self.step_minutes * 60.0,
            release_delay_s=self.release_delay_s,
            release_idle=self.release_idle,
            train_unscreened=self.train_unscreened,
            train_full_queue=self.train_full_queue,
            screen=self.screen,
            steer=self.steer,  # type: ignore[arg-type]
            power_caps=self.cap_levels,
        )

    def make_policy(self, signal: CarbonSignal) -> Policy:
        """The policy this study names, with its cap rule when power caps are on.

        Args:
            signal: The study's carbon signal.
        """
        from cenas.policy.registry import make_policy

        return make_policy(
            self.policy,
            signal,
            self.gpus,
            self.power,
            self.budget_g,
            cap_rule=self.cap_rule if self.power_caps else None,
        )

    @property
    def cap_levels(self) -> tuple[Any, ...]:
        """The power-cap levels of ``power_caps`` (empty when caps are off)."""
        if self.power_caps is None:
            return ()
        from cenas.engine.energy import POWER_CAP_TABLES

        return POWER_CAP_TABLES[self.power_caps]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> StudyConfig:
        """Build from a dictionary, rejecting unknown keys.

        Raises:
            ConfigError: Naming ``source`` and the offending key.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r}")
        values = check_types(data, source)
        if isinstance(values.get("power"), dict):
            try:
                values["power"] = PowerModel(**values["power"])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{source}: power: {exc}") from None
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"{source}: {exc}") from None


@functools.cache
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(StudyConfig)


def _power_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(PowerModel)]


def _show(value: object) -> str:
    """A value as the user wrote it in TOML (booleans lower case, strings quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _check_value(key: str, value: object, hint: Any, source: str) -> Any:
    """``value`` checked against the declared type ``hint`` (and an int made a float).

    A boolean is not a number here, a float is not an integer (``2.0`` for a GPU count is
    refused), and a float must be finite. ``None`` is accepted where the type is optional.

    Raises:
        ConfigError: ``<source>: <key>: expected <type>, got <value>``.
    """
    optional = False
    base = hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        base = args[0]
    if value is None and optional:
        return None
    if base is float:  # numpy scalars are numbers too; a bool is not
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if ok and not math.isfinite(float(value)):  # type: ignore[arg-type]
            raise ConfigError(f"{source}: {key}: expected a finite number, got {_show(value)}")
        if ok:
            value = float(value)  # type: ignore[arg-type]
    elif base is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if ok:
            value = int(value)  # type: ignore[call-overload]
    else:
        ok = isinstance(value, base)
    if not ok:
        want = _TYPE_NAMES.get(base, getattr(base, "__name__", str(base)))
        if optional:
            want += " (or leave the key out)"
        raise ConfigError(f"{source}: {key}: expected {want}, got {_show(value)}")
    return value


def check_types(data: Mapping[str, Any], source: str = "config") -> dict[str, Any]:
    """Check each value of a config dictionary against :class:`StudyConfig`'s declared types.

    Keys must be fields of :class:`StudyConfig`; ``power`` is a table of
    :class:`~cenas.engine.energy.PowerModel` fields, checked key by key. Integers given for
    float fields become floats.

    Returns:
        A copy of ``data`` with the values checked (and ints in float fields converted).

    Raises:
        ConfigError: One line naming the key, the value and the expected type.
    """
    hints = _hints()
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key != "power":
            out[key] = _check_value(key, value, hints[key], source)
            continue
        if isinstance(value, PowerModel):
            value = dataclasses.asdict(value)
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"{source}: power: expected a table of {', '.join(_power_keys())}, "
                f"got {_show(value)}"
            )
        unknown = sorted(set(value) - set(_power_keys()))
        if unknown:
            raise ConfigError(f"{source}: unknown key 'power.{unknown[0]}'")
        out[key] = {k: _check_value(f"power.{k}", v, float, source) for k, v in value.items()}
    return out


def attribute_docs(cls: type) -> dict[str, str]:
    """The ``Attributes:`` section of a class's Google-style docstring, by attribute name."""
    docs: dict[str, str] = {}
    lines = (cls.__doc__ or "").splitlines()
    inside, current, indent = False, None, 0
    for line in lines:
        text = line.strip()
        if text == "Attributes:":
            inside, indent = True, len(line) - len(line.lstrip()) + 4
            continue
        if not inside:
            continue
        if not text:
            if current is not None:
                break
            continue
        here = len(line) - len(line.lstrip())
        if here == indent and ":" in text:
            current, _, rest = text.partition(":")
            docs[current] = rest.strip()
        elif here > indent and current is not None:
            docs[current] += " " + text
        else:
            break
    return docs


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _comment(text: str) -> list[str]:
    plain = text.replace("``None``", "not set").replace("``", "").replace(":data:", "")
    plain = plain.replace("`", "")
    return ["# " + line for line in textwrap.wrap(plain, width=86, break_on_hyphens=False)]


def default_toml(config: StudyConfig | None = None) -> str:
    """``config`` (default: the embedded default) as a TOML file for ``--config``.

    Every key of :class:`StudyConfig` is written, under ``[study]``, after a comment that
    explains it (from the class's docstring); a key whose value is ``None`` (TOML has no
    null) is written commented out. Reading the text back gives the same config.
    """
    from cenas.carbon import BUNDLED_ZONES
    from cenas.optimize import OPTIMIZERS
    from cenas.policy.registry import POLICIES

    config = config or StudyConfig()
    docs = attribute_docs(StudyConfig)
    choices = {"zone": BUNDLED_ZONES, "policy": POLICIES, "optimizer": OPTIMIZERS}
    power_docs = attribute_docs(PowerModel)
    out = [
        "# cenas study configuration: cenas search --config FILE (flags override keys).",
        "# Every key is optional; a key left out takes the default written here.",
        "",
        "[study]",
    ]
    for f in dataclasses.fields(StudyConfig):
        if f.name == "power":
            continue
        value = getattr(config, f.name)
        more = f" One of {', '.join(choices[f.name])}." if f.name in choices else ""
        out += _comment(f"{f.name}: {docs.get(f.name, '')}{more}")
        if value is None:
            out.append(f"# {f.name} =   (not set)")
        else:
            out.append(f"{f.name} = {_toml_value(value)}")
        out.append("")
    out += _comment(f"power: {docs.get('power', '').rstrip('.')}, in watts per GPU.")
    out.append("[study.power]")
    for f in dataclasses.fields(PowerModel):
        out += _comment(f"{f.name}: watts a GPU draws {power_docs.get(f.name, '').lower()}")
        out.append(f"{f.name} = {_toml_value(getattr(config.power, f.name))}")
    return "\n".join(out) + "\n"


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file (keys as in :class:`StudyConfig`, optionally under [study]).

    Raises:
        ConfigError: If the file is missing or not valid TOML.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    table = data.get("study", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{p}: study: expected a table of config keys, got {_show(table)}")
    return dict(table)


__all__ = [
    "DEFAULT_BUDGET_G",
    "DEFAULT_START",
    "DEFAULT_ZONE",
    "StudyConfig",
    "attribute_docs",
    "check_types",
    "default_toml",
    "load_config_file",
]
