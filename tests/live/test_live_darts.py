"""A tiny live DARTS search on CPU: real DARTS networks trained on the packaged subset."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import torch

from cenas.config import StudyConfig
from cenas.nn import build_darts
from cenas.report import write_report
from cenas.space import DartsSpace, parse_genotype
from cenas.study import Study


def test_tiny_live_darts_search_trains_genotypes_with_the_builders_sizes(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = dataclasses.replace(
        StudyConfig(),
        live=True,
        space="darts",
        gpus=2,
        hours=2,
        step_minutes=0.25,
        train_epochs=1,
        channels=4,
        layers=3,
        pool_size=200,
        estimator="zero-cost:synflow",
        policy="static",
        optimizer="lamoo",
        budget_g=None,
    )
    study = Study.create(tmp_path / "d", cfg)
    engine = study.run()
    study.close()
    assert engine.step_index == 2 and engine.trained_x
    with sqlite3.connect(tmp_path / "d" / "study.db") as conn:
        rows = conn.execute(
            "SELECT arch_str, encoding, objectives FROM archs WHERE objectives IS NOT NULL"
        ).fetchall()
    assert len(rows) == len(engine.trained_x)
    space = DartsSpace()
    for arch_str, encoding, objectives in rows:
        genotype = space.decode(json.loads(encoding))  # storage keeps the space's encoding
        assert genotype == parse_genotype(arch_str)
        acc, params_m = json.loads(objectives)
        assert 0.0 < -acc <= 100.0
        built = build_darts(genotype, 4, 3, 10, auxiliary=False).count_params()
        assert round(params_m * 1e6) == built  # the size the builder reports
    report = write_report(tmp_path / "d").read_text()
    assert "DARTS cells (C=4, 3 layers" in report and "worker-hours" in report
