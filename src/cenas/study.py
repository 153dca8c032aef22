"""Studies: build the engine from a config, persist every step in SQLite, resume.

A study is one run of the carbon-aware search. Its SQLite database holds the config, the
provenance (package versions, data digests), every step's allocation, energy and carbon,
every ledger entry, every job and every architecture with estimated and true objectives.

Resume works by deterministic replay: the engine is rebuilt from the stored config and
seed and re-runs the stored steps, checking each against the database (a mismatch means
the code or data changed and is reported, never silently merged); then the study
continues and appends. Each step is written in one SQLite transaction, so a study killed at
any point keeps every finished step and ends with the same result as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import platform
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cenas._git import git_commit
from cenas.bench import get_task
from cenas.carbon import CarbonTrace, load_bundled, load_trace, to_utc_hour
from cenas.config import DEFAULT_START, StudyConfig
from cenas.engine.backend import SimulatedBackend
from cenas.engine.clock import Clock, SimulatedClock, WallClock
from cenas.engine.evaluators import TabularTrainer, make_estimator
from cenas.engine.loop import Engine, EngineConfig, StepRecord
from cenas.engine.signal import CarbonSignal, NextHoursForecast
from cenas.errors import ConfigError, StudyError
from cenas.policy.registry import make_policy

if TYPE_CHECKING:  # the forecasters import torch: only when a study forecasts
    from cenas.carbon.forecast import Forecaster

STUDY_FORMAT = "cenas-study"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    step INTEGER PRIMARY KEY, hour_utc TEXT NOT NULL, intensity REAL NOT NULL,
    n_train INTEGER NOT NULL, n_estimate INTEGER NOT NULL, seconds REAL NOT NULL,
    energy_j REAL NOT NULL, carbon_g REAL NOT NULL, cum_carbon_g REAL NOT NULL,
    hv REAL NOT NULL, hv_ratio REAL NOT NULL, log_hv_diff REAL NOT NULL,
    n_trained INTEGER NOT NULL, n_estimated INTEGER NOT NULL, queue_len INTEGER NOT NULL,
    stop TEXT
);
CREATE TABLE IF NOT EXISTS ledger (
    step INTEGER NOT NULL, gpu INTEGER NOT NULL, kind TEXT NOT NULL, job_id INTEGER,
    seconds REAL NOT NULL, energy_j REAL NOT NULL, carbon_g REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, arch INTEGER NOT NULL, total_s REAL NOT NULL,
    done_s REAL NOT NULL, start_step INTEGER NOT NULL, end_step INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS archs (
    arch INTEGER PRIMARY KEY, arch_str TEXT NOT NULL, source TEXT NOT NULL,
    est_0 REAL, est_1 REAL, true_0 REAL, true_1 REAL,
    estimate_step INTEGER NOT NULL, train_step INTEGER NOT NULL
);
"""


