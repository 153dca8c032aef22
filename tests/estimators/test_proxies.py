"""Zero-cost proxies against hand-computed values; the proxy table job; the vote; the CLI."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from cenas.cli import _register, app
from cenas.datasets import ImageSet
from cenas.errors import CenasError
from cenas.estimators import (
    GRADIENT_PROXIES,
    LIVE_ESTIMATORS,
    PROXIES,
    VOTE_MEMBERS,
    VoteEstimator,
    ZeroCostEstimator,
    compute_proxy,
    make_batch,
    make_live_estimator,
    nb201_factory,
    vote_ranks,
)
from cenas.estimators._proxies import (
    JACOB_COV_K,
    fisher_score,
    grad_norm_score,
    grasp_score,
    jacob_cov_score,
    naswot_score,
    snip_score,
    synflow_score,
)
from cenas.estimators._table import (
    TableConfig,
    TableError,
    cell_order,
    done_in_other_shards,
    merge_shards,
    parse_proxies,
    parse_shard,
    run_table,
    shard_cells,
    shard_path,
    ship_table,
    slow_cells,
)
from cenas.space import NB201Space

runner = CliRunner()


@pytest.fixture(autouse=True)
def one_thread() -> object:
    """One thread: the tests' networks are tiny and the machine is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


LN3 = math.log(3.0)
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ALL_CONV = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
MIXED = (
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)


def tiny_data(n: int = 80, seed: int = 0) -> ImageSet:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (n,), generator=gen)
    return ImageSet(images, labels, tuple(f"c{i}" for i in range(10)), "cifar10", "random")


def two_layer(with_bn: bool) -> nn.Module:
    first = nn.Linear(2, 2, bias=False)
    second = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 4.0]]))
        second.weight.copy_(torch.tensor([[-1.0, 2.0]]))
    mid: list[nn.Module] = [nn.BatchNorm1d(2)] if with_bn else []
    return nn.Sequential(first, *mid, second)


def linear_ln3() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Logits (ln 3, 0) for x = (1, 0): softmax (3/4, 1/4); target 1."""
    layer = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[LN3, 0.0], [0.0, 0.0]]))
    return layer, torch.tensor([[1.0, 0.0]]), torch.tensor([1])


# ----- proxies against hand-computed values ---------------------------------------------------


@pytest.mark.parametrize("with_bn", [False, True])
def test_synflow_by_hand(with_bn: bool) -> None:
    # |W1| = [[1,2],[3,4]], |W2| = [[1,2]], x = (1,1): h = (3,7), R = 17.
    # dR/dW2 = h -> |W2 * h| sums to 1*3 + 2*7 = 17; dR/dW1 = W2^T x^T -> 1+2+6+8 = 17.
    # Batch norm is removed, so the value does not change with it.
    assert synflow_score(two_layer(with_bn), (2,)) == 34.0


def test_naswot_by_hand() -> None:
    # codes (1,1,0,0), (1,0,1,0), (0,0,0,1): N_A = 4, Hamming 2, 3, 3
    x = torch.tensor([[1.0, 2.0, -1.0, -3.0], [1.0, -1.0, 5.0, -2.0], [-1.0, -1.0, -1.0, 4.0]])
    kernel_det = 4 * (16 - 1) - 2 * (8 - 1) + 1 * (2 - 4)
    assert kernel_det == 44
    assert naswot_score(nn.Sequential(nn.ReLU()), x) == pytest.approx(math.log(44.0), abs=1e-12)
    # a second ReLU sees the same codes: K doubles, det grows 2^3
    two = nn.Sequential(nn.ReLU(), nn.ReLU())
    assert naswot_score(two, x) == pytest.approx(math.log(44.0 * 8), abs=1e-12)


class HalfSquare(nn.Module):
    """f(x) = |x|^2 / 2 per image: the Jacobian of the summed output is x itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x**2).sum(dim=1, keepdim=True) / 2


def test_jacob_cov_orthogonal_rows() -> None:
    # zero-mean orthogonal rows: correlation = I, eigenvalues 1, 1, 1
    x = torch.tensor([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0], [1.0, -1.0, -1.0, 1.0]])
    k = JACOB_COV_K
    expected = -3 * (math.log(1 + k) + 1 / (1 + k))
    assert jacob_cov_score(HalfSquare(), x) == pytest.approx(expected, rel=1e-12)


