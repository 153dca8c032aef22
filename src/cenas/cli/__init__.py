"""The ``cenas`` command line: search, compare, traces, forecast, policy.

User errors (:class:`cenas.errors.CenasError`) print one line and exit with code 2.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from cenas.errors import CenasError

app = typer.Typer(
    name="cenas",
    help="Carbon-efficient neural architecture search (CE-NAS).",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        from cenas import __version__

        typer.echo(f"cenas {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Carbon-efficient neural architecture search (CE-NAS)."""
    if ctx.invoked_subcommand is None:  # a bare `cenas` shows what it can do
        typer.echo(ctx.get_help())
        raise typer.Exit()


_err = Console(stderr=True, soft_wrap=True)


_registered: list[bool] = []


def _register() -> None:
    if _registered:
        return
    _registered.append(True)
    from cenas.cli import (
        _estimators,
        _estimators_evaluate,  # noqa: F401  (adds `estimators evaluate`)
        _forecast,
        _policy,
        _search,
        _traces,
        _train_final,
    )

    app.add_typer(_traces.app, name="traces")
    app.add_typer(_forecast.app, name="forecast")
    app.add_typer(_policy.app, name="policy")
    _search.register(app)
    _estimators.register(app)
    _train_final.register(app)


def _fail(message: str, code: int = 2) -> None:
    text = escape(" ".join(message.split()))  # one line; brackets in it are not markup
    _err.print(f"[bold red]error:[/] {text}", highlight=False)
    sys.exit(code)


def _given(args: list[str], opts: list[str]) -> str | None:
    """The value given on the command line for an option named by any of ``opts``."""
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(opt + "="):
                return arg[len(opt) + 1 :]
    return None


def _usage_line(exc: typer.TyperException, args: list[str]) -> str:
    """One line for a flag click could not parse: the flag, the value and what it expects."""
    ctx = getattr(exc, "ctx", None)
    where = f"see {ctx.command_path} --help" if ctx is not None else "see cenas --help"
    param = getattr(exc, "param", None)
    opts = list(getattr(param, "opts", []) or [])
    if opts:
        value = _given(args, opts)
        got = "" if value is None else f"got {value!r}; "
        return f"{'/'.join(opts)}: {exc.message} ({got}{where})"
    return f"{exc.format_message()} ({where})"


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``cenas`` script.

    Bad input, whether a flag click cannot parse (``--budget-g abc``, an unknown option) or
    a :class:`~cenas.errors.CenasError`, prints one ``error:`` line and exits with code 2.
    """
    _register()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args=args, prog_name="cenas", standalone_mode=False)
    except CenasError as exc:
        _fail(str(exc))
    except typer.TyperException as exc:  # click's usage errors: bad or unknown flags
        _fail(_usage_line(exc, args), getattr(exc, "exit_code", 2))
    except typer.Abort:
        _fail("aborted", 1)
    sys.exit(code if isinstance(code, int) else 0)  # as click's standalone mode does


__all__ = ["app", "main"]
