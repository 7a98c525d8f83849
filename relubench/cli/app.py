"""The Typer app, its consoles, and the one place a user's mistake becomes one line.

Every user mistake is a RelubenchError, turned into one red line on stderr and exit code 2 in
`_Commands.invoke`; no command catches them one by one. The command modules beside this one
register themselves on `app`; each parses, calls one function of the Python API, and prints.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

import relubench
from relubench import views
from relubench.errors import CompareError, RelubenchError
from relubench.runfolder import printable

console = Console()
err = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    trained = False  # `train` ran in this process: main() ends it without the teardown


def fail(message: str, code: int = 2) -> NoReturn:
    """One red line on stderr, no traceback: the message's markup shown as text, its control
    characters (from a path or a run folder) escaped, never sent raw to the terminal."""
    err.print(f"[bold red]error:[/] {escape(printable(str(message)))}")
    raise typer.Exit(code)


def warn_skipped(skipped: list[tuple[str, str]]) -> None:
    if skipped:
        err.print(views.skipped_warning(skipped))


def examples(*lines: str) -> str:
    """A command's --help epilog: one or two commands a user can copy."""
    return "Examples:\n\n" + "\n\n".join(f"  $ {line}" for line in lines)


UsageError = typer.BadParameter.__bases__[0]  # click's, as the Typer in use vendors it


class _Commands(TyperGroup):
    """Every command's user errors end here: one line, exit 2. That includes what the parser
    refuses (an unknown flag, a missing value), which Click would print as a usage block."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RelubenchError as e:
            if isinstance(e, CompareError):
                warn_skipped(e.skipped)
            fail(str(e))
        except UsageError as e:
            where = e.ctx.command_path if e.ctx else "relubench"
            fail(f"{e.format_message()} (see {where} --help)")


def group(help: str) -> typer.Typer:
    """A command group (data, export, study); its errors end in the app's handler."""
    return typer.Typer(help=help, no_args_is_help=True)


app = typer.Typer(
    name="relubench",
    cls=_Commands,
    help="Experiment runner for the ReLU family: train, count dead units, track PReLU slopes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.print(f"relubench {relubench.__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """relubench: which ReLU-family activation, and why - with evidence."""