def test_jacob_cov_linear_model() -> None:
    # y = W x: every image's Jacobian is the column sum of W, so all rows are equal:
    # correlation = all-ones, eigenvalues (3, 0, 0)
    layer = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0, 0.0, -1.0], [0.0, 1.0, 3.0, 1.0]]))
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    k = JACOB_COV_K
    expected = -((math.log(3 + k) + 1 / (3 + k)) + 2 * (math.log(k) + 1 / k))
    assert jacob_cov_score(layer, x) == pytest.approx(expected, rel=1e-9)


def test_jacob_cov_constant_output_is_nan() -> None:
    net = nb201_factory(ALL_NONE, channels=4, cells_per_stage=1)()
    assert math.isnan(jacob_cov_score(net, make_batch(tiny_data(), 8).inputs))


def test_gradient_proxies_on_a_linear_layer() -> None:
    # p = (3/4, 1/4), target 1: dL/dW = (p - e1) x^T = [[3/4, 0], [-3/4, 0]]
    layer, x, y = linear_ln3()
    assert snip_score(layer, x, y) == pytest.approx(0.75 * LN3, rel=1e-6)
    layer, x, y = linear_ln3()
    assert grad_norm_score(layer, x, y) == pytest.approx(0.75 * math.sqrt(2.0), rel=1e-6)
    # H = (diag p - p p^T) (x) x x^T; S (p - e1) = (9/32, -9/32): Hg = [[9/32, 0], [-9/32, 0]]
    layer, x, y = linear_ln3()
    assert grasp_score(layer, x, y) == pytest.approx(-9.0 * LN3 / 32.0, rel=1e-6)


def test_fisher_on_a_linear_layer() -> None:
    # a = (ln 3, 0), dL/da = (3/4, -3/4): 0.5 * (a * dL/da)^2 summed = 0.5 (0.75 ln 3)^2
    layer, x, y = linear_ln3()
    assert fisher_score(layer, x, y) == pytest.approx(0.5 * (0.75 * LN3) ** 2, rel=1e-6)


def test_params_and_flops_of_known_cells() -> None:
    batch = make_batch(tiny_data(), 8)
    empty = nb201_factory(ALL_NONE)
    assert compute_proxy("params", empty, batch)[0] == 73306.0  # NAS-Bench-201: 0.073306 M
    assert compute_proxy("params", nb201_factory(ALL_CONV), batch)[0] == 1531546.0
    # stem 2*3*9*16*1024; per reduction (16->32 at 16x16, 32->64 at 8x8) conv_a + conv_b +
    # 1x1 projection = 7,340,032; classifier 2*64*10. Multiply-adds: 7.78 M (NAS-Bench-201)
    assert compute_proxy("flops", empty, batch)[0] == 884736 + 2 * 7340032 + 1280


def test_each_proxy_on_a_fresh_copy() -> None:
    factory = nb201_factory(MIXED, channels=4, cells_per_stage=1)
    batch = make_batch(tiny_data(), 8)
    names = ("synflow", "grasp", "snip", "fisher", "naswot", "jacob_cov", "grad_norm")
    first = {p: compute_proxy(p, factory, batch)[0] for p in names}
    again = {p: compute_proxy(p, factory, batch)[0] for p in reversed(names)}
    assert first == again
    for p in names:
        assert math.isfinite(first[p]), p
    with pytest.raises(CenasError, match="unknown name"):
        compute_proxy("zen", factory, batch)


def test_batch_is_seeded_and_sized() -> None:
    data = tiny_data()
    a, b = make_batch(data, 64, seed=3), make_batch(data, 64, seed=3)
    assert a.indices == b.indices and len(set(a.indices)) == 64
    assert a.indices != make_batch(data, 64, seed=4).indices
    assert torch.equal(a.targets, data.labels[list(a.indices)])
    with pytest.raises(CenasError, match="need 81 images"):
        make_batch(data, 81)


# ----- estimators, the vote, the registry ------------------------------------------------------


