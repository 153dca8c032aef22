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
from typing import Any

import numpy as np
import pandas as pd

from cenas._git import git_commit
from cenas.bench import get_task
from cenas.config import StudyConfig
from cenas.engine.backend import SimulatedBackend
from cenas.engine.clock import Clock, SimulatedClock, WallClock
from cenas.engine.evaluators import TabularTrainer, make_estimator
from cenas.engine.loop import Engine, StepRecord
from cenas.engine.signal import CarbonSignal
from cenas.engine.spatial import MigrationCost
from cenas.errors import ConfigError, StudyError
from cenas.signals import build_signal, resolve_signal, resolve_trace

STUDY_FORMAT = "cenas-study"
SCHEMA_VERSION = 4
"""Storage format. 4 added ``steps.cap`` (the step's power-cap level, default 0: uncapped).
3 added ``steps.n_release`` (GPUs released in the step, default 0).
2 added, without changing a version-1 column: ``ledger.measured`` and
``ledger.meter`` (was the energy measured, by which meter), ``jobs.attempts`` and
``jobs.status``, ``archs.encoding`` (the space's JSON encoding) and ``archs.estimated`` /
``archs.objectives`` (JSON lists, any number of objectives), and nullable
``steps.log_hv_diff`` values (a live task has no HV_max). A version-1 database gains the new
columns (with their defaults) when it is opened and resumes as before; so does a version-2
one."""

LEGACY_ENGINE: dict[str, Any] = {
    "results": "at-dispatch",
    "train_unscreened": True,
    "train_full_queue": False,
    "steer": "queue",
    "screen": 0,
    "release_delay_s": 0.0,
    "release_idle": False,
    "power_caps": None,
}
"""The engine settings of a study stored before they existed (before the carbon lever)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    step INTEGER PRIMARY KEY, hour_utc TEXT NOT NULL, intensity REAL NOT NULL,
    n_train INTEGER NOT NULL, n_estimate INTEGER NOT NULL, seconds REAL NOT NULL,
    energy_j REAL NOT NULL, carbon_g REAL NOT NULL, cum_carbon_g REAL NOT NULL,
    hv REAL NOT NULL, hv_ratio REAL NOT NULL, log_hv_diff REAL,
    n_trained INTEGER NOT NULL, n_estimated INTEGER NOT NULL, queue_len INTEGER NOT NULL,
    stop TEXT, n_release INTEGER NOT NULL DEFAULT 0, cap INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ledger (
    step INTEGER NOT NULL, gpu INTEGER NOT NULL, kind TEXT NOT NULL, job_id INTEGER,
    seconds REAL NOT NULL, energy_j REAL NOT NULL, carbon_g REAL NOT NULL,
    measured INTEGER NOT NULL DEFAULT 0, meter TEXT NOT NULL DEFAULT 'model'
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, arch INTEGER NOT NULL, total_s REAL NOT NULL,
    done_s REAL NOT NULL, start_step INTEGER NOT NULL, end_step INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS archs (
    arch INTEGER PRIMARY KEY, arch_str TEXT NOT NULL, source TEXT NOT NULL,
    est_0 REAL, est_1 REAL, true_0 REAL, true_1 REAL,
    estimate_step INTEGER NOT NULL, train_step INTEGER NOT NULL,
    encoding TEXT, estimated TEXT, objectives TEXT
);
CREATE TABLE IF NOT EXISTS signal (step INTEGER PRIMARY KEY, provenance TEXT NOT NULL);
"""

_MIGRATE_1_TO_2 = (
    "ALTER TABLE ledger ADD COLUMN measured INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE ledger ADD COLUMN meter TEXT NOT NULL DEFAULT 'model'",
    "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs ADD COLUMN status TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE archs ADD COLUMN encoding TEXT",
    "ALTER TABLE archs ADD COLUMN estimated TEXT",
    "ALTER TABLE archs ADD COLUMN objectives TEXT",
    "CREATE TABLE IF NOT EXISTS signal (step INTEGER PRIMARY KEY, provenance TEXT NOT NULL)",
)
_MIGRATE_2_TO_3 = ("ALTER TABLE steps ADD COLUMN n_release INTEGER NOT NULL DEFAULT 0",)
_MIGRATE_3_TO_4 = ("ALTER TABLE steps ADD COLUMN cap INTEGER NOT NULL DEFAULT 0",)


