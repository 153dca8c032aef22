"""Tabular supernet and zero-cost estimators, the predictor on a base, and the init job."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cenas.bench import get_task, load_nb201_table
from cenas.config import StudyConfig
from cenas.engine import (
    CarbonSignal,
    Engine,
    EngineConfig,
    PowerModel,
    SimulatedBackend,
    TabularTrainer,
)
from cenas.engine import evaluators as ev
from cenas.engine.evaluators import (
    Estimator,
    LowFidelityEstimator,
    PredictorEstimator,
    SupernetEstimator,
    ZeroCostEstimator,
    load_proxy_table,
    make_estimator,
    percentile_rank,
)
from cenas.errors import ConfigError, DataError
from cenas.optimize.base import RandomSearch
from cenas.policy import StaticPolicy, VanillaPolicy

from .conftest import square_trace

# The second row of nb201_supernet.csv.gz (official index 1).
CELL = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)
CELL_ENUM = 11791  # its position in NB201Space's enumeration
CELL_LAT_1080TI_256 = 24.90177  # ms, nb201.csv.gz
CELL_LAT_FPGA = 5.31536


def write_proxy_table(
    folder: Path,
    rows: dict[str, dict[str, float]],
    device: str = "NVIDIA H200 (cuda)",
    proxies: tuple[str, ...] = ("synflow", "naswot", "jacob_cov"),
) -> Path:
    """A proxy table in the shipped format: ``index``, ``arch_str``, ``<p>``, ``<p>_s``."""
    nb = load_nb201_table().set_index("arch_str")
    records = [
        {"index": int(nb.loc[arch, "index"]), "arch_str": arch, **values}
        for arch, values in rows.items()
    ]
    path = folder / "nb201_proxies.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        pd.DataFrame(records).to_csv(fh, index=False)
    name, dev = device.split(" (")
    info = {
        "cells": len(records),
        "provenance": {
            "runs": [{"proxies": list(proxies), "device": dev.rstrip(")"), "device_name": name}]
        },
    }
    (folder / "nb201_proxies.json").write_text(json.dumps(info), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def full_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every cell: synflow = its enumeration index, naswot = minus it, jacob_cov = index mod 7;
    seconds 0.01 + index / 1e6 (synflow), 0.02 (naswot), 0.03 (jacob_cov)."""
    arch = load_nb201_table()["arch_str"].tolist()
    rows = {
        a: {
            "synflow": float(i),
            "synflow_s": 0.01 + i / 1e6,
            "naswot": -float(i),
            "naswot_s": 0.02,
            "jacob_cov": float(i % 7),
            "jacob_cov_s": 0.03,
        }
        for i, a in enumerate(arch)
    }
    return write_proxy_table(tmp_path_factory.mktemp("full"), rows)


# ------------------------------------------------------------------ supernets
@pytest.mark.parametrize(
    ("name", "acc", "hours"), [("one-shot", 65.51, 6.8), ("few-shot", 62.8, 10.1)]
)
def test_supernet_estimate_is_the_table_value_at_one_validation_pass(
    name: str, acc: float, hours: float
) -> None:
    task = get_task()
    est = make_estimator(name, task)
    assert isinstance(est, SupernetEstimator) and est.name == name
    assert task.arch_str(CELL_ENUM) == CELL
    np.testing.assert_array_equal(est.estimate(CELL_ENUM), [-acc, CELL_LAT_FPGA])
    # (10 recalibration batches + ceil(25000 / 256) = 98 validation batches) x latency_256 + 2 s
    assert est.cost_s(CELL_ENUM) == pytest.approx(108 * CELL_LAT_1080TI_256 / 1000 + 2.0, abs=1e-12)
    assert est.cost_s(CELL_ENUM) == pytest.approx(4.68939116, abs=1e-9)
    assert est.init_cost_s == pytest.approx(hours * 3600.0)
    assert LowFidelityEstimator(task).init_cost_s == 0.0


