"""`cenas search|compare --estimator` with table estimators, and `cenas estimators evaluate`."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cenas.cli import main
from cenas.engine.estimator_quality import rank_agreement

SMALL = ["--gpus", "2", "--optimizer", "random", "--policy", "static", "--signal", "actual"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_search_with_one_shot_charges_the_supernet_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["search", "--estimator", "one-shot", "--hours", "12", "--no-budget", *SMALL]
    code, out, err = run_cli(
        [*args, "--runs-dir", str(tmp_path), "--name", "os", "--quiet"], capsys
    )
    assert code == 0, out + err
    conn = sqlite3.connect(tmp_path / "os" / "study.db")
    init = conn.execute(
        "SELECT id, arch, total_s, done_s, start_step, end_step FROM jobs WHERE kind = 'init'"
    ).fetchall()
    # one estimating GPU (static half split of 2) works off 6.8 GPU-hours: steps 0-6
    assert init == [(0, -1, pytest.approx(24480.0), pytest.approx(24480.0), 0, 6)]
    secs = conn.execute(
        "SELECT SUM(seconds), COUNT(DISTINCT step) FROM ledger WHERE kind = 'init'"
    ).fetchone()
    assert secs == (pytest.approx(24480.0), 7)
    first = conn.execute("SELECT MIN(start_step) FROM jobs WHERE kind = 'estimate'").fetchone()
    assert first == (6,)
    est = conn.execute("SELECT MIN(estimate_step) FROM archs WHERE est_0 IS NOT NULL").fetchone()
    assert est[0] >= 6


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--estimator", "few-shot", "--task", "nb201-cifar100-fpga"], "only to CIFAR-10"),
        (["--estimator", "zero-cost:astrology"], "unknown proxy"),
        (["--estimator", "predictor:predictor"], "base must be"),
    ],
)
def test_bad_estimators_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = run_cli(["search", "--runs-dir", str(tmp_path), "--quiet", *args], capsys)
    lines = [line for line in (out + err).strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0], out + err


def test_compare_takes_the_estimator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "cmp"
    args = [
        "compare",
        "--estimator",
        "few-shot",
        "--policies",
        "static",
        "--seeds",
        "1",
        "--budgets-g",
        "3000",
        "--hours",
        "12",
        "--gpus",
        "2",
        "--optimizer",
        "random",
        "--signal",
        "actual",
        "--workers",
        "1",
        "--out",
        str(out_dir),
    ]
    code, out, err = run_cli(args, capsys)
    assert code == 0, out + err
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["config"]["estimator"] == "few-shot"
    runs = json.loads((out_dir / "runs.json").read_text(encoding="utf-8"))
    assert len(runs) == 1 and runs[0]["n_trained"] > 0


def test_rank_agreement_on_a_crafted_case() -> None:
    truth = np.arange(1.0, 11.0)
    score = truth.copy()
    score[[8, 9]] = score[[9, 8]]  # the two best cells swapped
    a = rank_agreement(score, truth)
    assert a.n == 10
    assert a.kendall == pytest.approx(43 / 45)  # one discordant pair of 45
    assert a.spearman == pytest.approx(1 - 6 * 2 / (10 * 99))
    assert a.kendall_top == pytest.approx(-1.0)  # top 10 % = the two best (at least two)
    assert a.precision == {"5%": 0.0, "1%": 0.0}  # k = 1: the estimate's best is second
    gaps = score.copy()
    gaps[0] = np.nan
    assert rank_agreement(gaps, truth).n == 9
    # 200 cells: k = 10 (5 %) and 2 (1 %); a reversed score finds none of the best
    many = np.arange(200.0)
    rev = rank_agreement(-many, many)
    assert rev.kendall == pytest.approx(-1.0) and rev.precision == {"5%": 0.0, "1%": 0.0}
    assert rank_agreement(many, many).precision == {"5%": 1.0, "1%": 1.0}


def test_evaluate_reports_table_estimators_and_a_crafted_proxy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cenas.bench import get_task, load_nb201_table

    task = get_task()
    truth = -task.all_objectives()[:, 0]
    arch = load_nb201_table()["arch_str"]
    cells = np.random.default_rng(0).choice(15625, 300, replace=False)
    # the proxy is the true accuracy on 300 cells: perfect agreement on the cells covered
    rows = {arch[int(c)]: {"synflow": float(truth[c]), "synflow_s": 0.25} for c in cells}
    table = tmp_path / "nb201_proxies.csv.gz"
    nb = load_nb201_table().set_index("arch_str")
    frame = pd.DataFrame(
        [{"index": nb.loc[a, "index"], "arch_str": a, **v} for a, v in rows.items()]
    )
    frame.to_csv(table, index=False, compression="gzip")
    (tmp_path / "nb201_proxies.json").write_text("{}", encoding="utf-8")
    figure = tmp_path / "q.png"
    code, out, err = run_cli(
        [
            "estimators",
            "evaluate",
            "--format",
            "json",
            "--proxy-table",
            str(table),
            "--predictor-cells",
            "20",
            "--seeds",
            "1",
            "--predictor-bases",
            "",
            "--figure",
            str(figure),
        ],
        capsys,
    )
    assert code == 0, out + err
    got = {r["estimator"]: r for r in json.loads(out)["rows"]}
    assert list(got) == [
        "low-fidelity",
        "one-shot",
        "few-shot",
        "zero-cost:synflow",
        "predictor@20",
    ]
    syn = got["zero-cost:synflow"]
    assert syn["n"] == 300 and syn["note"] == "300 of 15,625 cells covered"
    assert syn["spearman"] == pytest.approx(1.0) and syn["kendall"] == pytest.approx(1.0)
    assert syn["precision_top5%"] == 1.0 and syn["seconds_per_estimate"] == 0.25
    assert syn["init_gpu_hours"] == 0.0
    # the published supernet numbers (README of the data: Spearman 0.676 and 0.741)
    assert got["one-shot"]["spearman"] == pytest.approx(0.676, abs=5e-4)
    assert got["few-shot"]["spearman"] == pytest.approx(0.741, abs=5e-4)
    assert got["one-shot"]["init_gpu_hours"] == pytest.approx(6.8)
    assert got["few-shot"]["init_gpu_hours"] == pytest.approx(10.1)
    assert got["one-shot"]["seconds_per_estimate"] == pytest.approx(
        108 * load_nb201_table()["latency_ms_1080ti_256"].mean() / 1000 + 2.0
    )
    assert got["predictor@20"]["n"] == 15605
    assert math.isfinite(got["predictor@20"]["kendall"])
    assert figure.stat().st_size > 0
    code, out, err = run_cli(["estimators", "evaluate", "--dataset", "mnist"], capsys)
    assert code == 2 and "--dataset" in out + err


def test_quality_csv_columns() -> None:
    from cenas.engine.estimator_quality import EstimatorQuality, RankAgreement, to_csv

    agreement = RankAgreement(5, 1.0, 0.5, -1.0, {"5%": 1.0, "1%": 0.0})
    row = EstimatorQuality("x", agreement, 2.5, 0.0, "measured", "n")
    lines = to_csv([row]).splitlines()
    assert lines[0] == (
        "estimator,n,spearman,kendall,kendall_top10,precision_top5%,precision_top1%,"
        "seconds_per_estimate,init_gpu_hours,cost_basis,note"
    )
    assert lines[1] == "x,5,1.0,0.5,-1.0,1.0,0.0,2.5,0.0,measured,n"


def test_resume_mid_supernet_training_matches_uninterrupted(tmp_path: Path) -> None:
    from cenas.config import StudyConfig
    from cenas.study import Study

    cfg = dict(
        estimator="one-shot",
        hours=9,
        gpus=2,
        optimizer="random",
        policy="static",
        signal="actual",
        budget_g=None,
        seed=3,
    )

    class Stop(Exception):
        pass

    def stop_after_3(record: object, engine: object) -> None:
        if record.step == 3:  # type: ignore[attr-defined]
            raise Stop

    study = Study.create(tmp_path / "cut", StudyConfig(**cfg))  # type: ignore[arg-type]
    with pytest.raises(Stop):
        study.run(progress=stop_after_3)
    study.close()
    resumed = Study.open(tmp_path / "cut")
    resumed.run()
    resumed.close()
    whole = Study.create(tmp_path / "whole", StudyConfig(**cfg))  # type: ignore[arg-type]
    whole.run()
    whole.close()
    rows = {}
    for name in ("cut", "whole"):
        conn = sqlite3.connect(tmp_path / name / "study.db")
        rows[name] = (
            conn.execute("SELECT * FROM steps ORDER BY step").fetchall(),
            conn.execute("SELECT * FROM ledger ORDER BY rowid").fetchall(),
            conn.execute("SELECT * FROM jobs ORDER BY id").fetchall(),
        )
        conn.close()
    assert rows["cut"] == rows["whole"]
    assert rows["whole"][2][0][:3] == (0, "init", -1)
