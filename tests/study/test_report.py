"""The study report: rounded numbers, unquoted strings, the window, a page-wide table."""

from __future__ import annotations

import re
from pathlib import Path

from cenas.cli import main
from cenas.report._study import arch_html, axis_labels, fmt_value


def test_values_are_rounded_and_unquoted() -> None:
    assert fmt_value(827.0493732319999) == "827.049"
    assert fmt_value(0.99681512) == "0.996815"
    assert fmt_value(15000.0) == "15000"
    assert fmt_value("low-fidelity") == "low-fidelity"
    assert fmt_value(None) == "—"
    assert fmt_value(True) == "yes"
    assert fmt_value({"train_w": 300.0, "idle_w": 55.0}) == "train_w 300, idle_w 55"


def test_architecture_is_one_node_a_line_and_axes_have_units() -> None:
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
    assert arch_html(arch) == (
        "<code>|nor_conv_3x3~0|</code><br><code>|none~0|skip_connect~1|</code><br>"
        "<code>|avg_pool_3x3~0|none~1|nor_conv_1x1~2|</code>"
    )
    assert axis_labels("cifar100", "pixel3") == (
        "CIFAR-100 test accuracy after 200 epochs (%)",
        "latency on pixel3 (ms)",
    )
    assert axis_labels("cifar10", "fpga")[1] == "latency on FPGA (ms)"


def test_report_of_a_study(tmp_path: Path) -> None:
    args = ["search", "--runs-dir", str(tmp_path), "--name", "r", "--zone", "DE-LU", "--quiet"]
    try:
        main([*args, "--hours", "6", "--gpus", "2", "--optimizer", "random"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    text = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "window bundled DE-LU (direct), 2021-07-02 00:00 – 2021-07-02 06:00 UTC" in text
    assert "<tr><th>start</th><td>2021-07-02T00:00:00+00:00</td></tr>" in text
    assert "<td>&quot;" not in text and '<td>"' not in text  # no JSON-quoted strings
    cells = re.findall(r"<td>([^<]*)</td>", text)
    assert cells and not [c for c in cells if re.search(r"\d\.\d{7,}", c)]  # no raw floats
    assert "<br><code>" in text  # architectures wrapped one node a line