def test_vote_ranks() -> None:
    votes = vote_ranks({"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0], "c": [2.0, 1.0, math.nan]})
    np.testing.assert_allclose(votes, [7 / 3, 2.0, 5 / 3])
    np.testing.assert_allclose(vote_ranks({"a": [1.0, 1.0, 2.0]}), [1.5, 1.5, 3.0])


def test_vote_estimator_rank_and_estimate() -> None:
    data = tiny_data()
    dev = torch.device("cpu")
    cells = [ALL_CONV, MIXED, ALL_NONE]
    vote = VoteEstimator(channels=4, cells_per_stage=1, batch_size=8)
    ranked = vote.rank(cells, data, dev)
    batch = make_batch(data, 8)
    raw = {
        m: [compute_proxy(m, nb201_factory(c, 4, 1), batch)[0] for c in cells] for m in VOTE_MEMBERS
    }
    assert list(ranked.values()) == pytest.approx(list(vote_ranks(raw)))
    assert ranked[ALL_NONE] == min(ranked.values())  # NaN jacob_cov ranks last
    first = vote.estimate(MIXED, data, dev)
    assert first.score == 1.0 and first.extra["population"] == 1
    assert first.extra["synflow"] == raw["synflow"][1]
    second = vote.estimate(ALL_NONE, data, dev)
    assert second.score == 0.0 and second.extra["population"] == 2
    ref = {m: [raw[m][0], raw[m][2]] for m in VOTE_MEMBERS}
    referenced = VoteEstimator(reference=ref, channels=4, cells_per_stage=1, batch_size=8)
    # MIXED against (ALL_CONV, ALL_NONE): its member ranks among the three cells
    expected = (vote_ranks({m: [*ref[m], raw[m][1]] for m in VOTE_MEMBERS})[2] - 1) / 2
    assert referenced.estimate(MIXED, data, dev).score == pytest.approx(expected)


def test_zero_cost_estimator_and_costs() -> None:
    est = ZeroCostEstimator("snip", channels=4, cells_per_stage=1, batch_size=8)
    assert est.name == "zero-cost:snip" and est.cost.kind == "gradient"
    result = est.estimate(MIXED, tiny_data(), torch.device("cpu"))
    factory = nb201_factory(MIXED, 4, 1)
    assert result.score == compute_proxy("snip", factory, make_batch(tiny_data(), 8))[0]
    assert result.seconds >= result.extra["proxy_seconds"] > 0
    assert ZeroCostEstimator("synflow").cost.kind == "zero-cost"
    assert set(GRADIENT_PROXIES) == {"snip", "grad_norm", "grasp"}


def test_registry() -> None:
    for p in PROXIES:
        assert f"zero-cost:{p}" in LIVE_ESTIMATORS
    assert {"zero-cost:vote", "low-fidelity", "one-shot", "few-shot"} <= set(LIVE_ESTIMATORS)
    assert isinstance(make_live_estimator("zero-cost:vote"), VoteEstimator)
    est = make_live_estimator("zero-cost:naswot", batch_seed=2)
    assert isinstance(est, ZeroCostEstimator) and est.proxy == "naswot"
    with pytest.raises(CenasError, match="unknown 'zero-cost:zen'"):
        make_live_estimator("zero-cost:zen")


# ----- the table job ----------------------------------------------------------------------------

TINY = TableConfig(channels=4, cells_per_stage=1, batch_size=8)
FAST = ("synflow", "naswot", "params")


def rows(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def test_shards_partition_the_order() -> None:
    order = cell_order(0)
    assert sorted(order.tolist()) == list(range(NB201Space().size))
    parts = [shard_cells(i, 3) for i in range(3)]
    assert sum(len(p) for p in parts) == NB201Space().size
    assert sorted(np.concatenate(parts).tolist()) == list(range(NB201Space().size))
    np.testing.assert_array_equal(parts[1], order[1::3])
    assert parse_shard("2/3") == (2, 3)
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(TableError):
            parse_shard(bad)
    assert parse_proxies("params,flops") == ("params", "flops")
    with pytest.raises(TableError, match="unknown zen"):
        parse_proxies("params,zen")


def test_table_writes_resumes_and_repairs(tmp_path: Path) -> None:
    from cenas.bench import load_nb201_table

    data = tiny_data()
    out = tmp_path / "table"
    run = run_table(data, out, limit=3, proxies=FAST, config=TINY)
    assert (run.done_before, run.written, run.remaining) == (0, 3, 0)
    path = shard_path(out, 0, FAST)
    frame = rows(path)
    space = NB201Space()
    first3 = cell_order(0)[:3]
    assert frame["arch_str"].tolist() == [space.to_str(space.from_index(int(i))) for i in first3]
    official = load_nb201_table()["index"].to_numpy()
    assert frame["index"].tolist() == [int(official[int(i)]) for i in first3]
    assert list(frame.columns) == [
        "index",
        "arch_str",
        "synflow",
        "synflow_s",
        "naswot",
        "naswot_s",
        "params",
        "params_s",
    ]
    # a rerun skips what is done
    again = run_table(data, out, limit=3, proxies=FAST, config=TINY)
    assert (again.done_before, again.written) == (3, 0)
    assert len(rows(path)) == 3
    # a truncated last line is dropped and redone
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 7])
    repaired = run_table(data, out, limit=3, proxies=FAST, config=TINY)
    assert (repaired.done_before, repaired.written) == (2, 1)
    redone = rows(path)
    assert len(redone) == 3 and redone["arch_str"].is_unique
    pd.testing.assert_frame_equal(
        redone.drop(columns=[c for c in redone.columns if str(c).endswith("_s")]),
        frame.drop(columns=[c for c in frame.columns if str(c).endswith("_s")]),
    )
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["config"]["channels"] == 4 and len(prov["runs"]) == 3
    assert prov["runs"][0]["threads"] == torch.get_num_threads()
    # another configuration is refused in the same folder
    with pytest.raises(TableError, match="another configuration"):
        run_table(
            data,
            out,
            limit=1,
            proxies=FAST,
            config=TableConfig(channels=4, cells_per_stage=1, batch_size=16, batch_seed=1),
        )


def test_a_new_shard_layout_skips_cells_done_under_the_old(tmp_path: Path) -> None:
    data = tiny_data()
    out = tmp_path / "table"
    run_table(data, out, limit=4, proxies=FAST, config=TINY)  # order[0..3] in shard-0
    # shard 1/2 visits order[1], order[3], order[5]: the first two are done already
    second = run_table(data, out, shard=(1, 2), limit=3, proxies=FAST, config=TINY)
    assert (second.done_before, second.written, second.remaining) == (2, 1, 0)
    space = NB201Space()
    fifth = space.to_str(space.from_index(int(cell_order(0)[5])))
    assert rows(shard_path(out, 1, FAST))["arch_str"].tolist() == [fifth]
    # files of other proxies never count
    assert done_in_other_shards(out, shard_path(out, 0, ("params",)), ("params",)) == set()


def test_cpu_seconds_leave_out_the_time_the_process_waits() -> None:
    import gc
    import time

    batch = make_batch(tiny_data(), 8, 0, torch.device("cpu"))
    build = nb201_factory(MIXED, 4, 1, 10, 0)

    def sleepy() -> nn.Module:  # a stall the process does not compute through
        time.sleep(0.3)
        return build()

    gc.collect()  # earlier tests' garbage is not collected inside the measurements
    gc.disable()
    try:
        _, wall = compute_proxy("params", sleepy, batch)
        score, cpu = compute_proxy("params", sleepy, batch, time.thread_time)
    finally:
        gc.enable()
    assert wall >= 0.3 > 0.2 > cpu >= 0.0, (wall, cpu)
    assert score == compute_proxy("params", build, batch)[0]


def test_slow_rows_are_measured_again_and_the_last_row_counts(tmp_path: Path) -> None:
    data = tiny_data()
    out = tmp_path / "table"
    run_table(data, out, limit=4, proxies=FAST, config=TINY)
    path = shard_path(out, 0, FAST)
    before = rows(path)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["runs"][0]["clock"] == "thread_time"  # CPU seconds of torch's one thread
    slow = before.copy()
    slow.loc[2, "naswot_s"] = 30.0  # a job paused for 30 s (milliseconds of work)
    slow.loc[3, "params_s"] = 0.5  # slow, but by less than a second: kept
    slow.to_csv(path, index=False)
    assert slow_cells(path, FAST, 5.0) == {slow.loc[2, "arch_str"]}
    with pytest.raises(TableError, match="remeasure-over"):
        run_table(data, out, limit=4, proxies=FAST, config=TINY, remeasure_over=1.0)
    again = run_table(data, out, limit=5, proxies=FAST, config=TINY, remeasure_over=5.0)
    assert (again.done_before, again.written, again.remeasured, again.remaining) == (4, 2, 1, 0)
    after = rows(path)
    assert len(after) == 6 and after["arch_str"].tolist()[4] == slow.loc[2, "arch_str"]
    merged = merge_shards(out).set_index("arch_str")
    cell = merged.loc[slow.loc[2, "arch_str"]]
    assert cell["naswot_s"] < 1.0  # the new row's seconds
    assert cell["naswot"] == pytest.approx(before.loc[2, "naswot"], rel=1e-9)  # same score
    assert len(merged) == 5
    assert slow_cells(path, FAST, 5.0) == set()  # nothing slow left: a rerun redoes nothing


def test_ship_merges_shards(tmp_path: Path) -> None:
    data = tiny_data()
    out = tmp_path / "table"
    run_table(data, out, shard=(0, 2), limit=2, proxies=("synflow",), config=TINY)
    run_table(data, out, shard=(1, 2), limit=1, proxies=("synflow",), config=TINY)
    run_table(data, out, shard=(0, 2), limit=3, proxies=("params",), config=TINY)
    merged = merge_shards(out)
    assert len(merged) == 4  # shard 0: 3 cells (2 with synflow), shard 1: 1 cell
    assert merged["index"].is_monotonic_increasing
    assert int(merged["synflow"].notna().sum()) == 3
    assert int(merged["params"].notna().sum()) == 3
    record = ship_table(out, tmp_path / "ship")
    assert record["coverage"]["synflow"] == 3 and record["coverage"]["fisher"] == 0
    with gzip.open(tmp_path / "ship" / "nb201_proxies.csv.gz", "rt") as fh:
        shipped = pd.read_csv(fh)
    assert shipped.columns.tolist()[:4] == ["index", "arch_str", "synflow", "synflow_s"]
    assert set(PROXIES) <= set(shipped.columns)
    np.testing.assert_allclose(shipped["synflow"], merged["synflow"], equal_nan=True)
    saved = json.loads((tmp_path / "ship" / "nb201_proxies.json").read_text())
    assert saved["median_seconds"]["fisher"] is None and saved["cells"] == 4


# ----- the CLI ------------------------------------------------------------------------------------


def cli(args: list[str]) -> tuple[int, str]:
    from cenas.cli import main

    _register()
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0), ""
    return 0, ""


