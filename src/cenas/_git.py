"""The git commit behind a result: the one home of that lookup."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit() -> str | None:
    """The git commit of the cenas source tree, with ``+dirty`` if tracked code (``src``,
    ``benchmarks/*.py``; not result files) differs from it (``None`` outside a checkout)."""
    src = Path(__file__).resolve().parent
    status = ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"]
    try:
        head = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [*status, "--", ":/src", ":/benchmarks/*.py"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


__all__ = ["git_commit"]
