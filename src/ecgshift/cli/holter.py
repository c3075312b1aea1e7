"""``ecgshift holter``: long recordings → AF episodes, burden and an uncertainty timeline, one folder each.

Register with ``app.command("holter")(holter_command)``. Every recording is
accounted for in ``<out>/holter_summary.csv``: ``done``, ``rejected: <reason>``
(bad input, one line) or ``error: <reason>`` (an unexpected failure: the batch
goes on and the command exits with code 1 at the end).

``--executor ray`` runs one Ray task per recording (``ray.init(address=...)``,
or a local Ray instance without ``--address``); each task loads the model
itself, so recordings, model and output folder must be on a filesystem every
worker sees. Tested with a local Ray instance (Ray 2.60, tests/test_holter.py); a
remote cluster (``--address``) has not been tried. Without Ray installed the
command stops with one line saying ``pip install ray``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ecgshift.errors import BadInputError, EcgShiftError

__all__ = ["holter_command", "analyse_to_folder", "SUMMARY_FILE"]

SUMMARY_FILE = "holter_summary.csv"
_LEADING = ("record", "path", "status", "folder")
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


def analyse_to_folder(path: Path, folder: Path, *, model, config, reference: Optional[str],
                      on_chunk: Optional[Callable[[float, float], None]] = None) -> dict:
    """Analyse one recording and write its three files; the returned row says done / rejected / error."""
    from ecgshift.holter import analyse_holter
    from ecgshift.holter.report import summary_row, write_outputs

    base = {"record": folder.name, "path": str(path)}
    try:
        result = analyse_holter(path, model=model, config=config, reference=reference, on_chunk=on_chunk)
    except BadInputError as exc:
        reason = exc.problem if exc.path == str(path) else str(exc)
        return {**base, "status": f"rejected: {reason}"}
    except Exception as exc:  # a bug or an unforeseen input: reported, and the batch goes on
        return {**base, "status": f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}
    write_outputs(result, folder)
    return {**base, "status": "done", "folder": str(folder), **summary_row(result), "record": folder.name}


def _folders(inputs: list[Path], out: Path) -> list[Path]:
    """``<out>/<record name>``, made unique with ``_2``, ``_3`` … when two inputs share a name."""
    used: dict[str, int] = {}
    folders = []
    for path in inputs:
        name = path.stem if path.suffix.lower() in {".hea", ".dat", ".edf", ".csv"} else path.name
        used[name] = used.get(name, 0) + 1
        folders.append(out / (name if used[name] == 1 else f"{name}_{used[name]}"))
    return folders


def _run_local(jobs: list[tuple[Path, Path]], *, model_dir: Optional[Path], config, reference: Optional[str]) -> list[dict]:
    from ecgshift.predictor import load_model

    model = load_model(model_dir)
    rows = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("holter", total=len(jobs))
        for i, (path, folder) in enumerate(jobs):
            def on_chunk(done_s: float, total_s: float, name: str = folder.name) -> None:
                progress.update(task, description=f"{name} {100 * done_s / max(total_s, 1e-9):3.0f} %")

            rows.append(analyse_to_folder(path, folder, model=model, config=config, reference=reference, on_chunk=on_chunk))
            progress.update(task, completed=i + 1)
    return rows


def _ray_task(path: str, folder: str, model_dir: Optional[str], config, reference: Optional[str]) -> dict:
    """One recording on a Ray worker: one thread, the model loaded in the worker."""
    import torch

    from ecgshift.predictor import load_model

    torch.set_num_threads(1)
    return analyse_to_folder(Path(path), Path(folder), model=load_model(model_dir), config=config, reference=reference)


def _run_ray(jobs: list[tuple[Path, Path]], *, model_dir: Optional[Path], config, reference: Optional[str],
             address: Optional[str]) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise EcgShiftError("--executor ray needs Ray, which is not installed: pip install ray") from None
    from ecgshift.predictor import load_model

    load_model(model_dir)  # a bad model folder fails here, once, not in every task
    started = not ray.is_initialized()
    ray.init(address=address, ignore_reinit_error=True)
    try:
        return _gather_ray(ray, jobs, model_dir=model_dir, config=config, reference=reference)
    finally:
        if started:
            ray.shutdown()


def _gather_ray(ray, jobs: list[tuple[Path, Path]], *, model_dir: Optional[Path], config, reference: Optional[str]) -> list[dict]:
    task = ray.remote(num_cpus=1)(_ray_task)
    model_arg = None if model_dir is None else str(Path(model_dir).resolve())
    pending = {task.remote(str(Path(p).resolve()), str(Path(f).resolve()), model_arg, config, reference): i
               for i, (p, f) in enumerate(jobs)}
    rows: list[dict] = [{} for _ in jobs]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        bar = progress.add_task("holter (ray)", total=len(jobs))
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                i = pending.pop(ref)
                try:
                    rows[i] = ray.get(ref)
                except Exception as exc:  # a worker died or raised: the recording is still accounted for
                    path, folder = jobs[i]
                    rows[i] = {"record": folder.name, "path": str(path), "status": f"error: ray task failed: {' '.join(str(exc).split())[:200]}"}
                progress.advance(bar)
    return rows


def _show(frame, out: Path) -> None:
    table = Table(title=f"ecgshift holter → {out}")
    columns = [c for c in ("record", "status", "duration_s", "analysed_s", "burden_pct", "n_episodes", "n_review_windows",
                           "ref_episode_sensitivity", "ref_episode_ppv", "ref_burden_error_pct") if c in frame]
    for column in columns:
        table.add_column(column)
    for row in frame.to_dict("records"):
        table.add_row(*[_fmt(row.get(c)) for c in columns])
    console.print(table)
    done = int((frame.status == "done").sum())
    console.print(f"recordings: {len(frame)} · done {done} · rejected {int(frame.status.str.startswith('rejected').sum())}"
                  f" · errors {int(frame.status.str.startswith('error').sum())} → {out / SUMMARY_FILE}")
    for row in frame[frame.status != "done"].to_dict("records"):
        console.print(f"[red]{row['path']}[/red]: {row['status']}", highlight=False)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def holter_command(
    records: List[Path] = typer.Argument(..., help="Long recordings or folders of them (WFDB .hea, EDF)."),
    out: Path = typer.Option(..., "--out", help="Output folder: <out>/<record>/{episodes.csv,summary.json,timeline.html}."),
    model_dir: Optional[Path] = typer.Option(None, "--model", help="Run folder (default: the model shipped with ecgshift)."),
    mc: int = typer.Option(20, "--mc", help="Monte Carlo Dropout passes."),
    full_mc: bool = typer.Option(False, "--full-mc", help="Resample the whole network, not only the dropout head (slower)."),
    reference: Optional[str] = typer.Option(None, "--reference", help="annotation extension to evaluate against, e.g. atr"),
    fusion: bool = typer.Option(True, "--fusion/--no-fusion",
                                help="Decide AF with the network's p(AF) fused with rhythm evidence (default), or by p(AF) alone."),
    executor: str = typer.Option("local", "--executor", help="local or ray"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (with --executor ray)."),
) -> None:
    """Holter analysis: AF episodes, burden (overall and per hour), unanalysable time by reason, review windows."""
    import pandas as pd

    from ecgshift.batch import collect_inputs
    from ecgshift.holter import HolterConfig

    if executor not in ("local", "ray"):
        raise EcgShiftError(f"--executor must be local or ray, not {executor!r}")
    if mc < 1:
        raise EcgShiftError(f"--mc must be at least 1, not {mc}")
    inputs = collect_inputs(records)
    if not inputs:
        raise EcgShiftError(f"{', '.join(map(str, records))}: no recordings found (.hea, .edf)")
    out.mkdir(parents=True, exist_ok=True)
    jobs = list(zip(inputs, _folders(inputs, out)))
    config = HolterConfig(mc=mc, fast=not full_mc, fusion=fusion)
    if executor == "ray":
        rows = _run_ray(jobs, model_dir=model_dir, config=config, reference=reference, address=address)
    else:
        rows = _run_local(jobs, model_dir=model_dir, config=config, reference=reference)
    frame = pd.DataFrame(rows)
    frame = frame[[c for c in _LEADING if c in frame] + [c for c in frame.columns if c not in _LEADING]]
    frame.to_csv(out / SUMMARY_FILE, index=False)
    _show(frame, out)
    if frame.status.str.startswith("error").any():
        raise typer.Exit(1)