@pytest.mark.parametrize("name", ["one-shot", "few-shot", "predictor:one-shot"])
def test_supernets_refuse_other_data_sets(name: str) -> None:
    with pytest.raises(ConfigError, match=r"^estimator: .*only to CIFAR-10 tasks") as err:
        make_estimator(name, get_task("nb201-cifar100-fpga"))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="CIFAR-10"):
        StudyConfig(task="nb201-imagenet16-fpga", estimator=name).validate()


# ------------------------------------------------------------------- proxies
def test_percentile_rank_exact_with_ties_and_gaps() -> None:
    got = percentile_rank(np.array([3.0, 1.0, 2.0, 2.0, np.nan, 10.0]))
    # ascending ranks 4, 1, 2.5, 2.5, -, 5 among 5 finite scores -> 100 (r - 1) / 4
    np.testing.assert_array_equal(got, [75.0, 0.0, 37.5, 37.5, np.nan, 100.0])
    np.testing.assert_array_equal(percentile_rank(np.array([np.nan, 4.0])), [np.nan, 100.0])
    # measured cells with an undefined (NaN) score share the lowest ranks
    measured = np.array([True, True, True, True, False])
    got = percentile_rank(np.array([np.nan, 2.0, np.nan, -np.inf, np.nan]), measured)
    # ranks 1.5, 4, 1.5, 3 of 4 -> 100 (r - 1) / 3
    np.testing.assert_allclose(got, [50 / 3, 100.0, 50 / 3, 200 / 3, np.nan])


def test_crafted_table_percentiles_costs_and_vote(tmp_path: Path) -> None:
    task = get_task()
    arch = load_nb201_table()["arch_str"]
    nan = float("nan")

    def row(
        syn: float, syn_s: float, nas: float, nas_s: float, jac: float, jac_s: float
    ) -> dict[str, float]:
        return {"synflow": syn, "synflow_s": syn_s, "naswot": nas, "naswot_s": nas_s,
                "jacob_cov": jac, "jacob_cov_s": jac_s}  # fmt: skip

    rows = {
        arch[0]: row(5.0, 0.5, 1.0, 0.1, 9.0, 1.0),
        arch[1]: row(7.0, 0.6, 2.0, 0.2, 8.0, 2.0),
        arch[2]: row(5.0, 0.7, 3.0, 0.3, 7.0, 3.0),
        arch[3]: row(1.0, 0.8, 4.0, 0.4, 6.0, 4.0),
        arch[4]: row(9.0, 0.9, 5.0, 0.5, nan, 5.0),  # jacob_cov measured but undefined
        arch[5]: row(3.0, 1.0, nan, nan, nan, nan),  # only synflow measured
    }
    table = load_proxy_table(write_proxy_table(tmp_path, rows))
    syn = ZeroCostEstimator(task, "synflow", table, require_complete=False)
    assert syn.coverage == 6
    # synflow 5, 7, 5, 1, 9, 3: ranks 3.5, 5, 3.5, 1, 6, 2 of 6 -> 100 (r - 1) / 5
    assert [-syn.estimate(c)[0] for c in range(6)] == [50.0, 80.0, 50.0, 0.0, 100.0, 20.0]
    assert [syn.cost_s(c) for c in range(6)] == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert syn.estimate(3)[1] == task.objectives(3)[1]  # latency is the measured one
    assert syn.cost_basis == "measured per cell on NVIDIA H200 (cuda)"
    score, secs = syn.tabulate()
    assert np.isnan(score[6:]).all() and np.isnan(secs[6:]).all()
    # jacob_cov measured on 5 cells; the undefined one ranks below every number
    jac = ZeroCostEstimator(task, "jacob_cov", table, require_complete=False)
    assert jac.coverage == 5
    np.testing.assert_array_equal(jac.tabulate()[0][:6], [100.0, 75.0, 50.0, 25.0, 0.0, nan])
    # vote on the 5 cells all members measured: synflow 37.5, 75, 37.5, 0, 100; jacob_cov
    # 100, 75, 50, 25, 0; naswot 0, 25, 50, 75, 100 -> means 45.8, 58.3, 45.8, 33.3, 66.7
    # -> ranks 2.5, 4, 2.5, 1, 5
    vote = ZeroCostEstimator(task, "vote", table, require_complete=False)
    assert vote.coverage == 5
    vs, vsec = vote.tabulate()
    np.testing.assert_array_equal(vs[:6], [37.5, 75.0, 37.5, 0.0, 100.0, nan])
    np.testing.assert_allclose(vsec[:5], [1.6, 2.8, 4.0, 5.2, 6.4])  # sum of the members'
    assert math.isnan(vsec[5])
    assert vote.cost_basis == "measured per cell on NVIDIA H200 (cuda)"


