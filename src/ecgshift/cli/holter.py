"""``ecgshift holter``: long recordings → AF episodes, burden and an uncertainty timeline, one folder each.

Every recording is accounted for in ``<out>/holter_summary.csv`` (:mod:`ecgshift.holter.batch`): ``done``,
``rejected: <reason>`` (bad input, one line) or ``error: <reason>`` (an unexpected failure: the batch goes on);
the command exits with code 1 when any recording was not done.

``--executor ray`` runs one Ray task per recording (:mod:`ecgshift.runner`; ``ray.init(address=...)``, or a local
Ray instance without ``--address``); each task loads the model itself, so recordings, model and output folder must
be on a filesystem every worker sees. Tested with a local Ray instance (tests/test_holter.py); a remote cluster
(``--address``) has not been tried. Without Ray installed the command stops with one line saying ``pip install ray``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ecgshift.cli._console import check_output_folder, console, fmt, progress
from ecgshift.errors import EcgShiftError

__all__ = ["holter_command"]


def _show(frame, out: Path) -> None:
    from ecgshift.holter.batch import SUMMARY_FILE
    from ecgshift.status import DONE, ERROR, REJECTED, status_kind

    table = Table(title=f"ecgshift holter → {out}")
    columns = [c for c in ("record", "status", "duration_s", "analysed_s", "burden_text", "n_episodes", "n_short_af_runs", "record_class",
                           "n_review_windows",
                           "alpha", "conformal_referral_rate", "referral_budget", "ref_episode_sensitivity", "ref_episode_ppv", "ref_burden_error_pct") if c in frame]
    for column in columns:
        table.add_column(column)
    for row in frame.to_dict("records"):
        table.add_row(*[fmt(row.get(c), digits=2, max_len=60) for c in columns])
    console.print(table)
    kinds = frame.status.map(status_kind)
    console.print(f"recordings: {len(frame)} · done {int((kinds == DONE).sum())} · rejected {int((kinds == REJECTED).sum())}"
                  f" · errors {int((kinds == ERROR).sum())} → {out / SUMMARY_FILE}")
    for row in frame[kinds != DONE].to_dict("records"):
        console.print(f"[red]{escape(str(row['path']))}[/red]: {escape(str(row['status']))}", highlight=False)


def holter_command(
    records: List[Path] = typer.Argument(..., help="Long recordings or folders of them (WFDB .hea, EDF, ISHNE, CSV with --fs …; docs/formats.md).", readable=False),
    out: Path = typer.Option(..., "--out", help="Output folder: <out>/<record>/{episodes.csv, <record>.hea + <record>.af (episodes as WFDB annotations), summary.json, timeline.html}."),
    model_dir: Optional[Path] = typer.Option(None, "--model", help="Run folder (default: the model shipped with ecgshift)."),
    mc: int = typer.Option(20, "--mc", help="Monte Carlo Dropout passes."),
    full_mc: bool = typer.Option(False, "--full-mc", help="Resample the whole network, not only the dropout head (slower)."),
    reference: Optional[str] = typer.Option(None, "--reference", help="Annotation extension to evaluate against, e.g. atr (WFDB records)."),
    fusion: bool = typer.Option(True, "--fusion/--no-fusion",
                                help="Decide AF with the network's p(AF) fused with rhythm evidence (default), or by p(AF) alone."),
    executor: str = typer.Option("local", "--executor", help="local (this process) or ray (one Ray task per recording)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (with --executor ray)."),
    channel: Optional[str] = typer.Option(None, "--channel", help="Read only this channel (exact name or lead name, e.g. II); default: every ECG channel by the documented rule (docs/formats.md)."),
    fs: Optional[float] = typer.Option(None, "--fs", help="Sampling rate (Hz) of inputs that do not store it (plain CSV); ignored for the others."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Torch threads (default: the cores this process may use minus one for the rhythm-evidence thread, at least 1)."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="Conformal miss rate per class, e.g. 0.05: a prediction set per 10-s window (hECG cells; conformal_set and referral_reason in windows.csv, counts in summary.json and the timeline)."),
    max_referral: Optional[float] = typer.Option(None, "--max-referral", help="With --alpha: the share of windows the service can review; says per recording whether --alpha fits it and, if not, the smallest alpha that does."),
) -> int:
    """Holter analysis: AF episodes, burden (overall and per hour), unanalysable time by reason, review windows."""
    from ecgshift.batch import collect_inputs
    from ecgshift.holter.analysis import HolterConfig
    from ecgshift.holter.batch import analyse_batch
    from ecgshift.runner import EXECUTORS
    from ecgshift.status import DONE

    if executor not in EXECUTORS:
        raise EcgShiftError(f"--executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
    from ecgshift.cli._conformal import check_conformal_options, require_conformal

    check_conformal_options(alpha, max_referral)
    try:
        config = HolterConfig(mc=mc, mc_scope="full" if full_mc else "head", decision="fusion" if fusion else "network", channel=channel,
                              threads=threads, alpha=alpha, max_referral=max_referral)
    except ValueError as exc:
        raise EcgShiftError(f"--mc {mc}: {exc}") from None
    if alpha is not None:
        from ecgshift.predictor import load_model

        require_conformal(load_model(model_dir))
    if fs is not None and not (fs > 0 and fs < float("inf")):
        raise EcgShiftError(f"--fs must be a positive number of Hz, not {fs:g}")
    inputs = collect_inputs(records)
    if not inputs:
        raise EcgShiftError(f"{', '.join(map(str, records))}: no recordings found (.hea, .edf, .csv …)")
    check_output_folder(out)
    with progress() as bar:
        task = bar.add_task("holter", total=len(inputs))

        def on_progress(name: str, share: float, done: int) -> None:
            bar.update(task, description=f"{name} {100 * share:3.0f} %", completed=done)

        frame = analyse_batch(inputs, out, model_dir=model_dir, config=config, reference=reference, executor=executor,
                              address=address, on_progress=on_progress, fs=fs)
    _show(frame, out)
    if not (frame.status == DONE).all():
        raise typer.Exit(1)
    return 0
