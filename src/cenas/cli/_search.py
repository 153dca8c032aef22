"""`cenas search` and `cenas compare`."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    """Add the search and compare commands to the root app."""