@pytest.mark.parametrize(
    "args",
    [
        ["estimate", "--arch", MIXED, "--data", "/no/such/cifar"],
        ["estimate", "--arch", "|bogus~0|", "--estimator", "zero-cost:params"],
        ["estimate", "--arch", MIXED, "--estimator", "zero-cost:zen"],
        ["estimate", "--arch", MIXED, "--device", "tpu"],
        ["estimators", "table", "--out", "/tmp/never-written", "--shard", "4/2"],
        ["estimators", "table", "--out", "/tmp/never-written", "--proxies", "zen"],
        ["estimators", "ship", "--from", "/no/such/table"],
    ],
)
def test_cli_errors_exit_2_with_one_line(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = cli(args)
    captured = capsys.readouterr()
    assert code == 2
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), captured.err
    assert "Traceback" not in captured.err


def test_cli_estimate_prints_score(capsys: pytest.CaptureFixture[str]) -> None:
    _register()
    result = runner.invoke(app, ["estimate", "--arch", ALL_NONE, "--estimator", "zero-cost:params"])
    assert result.exit_code == 0, result.output
    assert "score      73306" in result.output and "seconds" in result.output


def test_cli_estimate_trains_saves_and_loads_a_supernet(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    _register()
    saved = tmp_path / "supernet.pt"
    tiny = ["--arch", ALL_NONE, "--estimator", "one-shot", "--channels", "4", "--cells", "1"]
    tiny += ["--epochs", "1"]
    result = runner.invoke(app, ["estimate", *tiny, "--save-supernet", str(saved)])
    assert result.exit_code == 0, result.output
    assert saved.is_file() and f"saved to {saved}" in result.output
    # the all-none cell cannot see its input: exactly chance on the 10 balanced classes
    assert "score      10" in result.output
    loaded = runner.invoke(app, ["estimate", *tiny, "--supernet", str(saved)])
    assert loaded.exit_code == 0, loaded.output
    assert "score      10" in loaded.output


def test_cli_estimate_supernet_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    saved = tmp_path / "supernet.pt"
    tiny = ["--arch", ALL_NONE, "--estimator", "one-shot", "--channels", "4", "--cells", "1"]
    assert cli(["estimate", *tiny, "--epochs", "1", "--save-supernet", str(saved)])[0] == 0
    capsys.readouterr()
    code, _ = cli(["estimate", *tiny, "--epochs", "2", "--supernet", str(saved)])
    err = capsys.readouterr().err
    assert code == 2 and "another supernet config" in err and len(err.strip().splitlines()) == 1
    code, _ = cli(
        ["estimate", "--arch", "7", "--estimator", "zero-cost:params", "--save-supernet", "x"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "no supernet to save" in err


def test_cli_table_and_ship(tmp_path: Path) -> None:
    _register()
    out = tmp_path / "t"
    args = ["estimators", "table", "--out", str(out), "--limit", "2", "--channels", "4"]
    args += ["--cells-per-stage", "1", "--proxies", "params,flops", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 written" in result.output
    assert len(rows(out / "shard-0.params-flops.csv")) == 2
    result = runner.invoke(
        app, ["estimators", "ship", "--from", str(out), "--to", str(tmp_path / "s")]
    )
    assert result.exit_code == 0, result.output
    assert "shipped 2 cells" in result.output


def test_shipped_table_format() -> None:
    """The simulator reads exactly these columns; index and arch_str agree with NB201."""
    from cenas.bench import load_nb201_table
    from cenas.estimators._proxies import shipped_reference
    from cenas.estimators._table import columns, package_data_dir

    with gzip.open(package_data_dir() / "nb201_proxies.csv.gz", "rt") as fh:
        shipped = pd.read_csv(fh)
    assert shipped.columns.tolist() == columns(PROXIES)
    assert shipped["index"].is_monotonic_increasing and shipped["index"].is_unique
    bench = load_nb201_table().set_index("index")
    assert (bench.loc[shipped["index"], "arch_str"].to_numpy() == shipped["arch_str"]).all()
    meta = json.loads((package_data_dir() / "nb201_proxies.json").read_text())
    assert meta["cells"] == len(shipped)
    assert meta["coverage"] == {p: int(shipped[f"{p}_s"].notna().sum()) for p in PROXIES}
    ref = shipped_reference()
    assert ref is not None
    full = shipped[shipped[[f"{m}_s" for m in VOTE_MEMBERS]].notna().all(axis=1)]
    assert ref["synflow"] == full["synflow"].tolist()


def test_ship_counts_undefined_scores_as_measured(tmp_path: Path) -> None:
    from cenas.bench import load_nb201_table
    from cenas.estimators._table import columns

    index = dict(zip(load_nb201_table()["arch_str"], load_nb201_table()["index"], strict=True))
    out = tmp_path / "table"
    out.mkdir()
    lines = [",".join(columns(("jacob_cov",)))]
    lines.append(f"{index[ALL_NONE]},{ALL_NONE},nan,0.5")
    lines.append(f"{index[MIXED]},{MIXED},-65.25,0.75")
    (out / "shard-0.jacob_cov.csv").write_text("\n".join(lines) + "\n")
    record = ship_table(out, tmp_path / "ship")
    assert record["coverage"]["jacob_cov"] == 2 and record["undefined_scores"]["jacob_cov"] == 1
    assert record["median_seconds"]["jacob_cov"] == 0.625
