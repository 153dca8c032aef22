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
        ("study = 5", ("study", "expected a table of config keys", "got 5")),
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


def test_numpy_numbers_are_numbers_but_not_floats_for_integers() -> None:
    import numpy as np

    given: dict[str, object] = {"seed": np.int64(3), "budget_g": np.float32(5.5)}
    cfg = StudyConfig(hours=np.int32(4), **given).validate()  # type: ignore[arg-type]
    assert (cfg.seed, cfg.budget_g, cfg.hours) == (3, 5.5, 4)
    assert type(cfg.seed) is int and type(cfg.budget_g) is float
    with pytest.raises(ConfigError, match=r"^config: gpus: expected an integer, got "):
        StudyConfig(gpus=np.float64(2.0)).validate()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^config: hours: expected an integer, got "):
        StudyConfig(hours=np.bool_(True)).validate()  # type: ignore[arg-type]


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
    with pytest.raises(
        StudyError, match=f"^{db}: damaged study database \\(SQLite integrity check: "
    ):
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


# -------------------------------------------------------- 4. unwritable places
def test_runs_dir_under_a_file_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder", encoding="utf-8")
    code, out = run_cli(
        ["search", "--runs-dir", str(blocker / "runs"), "--name", "s", *FAST], capsys
    )
    line = one_line(out)
    assert code == 2
    assert line == (
        f"error: {blocker / 'runs' / 's'}: cannot create the study folder "
        f"({blocker} is a file, not a folder)"
    )


def _deny_writes(monkeypatch: pytest.MonkeyPatch, *denied: Path) -> None:
    """Make ``os.access`` report ``denied`` paths unwritable (tests run as root, who may
    write anywhere, so permissions cannot be taken away for real)."""
    import os

    real = os.access
    names = {str(p) for p in denied}

    def access(path: object, mode: int, **kw: object) -> bool:
        if mode & os.W_OK and str(path) in names:
            return False
        return real(path, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)


def test_unwritable_runs_folder_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    _deny_writes(monkeypatch, runs)
    code, out = run_cli(["search", "--runs-dir", str(runs), "--name", "s", *FAST], capsys)
    line = one_line(out)
    assert code == 2
    assert line == f"error: {runs / 's'}: cannot create the study folder ({runs} is not writable)"
    assert not (runs / "s").exists()


def test_unwritable_cwd_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _deny_writes(monkeypatch, tmp_path)
    code, out = run_cli(["search", "--name", "s", *FAST], capsys)
    line = one_line(out)
    assert code == 2 and line.endswith(
        f"cannot create the study folder ({tmp_path} is not writable)"
    )


