"""``ecgshift data``: summarize, prepare and download datasets."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ecgshift.cli._console import console, progress as _progress
from ecgshift.errors import EcgShiftError

__all__ = ["data_app", "DataRoot", "CacheDir", "sample_root"]

data_app = typer.Typer(help="Read, summarize, prepare and download datasets.", no_args_is_help=True)

DataRoot = typer.Option(None, "--data-root", help="Folder holding the datasets (else $ECGSHIFT_DATA, else ./data).")
CacheDir = typer.Option(None, "--cache-dir", help="Cache folder (else $ECGSHIFT_CACHE, else ~/.cache/ecgshift).")


def sample_root() -> Path:
    from ecgshift.assets import sample_folder

    return sample_folder()


def _datasets(data_root: Optional[Path], names: List[str], folder: Optional[Path], sample: bool):
    from ecgshift.datasets import PUBLIC_DATASETS, Folder, find_root, load_dataset
    from ecgshift.paths import data_root as resolve

    if sample:
        return [Folder(sample_root())], []
    if folder is not None:
        return [Folder(folder)], []
    root = resolve(data_root)
    if not root.is_dir():
        raise EcgShiftError(f"{root}: data root not found (give --data-root, set $ECGSHIFT_DATA, or try --sample)")
    found, missing = [], []
    for name in names or PUBLIC_DATASETS:
        try:
            find_root(root, name)
        except EcgShiftError:
            missing.append(name)
            continue
        found.append(load_dataset(name, data_root=root))
    if not found:
        raise EcgShiftError(f"{root}: none of the datasets {', '.join(names or PUBLIC_DATASETS)} found there")
    return found, missing


@data_app.command("summary")
def data_summary(
    data_root: Optional[Path] = DataRoot,
    dataset: List[str] = typer.Option([], "--dataset", "-d", help="Only these datasets (repeatable)."),
    folder: Optional[Path] = typer.Option(None, "--folder", help="A folder of your own with a manifest.csv."),
    sample: bool = typer.Option(False, "--sample", help="Use the recordings bundled with ecgshift."),
    windows: bool = typer.Option(False, "--windows", help="Prepare (and cache) windows to count them by label."),
    cache_dir: Optional[Path] = CacheDir,
) -> int:
    """Records, patients, windows and AF / SR / other / noisy counts per dataset and modality; a dataset that cannot be
    described (e.g. a malformed label file) is one line, and the others are still listed."""
    from ecgshift.paths import cache_root
    from ecgshift.preprocess import HarmonizeConfig
    from ecgshift.summary import summarize_datasets

    config = HarmonizeConfig()
    cache = cache_root(cache_dir)
    found, missing = _datasets(data_root, dataset, folder, sample)
    with _progress() as progress:
        task = progress.add_task("describing", total=None)

        def on_record(name: str, i: int, n: int) -> None:
            progress.update(task, description=f"preparing {name}", completed=i, total=n)

        summaries, failures = summarize_datasets(found, cache_dir=cache, config=config, windows=windows, on_record=on_record)
    console.print(_summary_table(summaries, by_windows=windows))
    for failure in failures:
        console.print(f"[red]{escape(failure.dataset)}[/red]: {escape(failure.error)}", highlight=False)
    for name in missing:
        console.print(f"[yellow]{name}: not found under the data root[/yellow]")
    if failures:
        raise typer.Exit(1)
    return 0


def _summary_table(summaries, *, by_windows: bool) -> Table:
    what = "windows" if by_windows else "records"
    table = Table(title=f"ecgshift data summary (label counts: {what})")
    for column in ("dataset", "modality", "records", "patients", "hours", "windows", "AF", "SR", "other", "noisy", "AF h", "SR h", "AF episodes"):
        table.add_column(column, justify="left" if column in ("dataset", "modality") else "right")
    for s in summaries:
        labels = s.label_windows if by_windows and s.label_windows is not None else s.label_records
        table.add_row(
            s.dataset,
            s.modality,
            f"{s.records:,}",
            "–" if s.patients is None else f"{s.patients:,}",
            f"{s.hours:,.1f}",
            "annotations only" if s.windows is None else f"{s.windows:,}",
            *(f"{labels[k]:,}" for k in ("AF", "SR", "other", "noisy")),
            f"{s.rhythm_hours['AF']:,.2f}" if s.rhythm_hours else "",
            f"{s.rhythm_hours['SR']:,.2f}" if s.rhythm_hours else "",
            "" if s.af_episodes is None else f"{s.af_episodes:,}",
        )
    return table


@data_app.command("prepare")
def data_prepare(
    data_root: Optional[Path] = DataRoot,
    dataset: List[str] = typer.Option([], "--dataset", "-d", help="Only these datasets (repeatable)."),
    folder: Optional[Path] = typer.Option(None, "--folder", help="A folder of your own with a manifest.csv."),
    sample: bool = typer.Option(False, "--sample", help="Use the recordings bundled with ecgshift."),
    cache_dir: Optional[Path] = CacheDir,
    rejected_csv: Optional[Path] = typer.Option(None, "--rejected-csv", help="Write every rejected record and its reason here."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Ignore an existing cache entry."),
) -> None:
    """Harmonize and window every record into the cache; account for every record (prepared or rejected, with why)."""
    import pandas as pd

    from ecgshift.cache import prepare
    from ecgshift.paths import cache_root

    cache = cache_root(cache_dir)
    found, missing = _datasets(data_root, dataset, folder, sample)
    rejected_rows, notes = [], []
    table = Table(title="ecgshift data prepare")
    for column in ("dataset", "records", "prepared", "rejected", "windows", "seconds", "source", "cache entry"):
        table.add_column(column)
    with _progress() as progress:
        for ds in found:
            if not ds.has_waveforms:
                table.add_row(ds.name, "", "", "", "annotations only: nothing to window", "", "", "")
                continue
            task = progress.add_task(f"preparing {ds.name}", total=None)
            result = prepare(ds, cache_dir=cache, rebuild=rebuild, on_record=lambda i, n: progress.update(task, completed=i, total=n))
            progress.remove_task(task)
            prepared = result.n_records - len(result.rejected)
            table.add_row(ds.name, f"{result.n_records:,}", f"{prepared:,}", f"{len(result.rejected):,}", f"{len(result.windows):,}", f"{result.seconds:.1f}", "built" if result.built else "cache", str(result.path))
            rejected_rows += [{"dataset": ds.name, "path": r.path, "reason": r.reason} for r in result.rejected]
            notes += [f"{ds.name}: {note}" for note in result.notes]
    console.print(table)
    for row in rejected_rows[:20]:
        console.print(f"[red]rejected[/red] {row['reason']}", markup=True, highlight=False)
    if len(rejected_rows) > 20:
        console.print(f"… and {len(rejected_rows) - 20} more")
    for note in notes[:20]:
        console.print(f"[yellow]note[/yellow] {escape(note)}", highlight=False)
    if len(notes) > 20:
        console.print(f"… and {len(notes) - 20} more notes")
    if rejected_csv is not None:
        pd.DataFrame(rejected_rows, columns=["dataset", "path", "reason"]).to_csv(rejected_csv, index=False)
        console.print(f"rejections written to {rejected_csv}")
    for name in missing:
        console.print(f"[yellow]{name}: not found under the data root[/yellow]")


@data_app.command("download")
def data_download(
    name: str = typer.Argument(..., help="Dataset: mitdb, cinc2017, ptbxl, ltafdb, nsr2db."),
    to: Path = typer.Option(..., "--to", help="Target folder."),
    pattern: List[str] = typer.Option([], "--pattern", help="Only files matching these glob patterns (repeatable)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Mirror URL (else $ECGSHIFT_PHYSIONET_URL, else PhysioNet)."),
) -> None:
    """Fetch a dataset from PhysioNet, verifying every file's SHA-256 (resumable)."""
    from ecgshift.download import download_dataset, get_source

    try:
        get_source(name)
    except KeyError as exc:
        raise EcgShiftError(str(exc).strip("\"'")) from None
    with _progress() as progress:
        task = progress.add_task(f"downloading {name}", total=None)
        report = download_dataset(name, to, base_url=base_url, patterns=pattern or None, on_file=lambda p, i, n: progress.update(task, completed=i, total=n))
    console.print(f"{name}: {len(report.downloaded)} downloaded, {len(report.skipped)} already present, {len(report.failed)} failed ({report.bytes / 1e6:.1f} MB) → {to}")
    for failure in report.failed:
        console.print(f"[red]failed[/red] {failure.path}: {failure.reason}", highlight=False)
    if report.failed:
        raise typer.Exit(1)
