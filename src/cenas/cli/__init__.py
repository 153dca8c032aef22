"""The ``cenas`` command line: search, compare, traces, forecast, policy.

User errors (:class:`cenas.errors.CenasError`) print one line and exit with code 2.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from cenas.errors import CenasError

app = typer.Typer(
    name="cenas",
    help="Carbon-efficient neural architecture search (CE-NAS).",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_err = Console(stderr=True, soft_wrap=True)


_registered: list[bool] = []


def _register() -> None:
    if _registered:
        return
    _registered.append(True)
    from cenas.cli import _forecast, _policy, _search, _traces

    app.add_typer(_traces.app, name="traces")
    app.add_typer(_forecast.app, name="forecast")
    app.add_typer(_policy.app, name="policy")
    _search.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``cenas`` script."""
    _register()
    try:
        app(args=argv, standalone_mode=True)
    except CenasError as exc:
        _err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


__all__ = ["app", "main"]
