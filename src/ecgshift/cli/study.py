"""``ecgshift sweep`` (the modality-mix experiment) and ``ecgshift report`` (its HTML report).

Register with ``app.command("sweep")(sweep_command)`` and ``app.command("report")(report_command)``.
A sweep resumes: cells already finished in ``--out`` are skipped. A cell that fails is reported and
the sweep goes on; the command then exits with code 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ecgshift.errors import EcgShiftError

__all__ = ["sweep_command", "report_command"]

console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


def _config_path(config: Path) -> Path:
    """A TOML path, or the name of a sweep shipped with ecgshift (``default``, ``quick``)."""
    if config.is_file():
        return config
    from ecgshift.assets import asset_path

    shipped = asset_path("sweeps", f"{config.name}.toml" if config.suffix != ".toml" else config.name)
    if shipped.exists():
        return shipped
    raise EcgShiftError(f"{config}: sweep config not found (give a TOML file, or default / quick)")


def sweep_command(
    config: Path = typer.Argument(..., help="Sweep TOML file, or a shipped sweep: default, quick."),
    out: Path = typer.Option(..., "--out", help="Results folder (runs/, cells/, results.csv …); reused to resume."),
    executor: str = typer.Option("local", "--executor", help="local (worker processes) or ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (with --executor ray; else a local Ray)."),
    workers: int = typer.Option(2, "--workers", help="Cells run at once (one torch thread each)."),
    quick: bool = typer.Option(False, "--quick", help="Tiny budget, 1 epoch, few bootstrap resamples: a smoke run."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding the datasets (else $ECGSHIFT_DATA, else ./data)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache folder (else $ECGSHIFT_CACHE, else ~/.cache/ecgshift)."),
) -> None:
    """Train a grid of modality mixes × seeds and evaluate every run on every modality's test split."""
    from ecgshift.paths import cache_root
    from ecgshift.study.sweep import load_sweep_config, plan_cells, run_sweep

    if workers < 1:
        raise EcgShiftError(f"--workers must be at least 1, not {workers}")
    sweep = load_sweep_config(_config_path(config), quick=True if quick else None)
    cells = plan_cells(sweep)
    err_console.print(f"{len(cells)} cells ({len({c.name for c in cells})} mixes × {len(sweep.seeds)} seeds) → {out}")

    def on_cell(outcome, done: int, total: int) -> None:
        colour = "red" if outcome.status.startswith("error") else "green" if outcome.status != "skipped" else "dim"
        err_console.print(f"[{colour}]{done:3d}/{total} {escape(outcome.cell_id)}: {escape(outcome.status)}[/{colour}] ({outcome.seconds:.0f} s)", highlight=False)

    result = run_sweep(sweep, data_root=data_root, cache_dir=cache_root(cache_dir), out_dir=out, executor=executor, address=address,
                       workers=workers, on_cell=on_cell)
    _show(result.results)
    console.print(f"{result.n_trained} trained, {sum(o.status == 'skipped' for o in result.outcomes)} skipped, "
                  f"{len(result.errors)} errors in {result.seconds:.0f} s → {out / 'results.csv'}")
    if result.errors:
        raise typer.Exit(1)


def _show(results) -> None:
    if results.empty:
        return
    table = Table(title="accuracy (mean over seeds) · rows: training mix, columns: test modality")
    means = results.groupby(["mix_name", "test_modality"], sort=False).accuracy.mean().unstack()
    table.add_column("mix")
    for column in means.columns:
        table.add_column(column, justify="right")
    for mix, row in means.iterrows():
        table.add_row(escape(str(mix)), *[f"{v:.3f}" for v in row])
    console.print(table)


def report_command(
    results: Path = typer.Argument(..., help="A sweep's results folder (the --out of `ecgshift sweep`)."),
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write (self-contained)."),
) -> None:
    """Write the sweep's self-contained HTML report and print the reference findings."""
    from ecgshift.study.report import assess_findings, write_report

    if not results.is_dir():
        raise EcgShiftError(f"{results}: results folder not found")
    path = write_report(results, out)
    for finding in assess_findings(results):
        console.print(f"[bold]{escape(finding.claim)}[/bold] {escape(finding.status)}: {escape(finding.evidence)}", highlight=False)
    console.print(f"report → {path}")
