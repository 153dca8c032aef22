"""Redraw the figures of a ``cenas compare`` result from its ``summary.json`` and ``runs.json``.

The runs are not repeated: the figures are drawn again from the stored numbers (after a
change to the figures only). ``summary.json`` is rewritten with the same content.

Usage::

    python benchmarks/replot_compare.py benchmarks/results/compare-default
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cenas.compare import write_compare


def main(argv: list[str] | None = None) -> int:
    """Read the two files of ``DIR`` and write its figures again."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("directory", type=Path)
    args = ap.parse_args(argv)
    summary = json.loads((args.directory / "summary.json").read_text(encoding="utf-8"))
    summary["runs"] = json.loads((args.directory / "runs.json").read_text(encoding="utf-8"))
    for path in write_compare(summary, args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
