"""The ``ecgshift`` command line: one module per command group, each command a thin call into the Python API.

``data`` (:mod:`.data`), ``models`` / ``train`` / ``predict`` / ``demo`` (:mod:`.predict`), ``holter`` (:mod:`.holter`),
``sweep`` / ``report`` (:mod:`.study`); consoles and formatting shared in :mod:`._console`.
Exit status: 0 when every input succeeded, 1 when some failed, 2 for usage and user errors, 130 when interrupted.
"""

from __future__ import annotations

import sys

import typer

from ecgshift.cli._console import err_console, print_error
from ecgshift.cli.data import data_app
from ecgshift.cli.holter import holter_command
from ecgshift.cli.predict import demo_command, models_command, predict_command, train_command
from ecgshift.cli.study import report_command, sweep_command
from ecgshift.errors import EcgShiftError

__all__ = ["app", "main"]

app = typer.Typer(help="AF detection across ECG modalities, with uncertainty that flags domain shift.", no_args_is_help=True, pretty_exceptions_enable=False)


def _show_version(value: bool) -> None:
    if value:
        from ecgshift import __version__

        typer.echo(f"ecgshift {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main_options(
    version: bool = typer.Option(False, "--version", help="Print the version of ecgshift and exit.", callback=_show_version, is_eager=True),
) -> None:
    """AF detection across ECG modalities, with uncertainty that flags domain shift."""

app.add_typer(data_app, name="data")
app.command("models")(models_command)
app.command("train")(train_command)
app.command("predict")(predict_command)
app.command("demo")(demo_command)
app.command("holter")(holter_command)
app.command("sweep")(sweep_command)
app.command("report")(report_command)


def main() -> None:
    """Entry point: user errors become one red line and exit code 2, never a traceback; a command's own exit code
    (e.g. 1 when some inputs failed) is passed on."""
    try:
        code = app(standalone_mode=False)
    except EcgShiftError as exc:  # includes UnknownNameError (a registry lookup by a user-given name)
        print_error(str(exc))
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # usage errors of the command-line parser (click's, as bundled by typer)
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