def test_incomplete_proxy_table_refused_at_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arch = load_nb201_table()["arch_str"]
    rows = {arch[i]: {"synflow": float(i), "synflow_s": 0.1} for i in range(4)}
    path = write_proxy_table(tmp_path, rows, proxies=("synflow",))
    monkeypatch.setattr(ev, "proxy_table_path", lambda: path)
    with pytest.raises(ConfigError) as err:
        StudyConfig(estimator="zero-cost:synflow").validate()
    msg = str(err.value)
    assert msg == (
        f"estimator: zero-cost:synflow covers 4 of 15,625 cells in {path.resolve()}; "
        "complete it with `cenas estimators table --data CIFAR10 --out DIR --proxies synflow "
        "&& "
        "cenas estimators ship --from DIR`"
    )
    with pytest.raises(ConfigError, match="covers 0 of 15,625"):
        StudyConfig(estimator="zero-cost:vote").validate()
    with pytest.raises(ConfigError, match="unknown proxy 'telepathy'"):
        StudyConfig(estimator="zero-cost:telepathy").validate()
    monkeypatch.setattr(ev, "proxy_table_path", lambda: tmp_path / "absent.csv.gz")
    with pytest.raises(DataError, match="no zero-cost proxy table"):
        StudyConfig(estimator="zero-cost:params").validate()


def test_complete_table_runs_in_a_study(full_table: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ev, "proxy_table_path", lambda: full_table)
    from cenas.study import build_engine

    engine = build_engine(
        StudyConfig(
            estimator="zero-cost:synflow",
            hours=3,
            gpus=2,
            optimizer="random",
            policy="static",
            signal="actual",
            budget_g=None,
        )
    )
    engine.run()
    est = [j for j in engine.jobs if j.kind == "estimate"]
    assert est and engine.init_job is None
    for job in est:  # each estimate costs its cell's measured seconds
        assert job.total_s == 0.01 + job.arch / 1e6
        pct = 100.0 * job.arch / 15624  # synflow = index: percentile = index / (n - 1)
        if engine.archs[job.arch].estimated is not None:
            assert -engine.archs[job.arch].estimated[0] == pytest.approx(pct, abs=1e-9)


# ----------------------------------------------------------------- predictor
class _Truth(Estimator):
    """A base that knows the true accuracy (to check the predictor's linear mean)."""

    name = "truth"

    def __init__(self, task: object) -> None:
        self.task = task

    def cost_s(self, arch: int) -> float:
        return 3.0

    def estimate(self, arch: int) -> np.ndarray:
        return np.asarray(self.task.objectives(arch), dtype=np.float64)  # type: ignore[attr-defined]


def test_predictor_on_a_base_uses_its_estimates() -> None:
    task = get_task()
    pred = make_estimator("predictor:one-shot", task)
    assert isinstance(pred, PredictorEstimator) and pred.name == "predictor:one-shot"
    assert pred.init_cost_s == pytest.approx(6.8 * 3600)
    assert pred.cost_s(CELL_ENUM) == pytest.approx(4.68939116 + 1.0, abs=1e-9)
    # before anything is trained it answers the base estimate
    np.testing.assert_array_equal(pred.estimate(CELL_ENUM), [-65.51, CELL_LAT_FPGA])
    # with an exact base the line is y = z and the GP's residuals are zero
    exact = PredictorEstimator(task, base=_Truth(task))
    cells = task.space.sample(np.random.default_rng(0), 30)
    exact.update(cells, task.objectives(cells))
    assert exact._line[1] == pytest.approx(1.0) and exact._line[0] == pytest.approx(0.0, abs=1e-9)
    other = task.space.sample(np.random.default_rng(1), 10)
    np.testing.assert_allclose(
        exact.predict_accuracy(other), task.objectives(other)[:, 0], atol=1e-9
    )
    assert exact.cost_s(0) == 4.0
    with pytest.raises(ConfigError, match="base must be"):
        make_estimator("predictor:oracle", task)