@pytest.mark.parametrize("how", ["file", "folder", "sqlite"])
def test_read_only_study_refused_before_replay(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    import sqlite3

    from cenas.study import Study

    db = _study(tmp_path / "s", hours=3)
    if how == "sqlite":  # the database opens read-only, whatever the permissions say
        real = sqlite3.connect

        def connect(path: object, *args: object, **kw: object) -> sqlite3.Connection:
            if str(path) == str(db):
                return real(f"file:{db}?mode=ro", uri=True)
            return real(path, *args, **kw)  # type: ignore[call-overload, no-any-return]

        monkeypatch.setattr(sqlite3, "connect", connect)
    else:
        _deny_writes(monkeypatch, db if how == "file" else db.parent)

    def replayed(*args: object) -> None:
        raise AssertionError("a step was replayed before the write check")

    monkeypatch.setattr(Study, "_check_replay", replayed)
    code, out = run_cli(["search", "--resume", "s", "--runs-dir", str(tmp_path), "--quiet"], capsys)
    line = one_line(out)
    assert code == 2
    assert line.startswith("error: "), line
    assert "cannot resume" in line and ("not writable" in line or "readonly" in line), line


def test_compare_unwritable_out_refused_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x", encoding="utf-8")
    code, out = run_cli(
        [
            "compare",
            "--hours",
            "4",
            "--seeds",
            "1",
            "--policies",
            "vanilla",
            "--out",
            str(blocker / "cmp"),
            "--workers",
            "1",
        ],
        capsys,
    )
    line = one_line(out)
    assert code == 2
    assert (
        line
        == f"error: --out: cannot write to {blocker / 'cmp'} ({blocker} is a file, not a folder)"
    )


# ---------------------------------------------------- 5. gaps wherever a trace is read
def _gap_trace(path: Path) -> Path:
    hours = [h for h in range(30) if h != 10]  # 2024-03-01 10:00 is missing
    rows = "\n".join(f"2024-03-{1 + h // 24:02d}T{h % 24:02d}:00:00Z,{100 + h}" for h in hours)
    path.write_text("timestamp,value\n" + rows + "\n", encoding="utf-8")
    return path


def test_gap_advice_can_be_followed_in_search_compare_and_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import sqlite3

    trace = _gap_trace(tmp_path / "gap.csv")
    runs = str(tmp_path / "runs")
    base = ["--runs-dir", runs, "--trace", str(trace), *FAST]
    code, out = run_cli(["search", "--name", "a", *base], capsys)
    line = one_line(out)
    assert code == 2 and "1 missing hour(s)" in line and "(--fill-gaps 1)" in line, line
    code, out = run_cli(["search", "--name", "b", *base, "--fill-gaps", "1"], capsys)
    assert code == 0, out
    assert "gaps of up to 1 h interpolated" in out
    with sqlite3.connect(tmp_path / "runs" / "b" / "study.db") as conn:
        rows = conn.execute("SELECT hour_utc, intensity FROM steps ORDER BY step").fetchall()
        stored = json.loads(conn.execute("SELECT value FROM meta WHERE key='config'").fetchone()[0])
    conn.close()
    assert [r[1] for r in rows] == [100.0, 101.0, 102.0, 103.0] and stored["fill_gaps"] == 1
    toml = tmp_path / "c.toml"
    toml.write_text(f'trace = "{trace}"\nfill_gaps = 1\nstart = "2024-03-01T08:00:00Z"\n')
    code, out = run_cli(
        ["search", "--name", "c", "--runs-dir", runs, "--config", str(toml), *FAST], capsys
    )
    assert code == 0, out
    with sqlite3.connect(tmp_path / "runs" / "c" / "study.db") as conn:
        values = [r[0] for r in conn.execute("SELECT intensity FROM steps ORDER BY step")]
    conn.close()
    assert values == [108.0, 109.0, 110.0, 111.0]  # hour 10 interpolated between 109 and 111
    cmp = ["compare", "--trace", str(trace), "--hours", "4", "--gpus", "2", "--seeds", "1"]
    cmp += ["--policies", "vanilla", "--budgets-g", "500", "--workers", "1", "--quiet"]
    cmp += ["--optimizer", "random", "--out", str(tmp_path / "cmp")]
    code, out = run_cli(cmp, capsys)
    assert code == 2 and "(--fill-gaps 1)" in one_line(out)
    code, out = run_cli([*cmp, "--fill-gaps", "1"], capsys)
    assert code == 0, out
    assert "trace column: value" in out and "trace gaps: gaps of up to 1 h interpolated" in out


def test_fill_gaps_and_value_column_need_a_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(["search", "--runs-dir", str(tmp_path), "--fill-gaps", "2"], capsys)
    assert code == 2 and "fill_gaps: applies to a trace file" in one_line(out)
    code, out = run_cli(["search", "--runs-dir", str(tmp_path), "--value-column", "x"], capsys)
    assert code == 2 and "value_column: applies to a trace file" in one_line(out)


# ------------------------------------- 6. extra columns in a plain trace, in the summary
def test_search_reads_the_value_column_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    trace = tmp_path / "export.csv"
    rows = "\n".join(f"2024-03-01 {h:02d}:00,grid,{100 + h},{300 + h}" for h in range(24))
    trace.write_text("timestamp,source,value,lca\n" + rows + "\n", encoding="utf-8")
    args = ["search", "--runs-dir", str(tmp_path), "--trace", str(trace), *FAST]
    code, out = run_cli([*args, "--name", "v"], capsys)
    assert code == 0, out
    assert "trace column         value" in out
    assert "no UTC offset in the file: read as UTC" in out
    code, out = run_cli([*args, "--name", "l", "--value-column", "lca"], capsys)
    assert code == 0, out
    assert "trace column         lca" in out
    with sqlite3.connect(tmp_path / "l" / "study.db") as conn:
        first = conn.execute("SELECT intensity FROM steps WHERE step = 0").fetchone()[0]
    conn.close()
    assert first == 300.0


# ------------------------------------------------------ 7. nothing silently ignored
@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--hours", "100"], "--hours"),
        (["--gpus", "3", "--policy", "vanilla"], "--gpus, --policy"),
        (["--no-budget"], "--no-budget"),
        (["--fill-gaps", "2"], "--fill-gaps"),
        (["--name", "other"], "--name"),
    ],
)
def test_resume_refuses_options_it_would_ignore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], named: str
) -> None:
    _study(tmp_path / "s", hours=2)
    code, out = run_cli(
        ["search", "--resume", "s", "--runs-dir", str(tmp_path), "--quiet", *extra], capsys
    )
    line = one_line(out)
    assert code == 2
    assert line.startswith(f"error: --resume: {named} cannot be used with --resume"), line


