"""What every command shares: the consoles, the progress bar, cell formatting and the one-line error."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["console", "err_console", "progress", "fmt", "print_error", "check_output_file", "check_output_folder"]

console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


def progress() -> Progress:
    """A transient progress bar on stderr (description, bar, n/m, elapsed)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=True)


def fmt(value, *, digits: int = 3, max_len: int | None = None) -> str:
    """A table cell: '' for None / NaN, floats to ``digits``, text escaped (a name like "rec[1]" is not rich markup)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if digits == 2 else f"{value:.{digits}f}"
    text = str(value)
    if max_len is not None and len(text) > max_len:
        text = text[: max_len - 3] + "…"
    return escape(text)


def print_error(message: str) -> None:
    """One red line on stderr, however long (``error: <message>``)."""
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def check_output_file(path) -> None:
    """A file the command can write, checked before any work (so results are never lost after a long batch);
    else a one-line :class:`~ecgshift.errors.EcgShiftError`."""
    from pathlib import Path

    from ecgshift.errors import EcgShiftError

    path = Path(path)
    if path.is_dir():
        raise EcgShiftError(f"{path}: --out names a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        with open(path, "a"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        raise EcgShiftError(f"{path}: cannot write the output here ({exc.strerror or exc})") from None


def check_output_folder(path) -> None:
    """A folder the command can write into, checked before any work; else a one-line error."""
    from pathlib import Path

    from ecgshift.errors import EcgShiftError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EcgShiftError(f"{path}: --out must be a folder, and this is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".ecgshift-write-check"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise EcgShiftError(f"{path}: cannot write the output here ({exc.strerror or exc})") from None
