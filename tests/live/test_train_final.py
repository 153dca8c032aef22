"""`cenas train-final`: one architecture trained with a (shortened) recipe, priced."""

from __future__ import annotations

import json

import pytest
import torch

from cenas.cli import main
from cenas.nn import build_darts, build_nb201, count_params
from cenas.space import DARTS_V2

NB201_CELL = (
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|skip_connect~2|"
)


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(args)
    out = capsys.readouterr()
    return int(stop.value.code or 0), out.out, out.err


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_train_final_reports_the_papers_columns(
    space: str, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.set_num_threads(1)
    arch = str(DARTS_V2) if space == "darts" else NB201_CELL
    args = [
        "train-final",
        arch,
        "--epochs",
        "1",
        "--channels",
        "4",
        "--layers",
        "3" if space == "darts" else "1",
        "--intensity",
        "250",
        "--format",
        "json",
    ]
    code, stdout, stderr = _run(args, capsys)
    assert code == 0, stderr
    out = json.loads(stdout)
    assert out["space"] == space and out["status"] == "completed" and out["epochs"] == 1
    assert 0.0 < out["test_acc"] <= 100.0
    if space == "darts":
        expected = build_darts(DARTS_V2, 4, 3, 10, auxiliary=False).count_params()
    else:
        expected = count_params(build_nb201(NB201_CELL, 4, 1, 10))
    assert out["params"] == expected
    assert out["energy_measured"] is False and out["meter"].startswith("model:")
    assert out["carbon_g"] == pytest.approx(out["energy_kwh"] * 250.0)
    assert out["device_hours"] > 0


def test_train_final_refuses_a_malformed_genotype_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, stderr = _run(["train-final", "Genotype(normal=[('sep_conv_7x7', 0)])"], capsys)
    assert code == 2
    assert "darts genotype" in stderr and len(stderr.strip().splitlines()) == 1