def test_budget_and_no_budget_conflict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["search", "--runs-dir", str(tmp_path), "--budget-g", "5000", "--no-budget", *FAST]
    code, out = run_cli(args, capsys)
    assert code == 2
    assert one_line(out) == (
        "error: --budget-g and --no-budget contradict each other; give one of them"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_compare_workers_must_be_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    code, out = run_cli(
        [
            "compare",
            "--hours",
            "4",
            "--seeds",
            "1",
            "--policies",
            "vanilla",
            "--workers",
            workers,
            "--out",
            str(tmp_path / "cmp"),
        ],
        capsys,
    )
    assert code == 2
    assert one_line(out) == f"error: --workers: must be 1 or more processes, got {workers}"
    assert not (tmp_path / "cmp").exists()


def test_compare_api_refuses_zero_workers() -> None:
    from cenas.compare import compare

    with pytest.raises(ConfigError, match="workers: must be 1 or more processes, got 0"):
        compare(StudyConfig(hours=2, gpus=1), ["vanilla"], 1, [100.0], 1.0, workers=0)


# ---------------------------------------------------------------- 8. small messages
def test_zone_is_case_insensitive_in_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(
        [
            "search",
            "--runs-dir",
            str(tmp_path),
            "--name",
            "z",
            "--zone",
            "de-lu",
            "--start",
            "2021-03-01T00:00:00Z",
            *FAST,
        ],
        capsys,
    )
    assert code == 0, out
    from cenas.study import Study

    study = Study.open(tmp_path / "z")
    assert study.config.zone == "DE-LU"
    study.close()
    assert StudyConfig(zone="gb").validate().zone == "GB"


def test_bare_cenas_shows_help_version_and_short_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cenas import __version__

    code, out = run_cli([], capsys)
    assert code == 0 and "Usage: cenas" in out and "search" in out and "compare" in out
    code, out = run_cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"cenas {__version__}"
    code, out = run_cli(["-h"], capsys)
    assert code == 0 and "Usage: cenas" in out
    code, out = run_cli(["search", "-h"], capsys)
    assert code == 0 and "--print-config" in out


def test_ctrl_c_says_how_to_resume_and_exits_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cenas.study import Study

    real = Study._persist

    def persist(self: Study, record: object, engine: object) -> None:
        if record.step == 2:  # type: ignore[attr-defined]
            raise KeyboardInterrupt
        real(self, record, engine)  # type: ignore[arg-type]

    monkeypatch.setattr(Study, "_persist", persist)
    code, out = run_cli(["search", "--runs-dir", str(tmp_path), "--name", "s", *FAST], capsys)
    assert code == 130
    assert out.strip().splitlines()[-1] == (
        f"interrupted: 2 of 4 steps are stored in {tmp_path / 's' / 'study.db'}; "
        f"continue with: cenas search --resume s --runs-dir {tmp_path}"
    )
    monkeypatch.setattr(Study, "_persist", real)
    code, out = run_cli(["search", "--resume", "s", "--runs-dir", str(tmp_path), "--quiet"], capsys)
    assert code == 0, out
    assert "Resuming study s (2 steps stored)" in out


# ------------------------------------------------------------ 9. help and defaults
def _help(command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "200")
    code, out = run_cli([command, "--help"], capsys)
    assert code == 0
    return " ".join(out.replace("│", " ").split())


@pytest.mark.parametrize("command", ["search", "compare"])
def test_help_shows_defaults_and_complete_lists(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cenas.bench import DATASETS, DEVICES
    from cenas.optimize import OPTIMIZERS
    from cenas.policy.registry import POLICIES

    text = _help(command, capsys, monkeypatch)
    for fragment in (
        "(default US-CAL-CISO)",
        "(default 2021-07-02 00:00 UTC on a bundled zone",
        "(default 80)",
        "(default 8)",
        "(default 0)",
        "(default lamoo)",
        f"Optimiser: {', '.join(OPTIMIZERS)} ",
        f"data sets {', '.join(DATASETS)}; devices {', '.join(DEVICES)}",
        "--fill-gaps",
        "--value-column",
    ):
        assert fragment in text, fragment
    assert "…" not in text.replace("SEED+1, …", "") and "..." not in text
    if command == "search":
        assert "(default 15000, i.e. 15 kg)" in text
        assert f"Allocation policy: {', '.join(POLICIES)} (default day-ahead)" in text
    else:
        assert "First seed: each policy and budget runs seeds SEED, SEED+1, … SEED+SEEDS−1" in text
        assert "How many seeds per policy and budget, from --seed on" in text


def test_print_config_is_the_default_and_documents_every_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses
    import tomllib

    code, out = run_cli(["search", "--print-config", "--runs-dir", str(tmp_path)], capsys)
    assert code == 0 and list(tmp_path.iterdir()) == []
    data = tomllib.loads(out)["study"]
    assert StudyConfig.from_dict(data) == StudyConfig()
    for f in dataclasses.fields(StudyConfig):
        assert f"\n# {f.name}: " in out, f.name  # each key comes with its explanation
        if f.name != "power" and getattr(StudyConfig(), f.name) is None:
            assert f"\n# {f.name} =   (not set)" in out
    for key in ("train_w", "estimate_w", "idle_w"):
        assert f"\n# {key}: watts a GPU draws while" in out
    cfg = tmp_path / "c.toml"
    cfg.write_text(out, encoding="utf-8")  # what it prints is a valid --config
    code, again = run_cli(["search", "--config", str(cfg), "--print-config"], capsys)
    assert code == 0 and again == out
    code, five = run_cli(["search", "--hours", "5", "--print-config"], capsys)
    assert "\nhours = 5\n" in five


# ------------------------------------------------------------------- 10. quiet
def test_quiet_prints_no_progress_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(["search", "--runs-dir", str(tmp_path), "--name", "q", *FAST], capsys)
    assert code == 0, out
    import re

    assert not re.search(r"hour\s+\d+/\d+", out) and "━" not in out  # no progress bar
    assert out.splitlines()[0].startswith("Study q → ")
