"""Bad input and damaged state (issue 15): one line, exit code 2, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from cenas.cli import main
from cenas.config import StudyConfig
from cenas.errors import CenasError, ConfigError

FAST = ["--hours", "4", "--gpus", "2", "--optimizer", "random", "--quiet"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the ``cenas`` entry point; return its exit code and its output (stdout + stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, out.out + out.err


def one_line(out: str) -> str:
    """The single non-blank line of ``out`` (fails if there are more)."""
    lines = [line for line in out.strip().splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert "Traceback" not in out
    return lines[0]


# ------------------------------------------------------------------ 1. types
@pytest.mark.parametrize(
    ("toml", "fragments"),
    [
        ("hours = true", ("hours", "expected an integer", "got true")),
        ("gpus = 2.5", ("gpus", "expected an integer", "got 2.5")),
        ("gpus = 2.0", ("gpus", "expected an integer", "got 2.0")),
        ('seed = "abc"', ("seed", "expected an integer", 'got "abc"')),
        ('budget_g = "lots"', ("budget_g", "expected a number", 'got "lots"')),
        ("budget_g = nan", ("budget_g", "expected a finite number", "got nan")),
        ("step_hours = false", ("step_hours", "expected a number", "got false")),
        ("trace = 5", ("trace", "expected a string", "got 5")),
        ("policy = 3", ("policy", "expected a string", "got 3")),
        ("power = 300", ("power", "expected a table", "got 300")),
        ('[power]\ntrain_w = "hot"', ("power.train_w", "expected a number", 'got "hot"')),
        ("[power]\nidle_w = true", ("power.idle_w", "expected a number", "got true")),
        ("[power]\nfan_w = 3.0", ("power.fan_w", "unknown key")),
    ],
)
def test_toml_wrong_types_one_line_nothing_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, fragments: tuple[str, ...]
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml + "\n", encoding="utf-8")
    runs = tmp_path / "runs"
    code, out = run_cli(
        ["search", "--config", str(cfg), "--runs-dir", str(runs), "--name", "s", "--quiet"],
        capsys,
    )
    line = one_line(out)
    assert code == 2, out
    assert line.startswith(f"error: {cfg}: "), line
    for fragment in fragments:
        assert fragment in line, line
    assert not runs.exists()


def test_int_for_float_is_accepted_and_stored_as_float() -> None:
    cfg = StudyConfig.from_dict({"budget_g": 5000, "speedup": 2, "power": {"train_w": 250}})
    assert cfg.budget_g == 5000.0 and isinstance(cfg.budget_g, float)
    assert isinstance(cfg.speedup, float) and cfg.power.train_w == 250.0


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("hours", True, "an integer"), ("gpus", 3.0, "an integer"), ("seed", "1", "an integer")],
)
def test_python_api_types_checked(field: str, value: object, expected: str) -> None:
    cfg = StudyConfig(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=f"^config: {field}: expected {expected}, got "):
        cfg.validate()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--budget-g", "abc"], ("--budget-g", "'abc'", "number")),
        (["--hours", "1.5"], ("--hours", "'1.5'", "integer")),
        (["--seed", "x"], ("--seed", "'x'", "integer")),
        (["--warp-drive"], ("--warp-drive",)),
    ],
)
def test_flags_with_wrong_type_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragments: tuple[str, ...]
) -> None:
    code, out = run_cli(["search", "--runs-dir", str(tmp_path / "runs"), *args], capsys)
    line = one_line(out)
    assert code == 2
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, line
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------- 2. nothing left behind
def _plain_trace(path: Path, hours: int = 24) -> Path:
    rows = "\n".join(f"2024-03-01T{h:02d}:00:00Z,{100 + 10 * h}" for h in range(hours))
    path.write_text("timestamp,value\n" + rows + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["--optimizer", "magic"],  # checked when the optimiser is built
        ["--signal", "forecast", "--trace", "TRACE"],  # no history to fit a forecaster on
    ],
)
def test_failing_study_leaves_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    trace = _plain_trace(tmp_path / "t.csv")
    args = [str(trace) if a == "TRACE" else a for a in args]
    runs = tmp_path / "runs"
    code, out = run_cli(["search", "--runs-dir", str(runs), "--name", "s", *FAST, *args], capsys)
    line = one_line(out)
    assert code == 2 and line.startswith("error: "), out
    assert not (runs / "s").exists()


def test_study_create_builds_the_engine_before_writing(tmp_path: Path) -> None:
    from cenas.study import Study

    trace = _plain_trace(tmp_path / "t.csv")
    cfg = StudyConfig(hours=4, gpus=2, optimizer="random", trace=str(trace), signal="forecast")
    with pytest.raises(CenasError, match="no data before the window"):
        Study.create(tmp_path / "x", cfg)
    assert not (tmp_path / "x").exists()
    study = Study.create(tmp_path / "y", StudyConfig(hours=3, gpus=2, optimizer="random"))
    engine = study.run()  # the engine built by create runs; the study ends with its 3 steps
    assert len(study.stored_steps()) == 3 and engine.summary()["steps"] == 3
    study.close()


# ------------------------------------------------------------ 3. damaged study
def _study(directory: Path, hours: int = 6, run: bool = True) -> Path:
    from cenas.study import Study

    study = Study.create(directory, StudyConfig(hours=hours, gpus=2, optimizer="random"))
    if run:
        study.run()
    study.close()
    return directory / "study.db"


def _damage(db: Path, table: str = "archs") -> None:
    """Overwrite the cell pointers of ``table``'s root page with garbage (file size kept)."""
    import sqlite3

    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    conn.close()
    size = db.stat().st_size
    with db.open("r+b") as fh:
        fh.seek((root[0] - 1) * page_size + 8)
        fh.write(b"\xa5garbage" * 16)
    assert db.stat().st_size == size


@pytest.mark.parametrize("finished", [True, False])
def test_damaged_study_resume_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], finished: bool
) -> None:
    import sqlite3

    db = _study(tmp_path / "s")
    if not finished:  # as if killed after 3 of 6 steps
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM steps WHERE step >= 3")
            conn.execute("UPDATE meta SET value = 'running' WHERE key = 'status'")
        conn.close()
    _damage(db)
    code, out = run_cli(["search", "--resume", "s", "--runs-dir", str(tmp_path), "--quiet"], capsys)
    line = one_line(out)
    assert code == 2
    assert line.startswith(f"error: {db}: damaged study database (SQLite integrity check: "), line


def test_damaged_study_report_one_line(tmp_path: Path) -> None:
    from cenas.errors import StudyError
    from cenas.report import write_report

    db = _study(tmp_path / "s")
    _damage(db, "steps")
    with pytest.raises(StudyError, match=f"^{db}: damaged study database \\(SQLite integrity check: "):
        write_report(tmp_path / "s")


def test_database_errors_while_reading_become_study_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from cenas.errors import StudyError
    from cenas.study import Study

    _study(tmp_path / "s", hours=2)
    study = Study.open(tmp_path / "s")
    study.conn.close()  # any sqlite3 error while reading, here a closed connection
    with pytest.raises(StudyError, match="cannot read the study database"):
        study.stored_steps()
    with pytest.raises(StudyError, match="cannot read the study database"):
        study.meta("status")
    assert issubclass(sqlite3.ProgrammingError, sqlite3.DatabaseError)