# --------------------------------------------------------------------- building
def build_engine(
    config: StudyConfig,
    on_step: Callable[[StepRecord, Engine], None] | None = None,
    signal: CarbonSignal | None = None,
) -> Engine:
    """Assemble the engine a config describes (simulation on the tabular benchmark)."""
    from cenas.optimize import make_optimizer

    config.validate()
    task = get_task(config.task)
    zones = None
    if signal is None and config.zone_list:
        from cenas.engine.spatial import ZoneSignal
        from cenas.policy._spatial import GreedyZoneChooser

        signals = {}
        for zone in config.zone_list:
            one = dataclasses.replace(config, zone=zone, zones=None)
            trace, offset = resolve_trace(one)
            signals[zone] = build_signal(one, trace, offset)
        first = config.zone if config.zone in signals else None
        signal = ZoneSignal(signals, first=first)
        zones = GreedyZoneChooser()
    if signal is None:
        trace, offset = resolve_trace(config)
        signal = build_signal(config, trace, offset)
    engine_cfg = config.engine_config()
    try:
        optimizer = make_optimizer(config.optimizer, task.space, task.ref_point, seed=config.seed)
    except ValueError as exc:
        raise ConfigError(f"optimizer: {exc}") from None
    clock: Clock = WallClock(speedup=config.speedup) if config.clock == "wall" else SimulatedClock()
    policy = config.make_policy(signal)
    backend = SimulatedBackend(
        config.gpus,
        make_estimator(config.estimator, task, seed=config.seed),
        TabularTrainer(task),
        config.power,
        results=config.results,  # type: ignore[arg-type]
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
        zones=zones,
        migration=MigrationCost(
            setup_s=config.migration_setup_s, checkpoint_gb=config.checkpoint_gb
        ),
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
    if config.live:  # the images a live study trains on
        data["training data"] = _data_digest(config.data)
    return {
        "git_commit": git_commit(),
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "data_sha256": data,
    }


def _data_digest(path: str | None) -> str:
    """sha256 of a live study's data: the packaged subset's tar, a data file, or for a folder
    the digest of its files' relative paths and sizes (reading every image would take minutes)."""
    if path is None:
        tar = resources.files("cenas") / "data" / "cifar10-subset" / "cifar10-subset.tar"
        return hashlib.sha256(tar.read_bytes()).hexdigest()
    p = Path(path)
    h = hashlib.sha256()
    if p.is_file():
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        h.update(f"{f.relative_to(p)}:{f.stat().st_size}\n".encode())
    return "listing:" + h.hexdigest()


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
        self._schema = SCHEMA_VERSION

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
        # fails here, before the folder exists, if it cannot run
        engine = _check_live(config, path) if config.live else build_engine(config)
        made = next((p for p in (path, *path.parents) if p.exists()), None)
        try:
            path.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path / "study.db")
            conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            _remove_new_folders(path, made)
            engine.backend.close()
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
        version = rows.get("schema_version")
        if version not in ("1", "2", "3", str(SCHEMA_VERSION)):
            raise StudyError(f"{db}: schema version {version} is not supported")
        try:
            data = json.loads(rows["config"])
            # studies stored before the queue rule was an option ran the dominance rule
            data.setdefault("selection", "dominance")
            # and those stored before the carbon lever ran the engine without it: results
            # known at dispatch, every proposal trainable, no steering, every estimate at
            # estimate_w
            for key, value in LEGACY_ENGINE.items():
                data.setdefault(key, value)
            power = data.get("power")
            if isinstance(power, dict) and "estimate_w" in power:
                for key in ("inference_w", "proxy_w"):
                    power.setdefault(key, power["estimate_w"])
            config = StudyConfig.from_dict(data, source=str(db))
        except (KeyError, json.JSONDecodeError, AttributeError) as exc:
            raise StudyError(f"{db}: stored config is corrupt ({exc})") from None
        study = cls(path, config, conn)
        study._schema = int(version or 0)
        return study

    def _migrate(self) -> None:
        """Bring a version-1, -2 or -3 database to the current schema (new columns,
        defaults)."""
        if self._schema >= SCHEMA_VERSION:
            return
        statements = (
            *(_MIGRATE_1_TO_2 if self._schema < 2 else ()),
            *(_MIGRATE_2_TO_3 if self._schema < 3 else ()),
            *_MIGRATE_3_TO_4,
        )
        with self._database("upgrade the study database"), self.conn:
            for statement in statements:
                self.conn.execute(statement)
            self.conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
        self._schema = SCHEMA_VERSION

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
        self._migrate()
        if self.config.live:
            return self._run_live(progress)
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

    # ----------------------------------------------------------------- live
    def _run_live(self, progress: Callable[[StepRecord, Engine], None] | None) -> Engine:
        """Run or continue a live study: live jobs cannot be replayed, so a resumed study
        restores its state from the database (see :meth:`_restore_live`)."""
        from cenas.live import build_live_engine

        stored = self.stored_steps()

        def on_step(record: StepRecord, engine: Engine) -> None:
            self._persist(record, engine)
            if progress is not None:
                progress(record, engine)

        if self._built is not None and not stored:
            engine, self._built = self._built, None
            engine.on_step = on_step
        else:
            engine = build_live_engine(self.config, self.directory, on_step=on_step)
        self.engine = engine
        try:
            if stored:
                self._restore_live(engine, stored)
            engine.run()
        finally:
            engine.backend.close()
        with self._database("write the study database"), self.conn:
            self.conn.execute("UPDATE meta SET value = 'finished' WHERE key = 'status'")
            self.conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('summary', ?)",
                (json.dumps(engine.summary()),),
            )
        return engine

    def _restore_live(self, engine: Engine, stored: list[dict[str, Any]]) -> None:
        """Put a live study's stored state back into a fresh engine.

        Every finished result is kept (trained cells are told to the optimiser again, which
        never proposes a stored cell), queued estimates go back to the queue, unfinished jobs
        are paused and resume from their checkpoints in ``jobs/<id>``, and the ledger and
        step records are reloaded. Checkpoints of jobs the killed coordinator never stored
        are removed (their ids are given again).
        """
        from cenas.engine.backend import Job
        from cenas.engine.energy import LedgerEntry
        from cenas.engine.loop import Arch

        with self._database("read the study database"):
            ledger = self.conn.execute(
                "SELECT step, gpu, kind, job_id, seconds, energy_j, carbon_g, measured, meter "
                "FROM ledger ORDER BY rowid"
            ).fetchall()
            jobs = self.conn.execute(
                "SELECT id, kind, arch, total_s, done_s, start_step, end_step, attempts, status "
                "FROM jobs ORDER BY id"
            ).fetchall()
            archs = self.conn.execute(
                "SELECT arch, source, estimated, objectives, estimate_step, train_step FROM archs"
            ).fetchall()
        fields = {f.name for f in dataclasses.fields(StepRecord)}
        for row in stored:
            values = {k: v for k, v in row.items() if k in fields}
            if values["log_hv_diff"] is None:
                values["log_hv_diff"] = math.nan
            engine.records.append(StepRecord(**values))
        engine.step_index = len(stored)
        engine.cum_carbon_g = float(stored[-1]["cum_carbon_g"])
        engine.stop_reason = stored[-1]["stop"]
        engine.ledger.entries.extend(
            LedgerEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8]) for r in ledger
        )
        last = engine.step_index - 1
        engine.released = {int(r[1]) for r in ledger if r[0] == last and r[2] == "released"}
        ids = [int(r[0]) for r in jobs]
        if ids != list(range(len(ids))):
            raise StudyError(f"{self.db_path}: cannot resume: stored job ids are not contiguous")
        engine.jobs = [
            Job(
                id=r[0],
                kind=r[1],
                arch=r[2],
                total_s=r[3],
                done_s=r[4],
                start_step=r[5],
                end_step=r[6],
                attempts=r[7],
                status=r[8],
            )
            for r in jobs
        ]
        for folder in (self.directory / "jobs").glob("*"):
            if folder.name.isdigit() and int(folder.name) >= len(ids):
                shutil.rmtree(folder, ignore_errors=True)
        for r in archs:
            est = None if r[2] is None else np.asarray(json.loads(r[2]), dtype=np.float64)
            true = None if r[3] is None else np.asarray(json.loads(r[3]), dtype=np.float64)
            engine.archs[int(r[0])] = Arch(int(r[0]), est, true, int(r[4]), int(r[5]), r[1])
        trained = sorted(
            (a for a in engine.archs.values() if a.true is not None), key=lambda a: a.train_step
        )
        engine.trained_x = [a.arch for a in trained]
        engine.trained_y = [a.true for a in trained if a.true is not None]
        in_training = {j.arch for j in engine.jobs if j.kind == "train"}
        engine.queue = [
            a.arch
            for a in sorted(engine.archs.values(), key=lambda a: (a.estimate_step, a.arch))
            if a.estimated is not None and a.source == "queue" and a.arch not in in_training
        ]
        for job in engine.jobs:
            if job.end_step < 0 and job.kind in ("train", "estimate"):
                job.status = "paused"
                engine.paused[job.kind].append(job)
        engine._n_estimate_jobs = sum(1 for j in engine.jobs if j.kind == "estimate")
        if engine.trained_x:
            engine.optimizer.tell(engine.trained_x, np.vstack(engine.trained_y))
            engine._hv = engine.task.hypervolume(np.vstack(engine.trained_y))
        if engine.archs:
            engine.optimizer.exclude(list(engine.archs))

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
        hour = engine.signal.hour_utc(record.step)
        entries = [e for e in engine.ledger.entries if e.step == record.step]
        job_ids = {e.job_id for e in entries if e.job_id is not None}
        jobs = [engine.jobs[j] for j in sorted(job_ids)]
        archs = [engine.archs[j.arch] for j in jobs if j.kind != "init"]
        task = engine.task
        log_hv = None if math.isnan(record.log_hv_diff) else record.log_hv_diff
        with self._database(f"write step {record.step} to the study database"), self.conn:
            self.conn.execute(
                "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    log_hv,
                    record.n_trained,
                    record.n_estimated,
                    record.queue_len,
                    record.stop,
                    record.n_release,
                    record.cap,
                ),
            )
            self.conn.executemany(
                "INSERT INTO ledger VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        e.step,
                        e.gpu,
                        e.kind,
                        e.job_id,
                        e.seconds,
                        e.energy_j,
                        e.carbon_g,
                        int(e.measured),
                        e.meter,
                    )
                    for e in entries
                ],
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        j.id,
                        j.kind,
                        j.arch,
                        j.total_s,
                        j.done_s,
                        j.start_step,
                        j.end_step,
                        j.attempts,
                        j.status,
                    )
                    for j in jobs
                ],
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO archs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [_arch_row(task, a) for a in archs],
            )
            provenance = getattr(engine.signal, "provenance", None)
            if callable(provenance):  # a live provider: where this step's value came from
                self.conn.execute(
                    "INSERT OR REPLACE INTO signal VALUES (?, ?)",
                    (record.step, json.dumps(provenance(record.step))),
                )

    def close(self) -> None:
        """Close the database."""
        self.conn.close()


def _check_live(config: StudyConfig, path: Path) -> Engine:
    """Check what a live study needs before its folder exists (the data loads, the options
    build an engine), and build it: its workers start now."""
    from cenas.datasets import load_cifar
    from cenas.live import build_live_engine

    load_cifar(config.data, "cifar10", "train")  # a bad data path fails here, in one line
    return build_live_engine(config, path)


def _arch_row(task: Any, a: Any) -> tuple[Any, ...]:
    """One ``archs`` row: the first two objectives in their columns, all of them as JSON."""
    est = a.estimated.tolist() if a.estimated is not None else None
    true = a.true.tolist() if a.true is not None else None
    arch_str = task.arch_str(a.arch)
    return (
        a.arch,
        arch_str,
        a.source,
        *([*est, None, None][:2] if est is not None else (None, None)),
        *([*true, None, None][:2] if true is not None else (None, None)),
        a.estimate_step,
        a.train_step,
        json.dumps(task.encode(a.arch) if hasattr(task, "encode") else arch_str),
        None if est is None else json.dumps(est),
        None if true is None else json.dumps(true),
    )


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
