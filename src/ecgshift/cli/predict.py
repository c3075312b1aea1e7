"""``ecgshift models``, ``train``, ``predict`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ecgshift.cli._console import check_output_file, check_output_folder, console, err_console, fmt, progress as _progress
from ecgshift.cli.data import CacheDir, DataRoot, sample_root
from ecgshift.errors import EcgShiftError

__all__ = ["models_command", "train_command", "predict_command", "demo_command", "write_and_show"]


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


#: ``ecgshift train --folder`` defaults when not given: few epochs at a low learning rate, each training window about
#: once per epoch (the fine-tuning recipe of the README).
FINETUNE_EPOCHS = 5
FINETUNE_LR = 3e-4


def train_command(
    mix: Optional[str] = typer.Option(None, "--mix", help="Modality shares, e.g. tecg=0.6,recg=0.2,hecg=0.2 (with --folder: default the folder's own shares)."),
    budget: Optional[int] = typer.Option(None, "--budget", help="Training windows drawn (class-balanced within each modality; with --folder: default the folder's training windows)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the draw, the initial weights and the augmentation (default 0)."),
    out: Path = typer.Option(Path("runs/latest"), "--out", help="Run folder to write."),
    preset: Optional[str] = typer.Option(None, "--preset", help="A named configuration from ecgshift.presets, e.g. default or quick (an unknown name lists them all)."),
    model: Optional[str] = typer.Option(None, "--model", help="Registered architecture (see `ecgshift models`; with --init: the init run's)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help=f"Maximum epochs (early stopping on validation; with --folder default {FINETUNE_EPOCHS})."),
    lr: Optional[float] = typer.Option(None, "--lr", help=f"Learning rate of AdamW (default 2e-3; with --folder {FINETUNE_LR:g})."),
    dropout: Optional[float] = typer.Option(None, "--dropout", help="Dropout rate of the network (ignored with --init: the init run's)."),
    dropout_placement: Optional[str] = typer.Option(None, "--dropout-placement", help="head or all."),
    init: Optional[str] = typer.Option(None, "--init", help="Start from this run folder's weights (transfer, fine-tuning); 'default': the model shipped with ecgshift."),
    freeze_trunk: bool = typer.Option(False, "--freeze-trunk", help="With --init: train only the heads."),
    folder: Optional[Path] = typer.Option(None, "--folder", help="Train on your own recordings: a folder with a manifest.csv (path, modality, label …; docs/formats.md), split 70/15/15 by patient, instead of the public datasets."),
    star: bool = typer.Option(False, "--star", help="Add STAR-style beat-wise resampling augmentation (slower)."),
    data_root: Optional[Path] = DataRoot,
    cache_dir: Optional[Path] = CacheDir,
) -> None:
    """Train an AF-vs-SR classifier on a modality mix (or fine-tune one on your folder); writes weights (safetensors), config.json and logs."""
    import dataclasses

    import torch

    from ecgshift.checkpoint import read_config
    from ecgshift.mixing import load_folder_windows, load_modality_windows, parse_mix
    from ecgshift.paths import cache_root
    from ecgshift.presets import preset_config
    from ecgshift.training import TrainConfig, fit

    base = preset_config(preset) if preset else TrainConfig(mix=parse_mix("tecg=0.6,recg=0.2,hecg=0.2"))
    try:
        mix = parse_mix(mix) if mix else None
    except ValueError as exc:
        raise EcgShiftError(f"--mix {mix}: {exc}") from None
    init_dir = _init_folder(init)
    if folder is not None and not (folder / "manifest.csv").is_file():
        raise EcgShiftError(f"{folder}: --folder needs a folder with a manifest.csv (docs/formats.md)")
    kwargs = dict(base.model_kwargs)
    if dropout is not None:
        kwargs["dropout"] = dropout
    if dropout_placement is not None:
        kwargs["dropout_placement"] = dropout_placement
    if model is None and init_dir is not None:
        model = read_config(init_dir).model  # fine-tune the init run's architecture
    if folder is not None and preset is None:
        epochs = FINETUNE_EPOCHS if epochs is None else epochs
        lr = FINETUNE_LR if lr is None else lr
    changes = {"model_kwargs": kwargs, "freeze_trunk": freeze_trunk or base.freeze_trunk}
    for key, value in (("mix", mix), ("budget", budget), ("seed", seed), ("model", model), ("epochs", epochs), ("lr", lr),
                       ("init", str(init_dir) if init_dir else None), ("folder", str(folder) if folder else None)):
        if value is not None:
            changes[key] = value
    if star:
        changes["augment"] = dataclasses.replace(base.augment, beats=0.3)
    config = dataclasses.replace(base, **changes)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    labels = tuple(sorted({"AF", "SR", *(k for k, v in config.class_shares.items() if v > 0)}))
    with _progress() as progress:
        task = progress.add_task("preparing windows", total=None)
        on_record = lambda i, n: progress.update(task, completed=i, total=n)  # noqa: E731
        if folder is not None:
            sets = load_folder_windows(folder, cache_dir=cache_root(cache_dir), config=_harmonize_for(config), labels=labels, on_record=on_record)
            config = _folder_config(config, sets, mix_given=mix is not None, budget_given=budget is not None, folder=folder)
        else:
            sets = load_modality_windows(data_root=data_root, cache_dir=cache_root(cache_dir), config=_harmonize_for(config),
                                         modalities=[m for m, v in config.mix.items() if v > 0], on_record=on_record, labels=labels)
        progress.update(task, description="training", completed=0, total=None)

        def on_epoch(epoch: int, row: dict) -> None:
            scores = " ".join(f"{k[9:]}={v:.3f}" for k, v in row.items() if k.startswith("val_bacc_"))
            err_console.print(f"epoch {epoch:2d}  loss {row['train_loss']:.3f}  val score {row['val_score']:.3f}  balanced acc {scores}  ({row['seconds']:.0f} s)")

        try:
            result = fit(config, sets, run_dir=out, on_epoch=on_epoch, on_batch=lambda b, n: progress.update(task, description=f"training (batch {b}/{n})"))
        except ValueError as exc:  # e.g. a mix that cannot be drawn from the windows there are, an init run that does not fit
            raise EcgShiftError(f"train: {exc}") from None
    console.print(f"trained {config.model} on mix {config.mix} in {result.seconds:.0f} s; best epoch {result.best_epoch}; temperature {result.temperature:.2f} → {out}")
    best = result.history.loc[result.history.epoch == result.best_epoch].iloc[0]
    console.print("validation balanced accuracy (best epoch): " + " ".join(f"{k[9:]}={best[k]:.3f}" for k in result.history.columns if k.startswith("val_bacc_")))
    console.print(result.counts.to_string(index=False))


def _init_folder(init: str | None) -> Path | None:
    """The run folder ``--init`` names: ``default`` is the model shipped with ecgshift; else a folder with config.json."""
    if init is None:
        return None
    from ecgshift.predictor import default_model_path

    path = default_model_path() if init == "default" and not Path(init).exists() else Path(init)
    if not (path / "config.json").is_file():
        raise EcgShiftError(f"{init}: --init needs a run folder (with config.json) or 'default'")
    return path


def _folder_config(config, sets: dict, *, mix_given: bool, budget_given: bool, folder: Path):
    """The training config for a user folder's windows: the folder's own mix unless ``--mix`` was given (then it must name
    only modalities the folder has), a budget of the folder's training windows unless ``--budget`` was; every modality
    trained needs AF and SR windows in training and windows in validation."""
    import dataclasses

    from ecgshift.mixing import folder_mix

    try:
        mix = dict(config.mix) if mix_given else folder_mix(sets)
    except ValueError as exc:
        raise EcgShiftError(f"{folder}: {exc}") from None
    mix = {m: v for m, v in mix.items() if v > 0}
    for modality in mix:
        if modality not in sets:
            raise EcgShiftError(f"{folder}: --mix names {modality}, but the manifest has no labelled {modality} recordings "
                                f"(it has: {', '.join(sets) or 'none'})")
        table = sets[modality].table
        train, val = table[table.split == "train"], table[table.split == "val"]
        missing = [label for label in ("AF", "SR") if not (train.label == label).any()]
        if missing:
            raise EcgShiftError(f"{folder}: no {' or '.join(missing)} windows of {modality} in the training split: "
                                f"the manifest needs both AF and SR recordings of {modality} (70 % of them train)")
        if not val.label.isin(["AF", "SR"]).any():
            raise EcgShiftError(f"{folder}: no AF or SR windows of {modality} in the validation split (15 % of the recordings "
                                f"by patient): add recordings")
    n_train = sum(int((sets[m].table.split == "train").sum()) for m in mix)
    return dataclasses.replace(config, mix=mix, budget=config.budget if budget_given else max(n_train, 2 * len(mix) * 2))


def _harmonize_for(config):
    """The windows a run is trained on: the init run's harmonization (read from its RunConfig), else the default."""
    from ecgshift.checkpoint import read_config
    from ecgshift.preprocess import HarmonizeConfig

    return read_config(config.init).harmonize if config.init else HarmonizeConfig()