# --------------------------------------------------------------------- building
def resolve_trace(config: StudyConfig) -> tuple[CarbonTrace, int]:
    """The study's trace and the offset of its window's first hour.

    Raises:
        ConfigError: If the window does not fit in the trace.
    """
    if config.trace is not None:
        trace = load_trace(
            config.trace,
            kind=config.kind,  # type: ignore[arg-type]
            fill_gaps=config.fill_gaps,
            value_column=config.value_column,
        )
        label = config.trace
        start = trace.start if config.start is None else to_utc_hour(config.start)
    else:
        trace = load_bundled(config.zone, kind=config.kind)  # type: ignore[arg-type]
        label = f"bundled trace {config.zone}"
        start = to_utc_hour(config.start or DEFAULT_START)
    offset = int((start - trace.start).total_seconds() // 3600)
    if not 0 <= offset < len(trace):
        raise ConfigError(
            f"start: {start.isoformat()} is outside {label} "
            f"[{trace.start.isoformat()}, {trace.end.isoformat()})"
        )
    if offset + config.hours > len(trace):
        raise ConfigError(
            f"hours: {label} has only {len(trace) - offset} hours from {start.isoformat()}, "
            f"shorter than the {config.hours}-hour time budget"
        )
    return trace, offset


AUTO_MIN_HISTORY = 28 * 24
"""Hours of a user's trace before the window for ``signal="auto"`` to fit a forecaster."""


def _uses_pretrained(config: StudyConfig) -> bool:
    from cenas.carbon.forecast import pretrained_zones

    return config.trace is None and config.kind == "direct" and config.zone in pretrained_zones()


def _forecaster(config: StudyConfig) -> Forecaster:
    """The shipped transformer of a bundled zone, else an unfitted lag regression."""
    from cenas.carbon.forecast import load_pretrained, make_forecaster

    if _uses_pretrained(config):
        return load_pretrained(config.zone)
    return make_forecaster("lag-regression")


def resolve_signal(config: StudyConfig, offset: int, model: Forecaster | None = None) -> str:
    """``actual`` or ``forecast``: what the study's policy sees.

    ``auto`` (the default) means the forecast whenever one can be issued without
    look-ahead: a bundled zone with a shipped transformer and its input history before the
    window, or any trace with at least :data:`AUTO_MIN_HISTORY` hours before the window to
    fit a lag regression on; otherwise the actual intensities.

    Args:
        config: The study configuration.
        offset: Hours of the trace before the window.
        model: The study's forecaster, if already loaded (see :func:`forecast_source`).
    """
    if config.signal != "auto":
        return config.signal
    if _uses_pretrained(config):
        need = (model or _forecaster(config)).min_history
    else:
        need = AUTO_MIN_HISTORY
    return "forecast" if offset >= need else "actual"


def build_signal(config: StudyConfig, trace: CarbonTrace, offset: int) -> CarbonSignal:
    """The carbon signal: actual intensities plus the configured forecast source."""
    model = _forecaster(config) if config.signal != "actual" else None
    forecast = None
    if resolve_signal(config, offset, model) == "forecast":
        forecast = forecast_source(config, trace, offset, model)
    return CarbonSignal(trace, offset, config.hours, forecast=forecast)


FORECAST_HORIZON = 24
"""Hours of forecast the policies see (the daily cycle)."""


def forecast_source(
    config: StudyConfig, trace: CarbonTrace, offset: int, model: Forecaster | None = None
) -> NextHoursForecast:
    """The forecast a study's policy sees: the shipped transformer of a bundled zone, or,
    for a user's trace, a lag regression fitted on the trace's data before the window.

    Every forecast is issued from data before the hour it is used in (no look-ahead).
    ``model`` is the forecaster :func:`build_signal` already loaded, if any.
    """
    from cenas.carbon.forecast import ForecastSignal

    window_start = trace.start + pd.Timedelta(hours=offset)
    signal = ForecastSignal(
        trace, model or _forecaster(config), FORECAST_HORIZON, window_start=window_start
    )
    signal.prefetch(config.hours + 1)
    return NextHoursForecast(signal)


def build_engine(
    config: StudyConfig,
    on_step: Callable[[StepRecord, Engine], None] | None = None,
    signal: CarbonSignal | None = None,
) -> Engine:
    """Assemble the engine a config describes (simulation on the tabular benchmark)."""
    from cenas.optimize import make_optimizer

    config.validate()
    task = get_task(config.task)
    if signal is None:
        trace, offset = resolve_trace(config)
        signal = build_signal(config, trace, offset)
    engine_cfg = EngineConfig(
        n_gpus=config.gpus,
        hours=config.hours,
        step_hours=config.step_hours,
        carbon_budget_g=config.budget_g,
        queue_capacity=config.queue_capacity,
        queue_policy=config.queue_policy,  # type: ignore[arg-type]
        estimate_ratio=config.estimate_ratio,
        selection=config.selection,  # type: ignore[arg-type]
        power=config.power,
    )
    try:
        optimizer = make_optimizer(config.optimizer, task.space, task.ref_point, seed=config.seed)
    except ValueError as exc:
        raise ConfigError(f"optimizer: {exc}") from None
    clock: Clock = WallClock(speedup=config.speedup) if config.clock == "wall" else SimulatedClock()
    policy = make_policy(config.policy, signal, config.gpus, config.power, config.budget_g)
    backend = SimulatedBackend(
        config.gpus,
        make_estimator(config.estimator, task, seed=config.seed),
        TabularTrainer(task),
        config.power,
    )
    return Engine(
        engine_cfg,
        task,
        optimizer,
        backend,
        policy,
        signal,
        clock=clock,
        on_step=on_step,
    )


def provenance(config: StudyConfig) -> dict[str, Any]:
    """Versions, the git commit and data digests behind a result."""
    versions: dict[str, str | None] = {}
    for pkg in (
        "cenas",
        "numpy",
        "scikit-learn",
        "torch",
        "botorch",
        "moocore",
        "pymoo",
        "stable-baselines3",
        "statsmodels",
        "pandas",
    ):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    data: dict[str, str] = {}
    nb201 = resources.files("cenas") / "data" / "nb201" / "nb201.csv.gz"
    data["nb201.csv.gz"] = hashlib.sha256(nb201.read_bytes()).hexdigest()
    if config.trace is not None:
        data[config.trace] = hashlib.sha256(Path(config.trace).read_bytes()).hexdigest()
    else:
        for f in sorted((resources.files("cenas") / "data" / "carbon").iterdir(), key=str):
            if f.name.startswith(f"{config.zone}_"):
                data[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
    return {
        "git_commit": git_commit(),
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "data_sha256": data,
    }


# ---------------------------------------------------------------------- storage
def folder_problem(path: str | Path) -> str | None:
    """Why a folder cannot be created (or written) at ``path``; ``None`` if it can.

    Looks at the nearest part of ``path`` that exists: it must be a folder the user may
    write in (``path`` itself, if it exists, or the folder it would be created in).
    """
    p = Path(path).absolute()
    while not p.exists() and p.parent != p:
        p = p.parent
    if not p.is_dir():
        return f"{p} is a file, not a folder"
    if not os.access(p, os.W_OK | os.X_OK):
        return f"{p} is not writable"
    return None


def integrity_problem(conn: sqlite3.Connection) -> str | None:
    """The first problem SQLite's ``PRAGMA integrity_check`` finds, or ``None`` if none.

    The check reads every page (a study database is small), so garbage anywhere in the
    b-trees is found on open instead of mid-replay.
    """
    try:
        rows = conn.execute("PRAGMA integrity_check(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    lines = [ln.strip() for r in rows for ln in str(r[0]).splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("***")]
    if lines == ["ok"]:
        return None
    return lines[0] if lines else "unknown problem"


class Study:
    """A study stored in ``<directory>/study.db``.

    Use :meth:`create` for a new study and :meth:`open` to resume one.
    """

    def __init__(self, directory: Path, config: StudyConfig, conn: sqlite3.Connection) -> None:
        self.directory = directory
        self.config = config
        self.conn = conn
        self.engine: Engine | None = None
        self._built: Engine | None = None  # the engine create() built, until run() takes it

    @property
    def db_path(self) -> Path:
        """Path of the SQLite database."""
        return self.directory / "study.db"

    @classmethod
    def create(cls, directory: str | Path, config: StudyConfig) -> Study:
        """Start a new study in ``directory`` (which must not hold one).

        Everything is checked before anything is written: the config, the window, and the
        engine itself is built (optimiser, policy, estimator, forecaster), so a study folder
        exists only once the study can run; :meth:`run` then uses that engine.

        Raises:
            StudyError: If a study already exists there.
            CenasError: If any option is invalid (nothing is created then).
        """
        config.validate()
        trace, offset = resolve_trace(config)  # the window must fit before anything is written
        if config.start is None:  # store the start actually used, not the default's null
            first = trace.start + pd.Timedelta(hours=offset)
            config = dataclasses.replace(config, start=first.isoformat())
        path = Path(directory)
        if (path / "study.db").exists():
            raise StudyError(f"{path}: a study already exists there; resume it or pick a new name")
        problem = folder_problem(path)
        if problem is not None:
            raise StudyError(f"{path}: cannot create the study folder ({problem})")
        engine = build_engine(config)  # fails here, before the folder exists, if it cannot run
        made = next((p for p in (path, *path.parents) if p.exists()), None)
        try:
            path.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path / "study.db")
            conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            _remove_new_folders(path, made)
            raise StudyError(f"{path}: cannot create the study ({exc})") from None
        now = datetime.now(UTC).isoformat()
        with conn:
            conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)",
                [
                    ("format", STUDY_FORMAT),
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("name", path.name),
                    ("config", json.dumps(config.to_dict())),
                    ("provenance", json.dumps(provenance(config))),
                    ("created", now),
                    ("status", "running"),
                ],
            )
        study = cls(path, config, conn)
        study._built = engine
        return study

    @classmethod
    def open(cls, directory: str | Path) -> Study:
        """Open an existing study.

        Raises:
            StudyError: If it is missing, corrupt or not a cenas study.
        """
        path = Path(directory)
        db = path / "study.db"
        if not db.exists():
            raise StudyError(f"{db}: no study database there")
        try:
            conn = sqlite3.connect(db)
            rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise StudyError(f"{db}: not a readable study database ({exc})") from None
        problem = integrity_problem(conn)
        if problem is not None:
            conn.close()
            raise StudyError(
                f"{db}: damaged study database (SQLite integrity check: {problem}); "
                "restore a copy or start a new study"
            )
        if rows.get("format") != STUDY_FORMAT:
            raise StudyError(f"{db}: not a cenas study database")
        if rows.get("schema_version") != str(SCHEMA_VERSION):
            raise StudyError(f"{db}: schema version {rows.get('schema_version')} is not supported")
        try:
            data = json.loads(rows["config"])
            # studies stored before the queue rule was an option ran the dominance rule
            data.setdefault("selection", "dominance")
            config = StudyConfig.from_dict(data, source=str(db))
        except (KeyError, json.JSONDecodeError, AttributeError) as exc:
            raise StudyError(f"{db}: stored config is corrupt ({exc})") from None
        return cls(path, config, conn)

    def check_writable(self) -> None:
        """Check that the study can be continued here: its folder and database writable.

        A write is tried (the time of this run goes into ``meta``), so a database that
        opened read-only is found before any step is replayed.

        Raises:
            StudyError: One line naming what cannot be written.
        """
        for target in (self.directory, self.db_path):
            if not os.access(target, os.W_OK):
                raise StudyError(f"{target}: not writable; cannot resume the study")
        try:
            with self.conn:
                self.conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('last_run', ?)",
                    (datetime.now(UTC).isoformat(),),
                )
        except sqlite3.DatabaseError as exc:
            raise StudyError(f"{self.db_path}: cannot resume the study ({exc})") from None

    @contextlib.contextmanager
    def _database(self, doing: str) -> Iterator[None]:
        """Turn any SQLite error while ``doing`` into a one-line :class:`StudyError`."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StudyError(f"{self.db_path}: cannot {doing} ({exc})") from None

    def meta(self, key: str) -> str | None:
        """A metadata value.

        Raises:
            StudyError: If the database cannot be read.
        """
        with self._database("read the study database"):
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def stored_steps(self) -> list[dict[str, Any]]:
        """Stored step rows, in order.

        Raises:
            StudyError: If the database cannot be read.
        """
        with self._database("read the study database"):
            cur = self.conn.execute("SELECT * FROM steps ORDER BY step")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    # ---------------------------------------------------------------- running
    def run(
        self,
        progress: Callable[[StepRecord, Engine], None] | None = None,
        engine_factory: Callable[..., Engine] = build_engine,
    ) -> Engine:
        """Run (or resume) the study to its end, persisting each step atomically.

        Raises:
            StudyError: If the study cannot be written (checked before any replay), or a
                replayed step differs from the stored one.
        """
        self.check_writable()
        stored = self.stored_steps()
        replaying = {"n": len(stored)}

        def on_step(record: StepRecord, engine: Engine) -> None:
            if record.step < replaying["n"]:
                self._check_replay(stored[record.step], record)
            else:
                self._persist(record, engine)
            if progress is not None:
                progress(record, engine)

        if self._built is not None and not stored and engine_factory is build_engine:
            engine, self._built = self._built, None
            engine.on_step = on_step
        else:
            engine = engine_factory(self.config, on_step=on_step)
        engine.replay_until = len(stored)
        self.engine = engine
        engine.run()
        with self._database("write the study database"), self.conn:
            self.conn.execute("UPDATE meta SET value = 'finished' WHERE key = 'status'")
            self.conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('summary', ?)",
                (json.dumps(engine.summary()),),
            )
        return engine

    def _check_replay(self, row: dict[str, Any], record: StepRecord) -> None:
        same = (
            row["n_train"] == record.n_train
            and math.isclose(row["carbon_g"], record.carbon_g, rel_tol=1e-9, abs_tol=1e-9)
            and math.isclose(row["hv"], record.hv, rel_tol=1e-9, abs_tol=1e-9)
            and row["n_trained"] == record.n_trained
        )
        if not same:
            raise StudyError(
                f"{self.db_path}: cannot resume: replaying step {record.step} gave a different "
                "result than stored (the code or data changed since the study ran)"
            )

    def _persist(self, record: StepRecord, engine: Engine) -> None:
        hour = engine.signal.trace.start + np.timedelta64(engine.signal.start + record.step, "h")
        entries = [e for e in engine.ledger.entries if e.step == record.step]
        job_ids = {e.job_id for e in entries if e.job_id is not None}
        jobs = [engine.jobs[j] for j in sorted(job_ids)]
        archs = [engine.archs[j.arch] for j in jobs if j.kind != "init"]
        task = engine.task
        with self._database(f"write step {record.step} to the study database"), self.conn:
            self.conn.execute(
                "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.step,
                    str(hour),
                    record.intensity,
                    record.n_train,
                    record.n_estimate,
                    record.seconds,
                    record.energy_j,
                    record.carbon_g,
                    record.cum_carbon_g,
                    record.hv,
                    record.hv_ratio,
                    record.log_hv_diff,
                    record.n_trained,
                    record.n_estimated,
                    record.queue_len,
                    record.stop,
                ),
            )
            self.conn.executemany(
                "INSERT INTO ledger VALUES (?,?,?,?,?,?,?)",
                [
                    (e.step, e.gpu, e.kind, e.job_id, e.seconds, e.energy_j, e.carbon_g)
                    for e in entries
                ],
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?)",
                [
                    (j.id, j.kind, j.arch, j.total_s, j.done_s, j.start_step, j.end_step)
                    for j in jobs
                ],
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO archs VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        a.arch,
                        task.arch_str(a.arch),
                        a.source,
                        *(a.estimated.tolist() if a.estimated is not None else (None, None)),
                        *(a.true.tolist() if a.true is not None else (None, None)),
                        a.estimate_step,
                        a.train_step,
                    )
                    for a in archs
                ],
            )

    def close(self) -> None:
        """Close the database."""
        self.conn.close()


def _remove_new_folders(path: Path, existing: Path | None) -> None:
    """Undo a failed :meth:`Study.create`: remove the folders it made below ``existing``
    (the part of ``path`` that existed before), or only the database if ``path`` existed."""
    if existing is None or existing == path:
        (path / "study.db").unlink(missing_ok=True)
        return
    top = path
    while top.parent != existing and top.parent != top:
        top = top.parent
    shutil.rmtree(top, ignore_errors=True)


__all__ = [
    "Study",
    "build_engine",
    "build_signal",
    "folder_problem",
    "integrity_problem",
    "provenance",
    "resolve_signal",
    "resolve_trace",
]
