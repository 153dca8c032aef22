"""A study written by cenas 0.1's first storage format (schema 1) still opens and resumes."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from cenas.study import Study

V1_DB = Path(__file__).parent / "data" / "v1-study.db"
# the same study run without interruption by the engine that wrote the file
FINAL_CARBON_G = 3115.5295098111324
FINAL_HV = 824.7307003200001
FINAL_TRAINED = 35


def test_schema_1_study_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    shutil.copy(V1_DB, folder / "study.db")
    with sqlite3.connect(folder / "study.db") as conn:
        stored = conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
    assert stored == 5
    study = Study.open(folder)
    engine = study.run()
    summary = engine.summary()
    study.close()
    assert summary["carbon_g"] == FINAL_CARBON_G
    assert summary["hv"] == FINAL_HV
    assert summary["n_trained"] == FINAL_TRAINED
    with sqlite3.connect(folder / "study.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == 12


def test_a_live_studys_provenance_records_its_training_data(tmp_path: Path) -> None:
    import dataclasses
    import hashlib
    from importlib import resources

    from cenas.config import StudyConfig
    from cenas.study import provenance

    live = dataclasses.replace(StudyConfig(), live=True)
    tar = resources.files("cenas") / "data" / "cifar10-subset" / "cifar10-subset.tar"
    packaged = hashlib.sha256(tar.read_bytes()).hexdigest()
    assert provenance(live)["data_sha256"]["training data"] == packaged
    archive = tmp_path / "cifar.tar"
    archive.write_bytes(b"not really images")
    digest = provenance(dataclasses.replace(live, data=str(archive)))["data_sha256"]
    assert digest["training data"] == hashlib.sha256(b"not really images").hexdigest()
    assert "training data" not in provenance(StudyConfig())["data_sha256"]