def predict_command(
    paths: List[Path] = typer.Argument(..., help="Recordings or folders (WFDB .hea, EDF, DICOM, aECG/MUSE XML, ISHNE, Apple/Polar exports, CSV with --fs; docs/formats.md).", readable=False),
    model_dir: Optional[Path] = typer.Option(None, "--model", help="Run folder (default: the model shipped with ecgshift)."),
    mc: int = typer.Option(20, "--mc", help="Monte Carlo Dropout passes (1 = deterministic)."),
    full_mc: bool = typer.Option(False, "--full-mc", help="Resample the whole network, not only the dropout head."),
    windows: bool = typer.Option(False, "--windows", help="One row per window instead of per record."),
    modality: str = typer.Option("unknown", "--modality", help="The modality the inputs are said to be: recg, tecg, hecg or unknown (kept in the CSV beside the predicted one)."),
    fs: Optional[float] = typer.Option(None, "--fs", help="Sampling rate (Hz) for CSV inputs."),
    rhythm: bool = typer.Option(True, "--rhythm/--no-rhythm", help="Decide recordings of 5 min or more (Holter-like) by the network fused with rhythm evidence, as `ecgshift holter` does."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", help="CSV to write."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="Conformal miss rate per class, e.g. 0.05: adds alpha, conformal_set ({AF}, {SR}, both = uncertain, none = looks like neither) and referral_reason columns (recordings under 5 min; the model card's Guarantees say what it covers)."),
    max_referral: Optional[float] = typer.Option(None, "--max-referral", help="With --alpha: the share of recordings the service can read; says whether --alpha fits it and, if not, the smallest alpha that does."),
    channel: Optional[str] = typer.Option(None, "--channel", help="Read only this channel (exact name or lead name, e.g. II); default: every ECG channel by the documented rule (docs/formats.md)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write one self-contained HTML report per recording into this folder (<record>.html: ECG strips, p(AF) and uncertainty per window, referral reasons, excluded spans)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Torch threads (default: the cores this process may use minus one for the rhythm-evidence thread, at least 1)."),
) -> int:
    """Predict AF vs SR with uncertainty, predicted modality and shift score for each recording."""
    from ecgshift.batch import collect_inputs, predict_paths
    from ecgshift.cli._conformal import check_conformal_options, require_conformal
    from ecgshift.predictor import load_model
    from ecgshift.rhythm.fusion import default_fusion

    from ecgshift.record import MODALITIES

    if modality not in MODALITIES:
        raise EcgShiftError(f"--modality must be one of {', '.join(MODALITIES)}, not {modality!r}")
    config = pipeline_options(mc=mc, full_mc=full_mc, rhythm=rhythm, channel=channel, threads=threads)
    check_conformal_options(alpha, max_referral)
    if alpha is not None and windows:
        raise EcgShiftError("--alpha applies to record rows (the calibration is per recording for tECG and rECG): drop --windows")
    check_output_file(out)
    if report is not None:
        check_output_folder(report)
    model = load_model(model_dir)
    if alpha is not None:
        require_conformal(model)
    inputs = collect_inputs(paths)
    if not inputs:
        raise EcgShiftError(f"{', '.join(map(str, paths))}: no recordings found (.hea, .edf, .csv …)")
    on_result = None
    if report is not None:
        from ecgshift.recording_report import report_paths, write_recording_report

        pages = dict(zip(map(str, inputs), report_paths(inputs, report)))

        def on_result(result) -> None:
            write_recording_report(result, pages[str(result.path)], model=model, alpha=alpha, given_modality=modality)

    with _progress() as progress:
        task = progress.add_task("predicting", total=len(inputs))
        frame = predict_paths(model, inputs, config=config, fs=fs, given_modality=modality, windows=windows,
                              fusion=default_fusion() if rhythm else None, on_path=lambda i, n: progress.update(task, completed=i),
                              on_result=on_result)
    if alpha is not None:
        from ecgshift.batch import add_conformal

        frame = add_conformal(frame, model, alpha=alpha)
    write_and_show(frame, out)
    if alpha is not None and max_referral is not None:
        _show_budget(frame, model, alpha=alpha, max_referral=max_referral)
    if report is not None:
        console.print(f"reports: {len(inputs)} HTML pages → {report}")
    code = exit_code(frame.drop_duplicates("path").status)
    if code:
        raise typer.Exit(code)  # some input was not done (also under CliRunner / standalone click, which ignore return values)
    return 0


def _show_budget(frame, model, *, alpha: float, max_referral: float) -> None:
    """Whether --alpha's referrals fit --max-referral on these recordings, and if not which α does (one line)."""
    from ecgshift.batch import conformal_inputs
    from ecgshift.conformal import referral_budget

    short = ((frame.status == "done") & (frame.conformal_set.astype(str) != "")).to_numpy()
    if not short.any():
        console.print("referral budget: no recording under 5 min to apply --alpha to")
        return
    modality, p = conformal_inputs(frame)
    check = referral_budget(model.conformal, p[short], modality[short], alpha=alpha, max_referral=max_referral)
    console.print(f"referral budget: {check}", highlight=False)


def pipeline_options(*, mc: int, full_mc: bool, rhythm: bool = True, channel: str | None = None, threads: int | None = None):
    """The :class:`~ecgshift.pipeline.PipelineConfig` of the command-line options, or a one-line usage error."""
    from ecgshift.pipeline import PipelineConfig

    try:
        return PipelineConfig(mc=mc, mc_scope="full" if full_mc else "head", rhythm=rhythm, channel=channel, threads=threads)
    except ValueError as exc:
        raise EcgShiftError(f"--mc {mc}: {exc}") from None


def exit_code(statuses) -> int:
    """0 when every input is done, 1 when some were rejected or failed."""
    from ecgshift.status import DONE

    return 0 if all(s == DONE for s in statuses) else 1


def write_and_show(frame, out: Path, *, show_rows: int = 30) -> None:
    from ecgshift.status import DONE

    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    ok = frame.status == DONE
    table = Table(title=f"ecgshift predictions → {out}")
    columns = [c for c in ("record", "status", "reference", "given_modality", "predicted_modality", "p_af", "label", "entropy", "mutual_info", "shift_score", "refer", "n_windows", "decided_by", "start_s") if c in frame]
    for column in columns:
        table.add_column(column)
    for row in frame.head(show_rows).to_dict("records"):
        table.add_row(*[fmt(row.get(c)) for c in columns])
    console.print(table)
    if len(frame) > show_rows:
        console.print(f"… {len(frame) - show_rows} more rows in {out}")
    records = frame.drop_duplicates("path")
    done = int((records.status == DONE).sum())
    console.print(f"records: {len(records)} · done {done} · rejected {len(records) - done}"
                  + (f" · predicted AF {int((frame[ok].label == 'AF').sum())} · SR {int((frame[ok].label == 'SR').sum())} · referred {int(frame[ok].refer.astype(bool).sum())}" if ok.any() else ""))
    for row in records[records.status != DONE].to_dict("records"):
        console.print(f"[red]{escape(str(row['path']))}[/red]: {escape(str(row['status']))}", highlight=False)
    if "problems" in records:  # done, but part of the recording lost something (e.g. rhythm evidence of a chunk)
        for row in records[records.problems.astype("string").fillna("") != ""].to_dict("records"):
            console.print(f"[yellow]{escape(str(row['path']))}[/yellow]: {escape(str(row['problems']))}", highlight=False)


def demo_command(
    out: Path = typer.Option(Path("demo_predictions.csv"), "--out", help="CSV to write."),
    mc: int = typer.Option(20, "--mc", help="Monte Carlo Dropout passes."),
) -> None:
    """Run the default model on the real recordings bundled with ecgshift (a few per modality)."""
    import pandas as pd

    from ecgshift.batch import predict_paths
    from ecgshift.predictor import load_model
    from ecgshift.rhythm.fusion import default_fusion

    check_output_file(out)
    folder = sample_root()
    manifest = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)
    paths = [folder / p for p in manifest.path]
    model = load_model()
    console.print(f"model: {model}")
    frame = predict_paths(model, paths, config=pipeline_options(mc=mc, full_mc=False), given_modality={str(folder / p): m for p, m in zip(manifest.path, manifest.modality)},
                          fusion=default_fusion())
    labels = {str(folder / p): l for p, l in zip(manifest.path, manifest.label)}
    frame["reference"] = [labels.get(p) or r for p, r in zip(frame.path, frame.reference)]
    write_and_show(frame, out)
    console.print("Sources: PhysioNet/CinC 2017, PTB-XL, MIT-BIH (test-split records; see ecgshift/assets/samples/ATTRIBUTION.md).")
