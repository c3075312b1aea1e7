"""The ``ecgshift`` command line: each command a thin call into the Python API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ecgshift.errors import EcgShiftError

app = typer.Typer(help="AF detection across ECG modalities, with uncertainty that flags domain shift.", no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Read, summarize, prepare and download datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

DataRoot = typer.Option(None, "--data-root", help="Folder holding the datasets (else $ECGSHIFT_DATA, else ./data).")
CacheDir = typer.Option(None, "--cache-dir", help="Cache folder (else $ECGSHIFT_CACHE, else ~/.cache/ecgshift).")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=True)


def _sample_root() -> Path:
    from ecgshift.assets import sample_folder

    return sample_folder()


def _datasets(data_root: Optional[Path], names: List[str], folder: Optional[Path], sample: bool):
    from ecgshift.datasets import PUBLIC_DATASETS, Folder, find_root, load_dataset
    from ecgshift.paths import data_root as resolve

    if sample:
        return [Folder(_sample_root())], []
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
) -> None:
    """Records, patients, windows and AF / SR / other / noisy counts per dataset and modality."""
    from ecgshift.cache import cached_description, prepare
    from ecgshift.paths import cache_root
    from ecgshift.preprocess import HarmonizeConfig
    from ecgshift.summary import summarize

    config = HarmonizeConfig()
    cache = cache_root(cache_dir)
    found, missing = _datasets(data_root, dataset, folder, sample)
    summaries = []
    with _progress() as progress:
        for ds in found:
            task = progress.add_task(f"describing {ds.name}", total=None)
            description = cached_description(ds, cache_dir=cache)
            window_table, rejected = None, None
            if windows and ds.has_waveforms:
                progress.update(task, description=f"preparing {ds.name}", total=len(description))
                result = prepare(ds, config=config, cache_dir=cache, on_record=lambda i, n: progress.update(task, completed=i))
                window_table, rejected = result.windows.table, len(result.rejected)
            progress.remove_task(task)
            for modality, part in description.groupby("modality", sort=False):  # a user folder may mix modalities
                windows_part = None if window_table is None else window_table[window_table.modality == modality]
                summaries.append(summarize(ds.name, part, config=config, has_waveforms=ds.has_waveforms, window_table=windows_part, rejected=rejected))
    console.print(_summary_table(summaries, by_windows=windows))
    for name in missing:
        console.print(f"[yellow]{name}: not found under the data root[/yellow]")


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
    rejected_rows = []
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
    console.print(table)
    for row in rejected_rows[:20]:
        console.print(f"[red]rejected[/red] {row['reason']}", markup=True, highlight=False)
    if len(rejected_rows) > 20:
        console.print(f"… and {len(rejected_rows) - 20} more")
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


# ---------------------------------------------------------------- models, train, predict, demo

@app.command("models")
def models_command(fs: float = typer.Option(100.0, help="Sampling rate (Hz) for the cost figures."), window_s: float = typer.Option(10.0, help="Window length (s).")) -> None:
    """List the registered architectures with parameter counts and MFLOPs per window."""
    from ecgshift.models import list_models, model_info

    table = Table(title=f"ecgshift models (1 lead, {fs:g} Hz, {window_s:g}-s window)")
    for column in ("model", "parameters", "MFLOPs / window"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name in list_models():
        info = model_info(name, fs=fs, window_s=window_s)
        table.add_row(name, f"{info.n_params:,}", f"{info.mflops_per_window:.1f}")
    console.print(table)


@app.command("train")
def train_command(
    mix: Optional[str] = typer.Option(None, "--mix", help="Modality shares, e.g. tecg=0.6,recg=0.2,hecg=0.2."),
    budget: Optional[int] = typer.Option(None, "--budget", help="Training windows drawn (class-balanced within each modality)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    out: Path = typer.Option(Path("runs/latest"), "--out", help="Run folder to write."),
    preset: Optional[str] = typer.Option(None, "--preset", help="A named configuration from ecgshift.presets, e.g. default or quick (an unknown name lists them all)."),
    model: Optional[str] = typer.Option(None, "--model", help="Registered architecture (see `ecgshift models`)."),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    dropout: Optional[float] = typer.Option(None, "--dropout"),
    dropout_placement: Optional[str] = typer.Option(None, "--dropout-placement", help="head or all."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start from this run's weights (transfer)."),
    freeze_trunk: bool = typer.Option(False, "--freeze-trunk", help="With --init: train only the heads."),
    star: bool = typer.Option(False, "--star", help="Add STAR-style beat-wise resampling augmentation (slower)."),
    data_root: Optional[Path] = DataRoot,
    cache_dir: Optional[Path] = CacheDir,
) -> None:
    """Train an AF-vs-SR classifier on a modality mix; writes weights (safetensors), config.json and logs."""
    import dataclasses

    import torch

    from ecgshift.mixing import load_modality_windows, parse_mix
    from ecgshift.paths import cache_root
    from ecgshift.presets import preset_config
    from ecgshift.training import TrainConfig, fit

    base = preset_config(preset) if preset else TrainConfig(mix=parse_mix("tecg=0.6,recg=0.2,hecg=0.2"))
    kwargs = dict(base.model_kwargs)
    if dropout is not None:
        kwargs["dropout"] = dropout
    if dropout_placement is not None:
        kwargs["dropout_placement"] = dropout_placement
    changes = {"model_kwargs": kwargs, "freeze_trunk": freeze_trunk or base.freeze_trunk}
    for key, value in (("mix", parse_mix(mix) if mix else None), ("budget", budget), ("seed", seed), ("model", model), ("epochs", epochs), ("init", str(init) if init else None)):
        if value is not None:
            changes[key] = value
    if star:
        changes["augment"] = dataclasses.replace(base.augment, beats=0.3)
    config = dataclasses.replace(base, **changes)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with _progress() as progress:
        task = progress.add_task("preparing windows", total=None)
        sets = load_modality_windows(data_root=data_root, cache_dir=cache_root(cache_dir), config=_harmonize_for(config), modalities=[m for m, v in config.mix.items() if v > 0], on_record=lambda i, n: progress.update(task, completed=i, total=n),
                                     labels=tuple(sorted({"AF", "SR", *(k for k, v in config.class_shares.items() if v > 0)})))
        progress.update(task, description="training", completed=0, total=None)

        def on_epoch(epoch: int, row: dict) -> None:
            scores = " ".join(f"{k[9:]}={v:.3f}" for k, v in row.items() if k.startswith("val_bacc_"))
            err_console.print(f"epoch {epoch:2d}  loss {row['train_loss']:.3f}  val score {row['val_score']:.3f}  balanced acc {scores}  ({row['seconds']:.0f} s)")

        result = fit(config, sets, run_dir=out, on_epoch=on_epoch, on_batch=lambda b, n: progress.update(task, description=f"training (batch {b}/{n})"))
    console.print(f"trained {config.model} on mix {config.mix} in {result.seconds:.0f} s; best epoch {result.best_epoch}; temperature {result.temperature:.2f} → {out}")
    console.print(result.counts.to_string(index=False))


def _harmonize_for(config):
    from ecgshift.preprocess import HarmonizeConfig

    if config.init:
        import json

        return HarmonizeConfig.from_dict(json.loads((Path(config.init) / "config.json").read_text())["harmonize"])
    return HarmonizeConfig()


@app.command("predict")
def predict_command(
    paths: List[Path] = typer.Argument(..., help="Recordings or folders (WFDB .hea, EDF, CSV with --fs)."),
    model_dir: Optional[Path] = typer.Option(None, "--model", help="Run folder (default: the model shipped with ecgshift)."),
    mc: int = typer.Option(20, "--mc", help="Monte Carlo Dropout passes (1 = deterministic)."),
    full_mc: bool = typer.Option(False, "--full-mc", help="Resample the whole network, not only the dropout head."),
    windows: bool = typer.Option(False, "--windows", help="One row per window instead of per record."),
    modality: str = typer.Option("unknown", "--modality", help="The modality the inputs are said to be (recg, tecg, hecg)."),
    fs: Optional[float] = typer.Option(None, "--fs", help="Sampling rate (Hz) for CSV inputs."),
    rhythm: bool = typer.Option(True, "--rhythm/--no-rhythm", help="Decide recordings of 5 min or more (Holter-like) by the network fused with rhythm evidence, as `ecgshift holter` does."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", help="CSV to write."),
) -> None:
    """Predict AF vs SR with uncertainty, predicted modality and shift score for each recording."""
    from ecgshift.batch import collect_inputs, predict_paths
    from ecgshift.predictor import load_model
    from ecgshift.rhythm.fusion import default_fusion

    model = load_model(model_dir)
    inputs = collect_inputs(paths)
    if not inputs:
        raise EcgShiftError(f"{', '.join(map(str, paths))}: no recordings found (.hea, .edf, .csv)")
    with _progress() as progress:
        task = progress.add_task("predicting", total=len(inputs))
        frame = predict_paths(model, inputs, mc=mc, fast=not full_mc, fs=fs, given_modality=modality, windows=windows,
                              fusion=default_fusion() if rhythm else None, on_path=lambda i, n: progress.update(task, completed=i))
    _write_and_show(frame, out)


def _write_and_show(frame, out: Path, *, show_rows: int = 30) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    ok = frame.status == "ok"
    table = Table(title=f"ecgshift predictions → {out}")
    columns = [c for c in ("record", "status", "reference", "given_modality", "predicted_modality", "p_af", "label", "entropy", "mutual_info", "shift_score", "refer", "n_windows", "decided_by", "start_s") if c in frame]
    for column in columns:
        table.add_column(column)
    for row in frame.head(show_rows).to_dict("records"):
        table.add_row(*[_fmt(row.get(c)) for c in columns])
    console.print(table)
    if len(frame) > show_rows:
        console.print(f"… {len(frame) - show_rows} more rows in {out}")
    records = frame.drop_duplicates("path")
    done = int((records.status == "ok").sum())
    console.print(f"records: {len(records)} · done {done} · rejected {len(records) - done}"
                  + (f" · predicted AF {int((frame[ok].label == 'AF').sum())} · SR {int((frame[ok].label == 'SR').sum())} · referred {int(frame[ok].refer.astype(bool).sum())}" if ok.any() else ""))
    for row in records[records.status != "ok"].to_dict("records"):
        console.print(f"[red]{escape(str(row['path']))}[/red]: {escape(str(row['status']))}", highlight=False)
    if "problems" in records:  # done, but part of the recording lost something (e.g. rhythm evidence of a chunk)
        for row in records[records.problems.fillna("").astype(str) != ""].to_dict("records"):
            console.print(f"[yellow]{escape(str(row['path']))}[/yellow]: {escape(str(row['problems']))}", highlight=False)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return escape(str(value))  # a record name like "rec[1]" is text, not rich markup


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("demo_predictions.csv"), "--out", help="CSV to write."),
    mc: int = typer.Option(20, "--mc", help="Monte Carlo Dropout passes."),
) -> None:
    """Run the default model on the real recordings bundled with ecgshift (a few per modality)."""
    import pandas as pd

    from ecgshift.batch import predict_paths
    from ecgshift.predictor import load_model
    from ecgshift.rhythm.fusion import default_fusion

    folder = _sample_root()
    manifest = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)
    paths = [folder / p for p in manifest.path]
    model = load_model()
    console.print(f"model: {model}")
    frame = predict_paths(model, paths, mc=mc, given_modality={str(folder / p): m for p, m in zip(manifest.path, manifest.modality)},
                          fusion=default_fusion())
    labels = {str(folder / p): l for p, l in zip(manifest.path, manifest.label)}
    frame["reference"] = [labels.get(p) or r for p, r in zip(frame.path, frame.reference)]
    _write_and_show(frame, out)
    console.print("Sources: PhysioNet/CinC 2017, PTB-XL, MIT-BIH (test-split records; see ecgshift/assets/samples/ATTRIBUTION.md).")


def _register_plugins() -> None:
    """Commands defined in their own modules (each imports its heavy dependencies lazily)."""
    from ecgshift.cli.holter import holter_command
    from ecgshift.cli.study import report_command, sweep_command

    app.command("holter")(holter_command)
    app.command("sweep")(sweep_command)
    app.command("report")(report_command)


_register_plugins()


def main() -> None:
    """Entry point: user errors become one red line and exit code 2, never a traceback."""
    try:
        app(standalone_mode=False)
    except EcgShiftError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)  # one line, however long
        sys.exit(2)
    except KeyError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc).strip(chr(34) + chr(39)))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # usage errors of the command-line parser (click's, as bundled by typer)
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise


if __name__ == "__main__":
    main()