# ------------------------------------------------------------------ init job
def _engine(estimator: Estimator, policy: object, hours: int = 8, gpus: int = 4) -> Engine:
    task = get_task()
    return Engine(
        EngineConfig(n_gpus=gpus, hours=hours),
        task,
        RandomSearch(task.space, task.ref_point, 0),
        SimulatedBackend(gpus, estimator, TabularTrainer(task), PowerModel()),
        policy,  # type: ignore[arg-type]
        CarbonSignal(square_trace(), 0, hours),
    )


def test_supernet_training_is_charged_before_the_first_estimate() -> None:
    eng = _engine(SupernetEstimator(get_task(), "one-shot"), StaticPolicy(0.5))
    eng.run()
    init = eng.jobs[0]
    assert init.kind == "init" and init.arch == -1 and init.total_s == pytest.approx(24480.0)
    entries = [e for e in eng.ledger.entries if e.kind == "init"]
    # two estimating GPUs share 6.8 GPU-hours: 3.4 hours, done 0.4 h into step 3
    assert sum(e.seconds for e in entries) == pytest.approx(24480.0)
    assert {e.step for e in entries} == {0, 1, 2, 3} and {e.gpu for e in entries} == {2, 3}
    assert (init.start_step, init.end_step) == (0, 3)
    assert eng._init_ready == (3, pytest.approx(1440.0))  # 2880 GPU-s left, shared by two
    for e in entries:  # training power at each hour's intensity
        assert e.energy_j == pytest.approx(300.0 * e.seconds)
        assert e.carbon_g == pytest.approx(e.energy_j / 3.6e6 * eng.signal.intensity(e.step))
    estimates = [j for j in eng.jobs if j.kind == "estimate"]
    assert estimates and min(j.start_step for j in estimates) == 3
    for g in (2, 3):  # in step 3 no estimate starts before the supernet is done
        mine = [e for e in eng.ledger.entries if e.step == 3 and e.gpu == g]
        first = next(i for i, e in enumerate(mine) if e.kind == "estimate")
        assert sum(e.seconds for e in mine[:first]) == pytest.approx(1440.0)
    assert all(a.estimate_step >= 3 for a in eng.archs.values() if a.estimated is not None)


def test_no_estimating_gpus_no_supernet_no_estimates() -> None:
    eng = _engine(SupernetEstimator(get_task(), "few-shot"), VanillaPolicy(), hours=3)
    eng.run()
    assert eng.jobs[0].done_s == 0.0 and eng.init_pending
    assert not [j for j in eng.jobs if j.kind == "estimate"]


def test_estimators_without_init_have_no_init_job() -> None:
    eng = _engine(LowFidelityEstimator(get_task()), StaticPolicy(0.5), hours=2)
    eng.run()
    assert eng.init_job is None and all(j.kind != "init" for j in eng.jobs)


def test_shipped_params_column_is_complete_and_read_exactly() -> None:
    task = get_task()
    est = make_estimator("zero-cost:params", task)
    assert isinstance(est, ZeroCostEstimator) and est.coverage == 15625
    raw = pd.read_csv(ev.proxy_table_path()).set_index("arch_str")
    big = task.space.to_index(task.space.from_str("|" + "|+|".join(
        ["nor_conv_3x3~0", "nor_conv_3x3~0|nor_conv_3x3~1",
         "nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2"]) + "|"))  # fmt: skip
    # the all-3x3 cell has the most parameters of all: percentile 100
    assert est.estimate(big)[0] == -100.0
    assert raw.loc[task.arch_str(big), "params"] == raw["params"].max()
    for cell in (0, CELL_ENUM, big):  # seconds are the table's, latency the measured one
        assert est.cost_s(cell) == raw.loc[task.arch_str(cell), "params_s"]
        assert est.estimate(cell)[1] == task.objectives(cell)[1]
    assert est.cost_basis.startswith("measured per cell on ")
