"""The one prediction pipeline: chunk → harmonize → window → quality gate → predict → rhythm evidence → decide.

``ecgshift predict`` (:func:`ecgshift.batch.predict_path`), the Python API (:meth:`EcgShiftModel.predict
<ecgshift.predictor.EcgShiftModel.predict>`) and ``ecgshift holter`` (:func:`ecgshift.holter.analyse_holter`)
all call :func:`analyse`, so they give the same p(AF) and the same decision for the same windows.

A recording — a file, read ``chunk_s`` at a time so memory stays bounded, or a :class:`Record` in memory —
is cut into chunks (:func:`ecgshift.windows.stream_chunks`; a chunk that cannot be read is marked, not raised), each
harmonized like training data, windowed, gated (:mod:`ecgshift.quality`) and predicted with MC Dropout.
Recordings of at least :data:`RHYTHM_MIN_S` also get rhythm evidence per window (R-peaks and RR features
of the chunk ± :data:`RHYTHM_CONTEXT_S`, in a background thread while the network works), and a
:class:`~ecgshift.rhythm.RhythmFusion`, when given, decides their windows from the network's p(AF) and that
evidence; shorter recordings are decided by the network alone (too few beats for the rhythm features).
The rule that decided each window is kept (``decided_by``: ``network`` or ``network+rhythm``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ecgshift import io
from ecgshift.errors import FLAT, GAP, NO_ECG_SIGNAL, NO_SIGNAL, UNREADABLE, BadInputError
from ecgshift.plausibility import caller_rate_problem
from ecgshift.preprocess import HarmonizeConfig, choose_lead
from ecgshift.quality import QualityConfig, describe_excluded, excluded_note, window_quality
from ecgshift.record import Record, RhythmInterval
from ecgshift.rhythm.fusion import RHYTHM_FEATURES, RhythmEvidence, RhythmFusion, rhythm_evidence
from ecgshift.threads import torch_threads
from ecgshift.uncertainty import Predictions
from ecgshift.windows import ChunkFailure, read_span, stream_chunks

__all__ = ["PipelineConfig", "Analysis", "MC_SCOPES", "DECISION_RULES", "OVERLAP_BELOW_S", "RHYTHM_MIN_S",
           "RHYTHM_CONTEXT_S", "WINDOW_COLUMNS", "analyse", "decide", "prediction_windowing",
           "prediction_quality", "window_grid"]

#: Recordings shorter than this (s) — handheld and resting ECGs — are predicted from windows that overlap by half:
#: each stretch is seen at two offsets and the record-level p(AF) averages them (chosen on validation: CinC 2017
#: record AUROC rose on all four networks tried, e.g. 0.9956 → 0.9969 for the default, docs/model-card.md).
#: Longer (Holter-like) recordings keep non-overlapping windows, whose durations add up to AF burden.
OVERLAP_BELOW_S = 300.0
#: Recordings at least this long (s) are Holter-like: they get rhythm evidence, and with a fusion their windows are
#: decided by the network's p(AF) fused with it (the fusion needs minutes of beats: its ectopic-beat templates
#: span 61 beats, its RR features ~64 beats around each window).
RHYTHM_MIN_S = 300.0
#: Signal read on each side of a chunk when rhythm evidence is computed.
RHYTHM_CONTEXT_S = 25.0
#: How the MC Dropout passes are drawn: ``head`` (the trunk once, the dropout head ``mc`` times) or ``full``
#: (the whole network ``mc`` times).
MC_SCOPES = ("head", "full")
#: The rule that decided a window.
DECISION_RULES = ("network", "network+rhythm")
#: Per-window columns of :attr:`Analysis.windows` (before a decision; :func:`decide` adds ``p_af_decided``,
#: ``is_af`` and ``decided_by``).
WINDOW_COLUMNS = ("start_s", "end_s", "quality", "p_af", "std", "entropy", "mutual_info", "shift_score", "modality",
                  "modality_p", "refer", "review", "rhythm_evidence", *RHYTHM_FEATURES)


def prediction_windowing(config: HarmonizeConfig, duration_s: float) -> HarmonizeConfig:
    """The windowing used to predict a recording of ``duration_s``: stride ``window_s / 2`` below
    :data:`OVERLAP_BELOW_S`, else ``config`` as it is."""
    if duration_s < OVERLAP_BELOW_S and config.stride_s is None:
        return replace(config, stride_s=config.window_s / 2)
    return config


def prediction_quality(duration_s: float) -> QualityConfig:
    """The quality gate (:mod:`ecgshift.quality`) for a recording of ``duration_s``: signal faults (gaps, saturation,
    flat lead) always; the noise rule too for Holter-like recordings (≥ :data:`OVERLAP_BELOW_S`) — it was
    measured on Holter windows; in a short recording, noise shows in the uncertainty."""
    return QualityConfig(noise=duration_s >= OVERLAP_BELOW_S)


@dataclass(frozen=True)
class PipelineConfig:
    """Every choice of the pipeline; durations in seconds.

    ``mc``: MC Dropout passes (1 = deterministic); ``mc_scope``: one of :data:`MC_SCOPES`. ``overlap``: half-overlapping
    windows for recordings under :data:`OVERLAP_BELOW_S` (``False``: the non-overlapping grid whatever the length, as
    ``ecgshift holter`` needs for time accounting). ``rhythm``: rhythm evidence for recordings of at least
    ``rhythm_min_s``. ``quality``: the gate (None: :func:`prediction_quality` of the recording's duration).
    ``channel``: read only this channel of a file (:func:`ecgshift.io.read`'s override; else every ECG channel, by
    the rule of :mod:`ecgshift.io.channels`, and the model's lead among them). ``threads``: torch threads while the
    recording is analysed (None: :func:`ecgshift.threads.default_torch_threads` — the cores minus one for the rhythm thread).
    """

    mc: int = 20
    mc_scope: str = "head"
    chunk_s: float = 600.0
    margin_s: float = 5.0
    overlap: bool = True
    rhythm: bool = True
    rhythm_min_s: float = RHYTHM_MIN_S
    rhythm_context_s: float = RHYTHM_CONTEXT_S
    rpeak_method: str = "neurokit"
    quality: QualityConfig | None = None
    channel: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.mc, bool) or not isinstance(self.mc, (int, np.integer)) or self.mc < 1:
            raise ValueError(f"mc (MC Dropout passes) must be a whole number ≥ 1, not {self.mc!r}")
        if self.mc_scope not in MC_SCOPES:
            raise ValueError(f"mc_scope must be one of {', '.join(MC_SCOPES)}, not {self.mc_scope!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or int(self.threads) != self.threads or self.threads < 1):
            raise ValueError(f"threads must be a whole number ≥ 1, not {self.threads!r}")
        if not self.chunk_s > 0 or not self.margin_s >= 0:
            raise ValueError("chunk_s must be positive and margin_s not negative")


def window_grid(duration_s: float, config: HarmonizeConfig) -> np.ndarray:
    """Window starts (s from the recording start) of a recording of ``duration_s``: every ``stride`` while a whole
    window fits; one window for a recording between ``min_s`` and ``window_s``; none below ``min_s``."""
    if duration_s < config.window_s - 1e-9:
        return np.zeros(1) if duration_s >= config.min_s - 1e-9 else np.zeros(0)
    n = int(np.floor((duration_s - config.window_s) / config.stride + 1e-9)) + 1
    return np.arange(n) * config.stride


@dataclass(frozen=True, eq=False)
class Analysis:
    """One recording through the pipeline.

    ``windows``: one row per window of the grid (:func:`window_grid`), columns :data:`WINDOW_COLUMNS` plus
    ``p_af_decided``, ``is_af`` and ``decided_by`` (:func:`decide`); prediction columns are NaN where ``quality`` is not
    ``ok`` (a reason of :mod:`ecgshift.quality`, or ``unreadable``: its chunk could not be read, or the chunk did not
    yield it). ``predictions``: the analysed windows, decided (p_af the decided one; p_af_network the network's when a
    fusion decided). ``problems``: what went wrong without stopping the recording. ``suspect_fs``: the caller's sampling
    rate looks wrong (:mod:`ecgshift.plausibility`): every window is referred. ``label`` / ``rhythms``: the recording's
    own record-level label and rhythm annotations, if it has them (the reference). ``start_time``: the clock time of
    ``start_s`` 0 (:attr:`Record.start_time <ecgshift.record.Record.start_time>`), None when the file states none.
    ``beats_s``: the R-peak times found for the rhythm evidence (same clock as ``windows.start_s``; None for a recording
    without rhythm evidence), ``ectopic_s`` those of them labelled ectopic."""

    record_id: str
    source: str
    fs: float
    lead: str
    duration_s: float
    harmonize: HarmonizeConfig
    windows: pd.DataFrame
    predictions: Predictions
    problems: tuple[str, ...]
    suspect_fs: bool
    label: str | None
    rhythms: tuple[RhythmInterval, ...]
    decided_by: str
    seconds: float
    start_time: datetime | None = None  # the clock time of the recording's first sample, when the file states it
    beats_s: np.ndarray | None = None
    ectopic_s: np.ndarray | None = None

    @property
    def quality(self) -> np.ndarray:
        return self.windows["quality"].to_numpy()

    def af_time(self, *, max_gap_s: float = 10.0, min_duration_s: float = 30.0):
        """AF time, burden interval, episodes, verdict and class of the decided windows
        (:func:`ecgshift.rhythm.burden.windows_af_time`, boundaries at R-peaks when there are any)."""
        from ecgshift.rhythm.burden import windows_af_time

        return windows_af_time(self.windows, beats_s=self.beats_s, ectopic_s=self.ectopic_s, max_gap_s=max_gap_s,
                               min_duration_s=min_duration_s)


def decide(windows: pd.DataFrame, *, fusion: RhythmFusion | None, rr_overrides: bool = False) -> pd.DataFrame:
    """``windows`` with ``p_af_decided``, ``is_af`` and ``decided_by`` per window (see the module docstring).

    With a ``fusion``, every analysed window with rhythm evidence is decided by the fusion (missing features — a chunk
    whose R-peak detection failed — leave the fusion weighing the network alone); the others by the network's p(AF) ≥ 0.5.
    ``rr_overrides`` (without a fusion): an uncertain (``review``) AF call that the RR rule (``rr_p_af`` < 0.5) calls
    non-AF is withdrawn. Windows that were not analysed are not AF and have no decision."""
    w = windows.copy()
    ok = w["quality"].to_numpy() == "ok"
    p_network = w["p_af"].to_numpy(float)
    evidence = w["rhythm_evidence"].to_numpy(bool) & ok
    fused = np.full(len(w), np.nan)
    threshold = np.full(len(w), 0.5)
    if fusion is not None and evidence.any():
        fused[evidence] = fusion.predict_proba(p_network[evidence], w.loc[evidence, list(RHYTHM_FEATURES)])
        threshold[evidence] = fusion.threshold
    decided = np.where(np.isnan(fused), p_network, fused)
    is_af = ok & ~np.isnan(decided) & (np.nan_to_num(decided) >= threshold)
    if fusion is None and rr_overrides:
        rr_p = w["rr_p_af"].to_numpy(float)
        is_af &= ~(w["review"].to_numpy(bool) & evidence & ~np.isnan(rr_p) & (rr_p < 0.5))
    w["p_af_decided"] = np.where(ok, decided, np.nan)
    w["is_af"] = is_af
    w["decided_by"] = np.where(~ok, "", np.where(np.isnan(fused), "network", "network+rhythm")).astype(object)
    return w


def _open(source: Path | Record, *, fs: float | None, window_s: float, meta: io.RecordInfo | None,
          channel: str | None = None) -> tuple[str | None, tuple[RhythmInterval, ...], tuple[str, ...]]:
    """(record-level label, rhythm intervals, a problem) of the recording. A file's first window is read first, with its
    annotations (a WFDB record's annotation file, EDF+ rhythm annotations: both give the whole recording's rhythms): a
    missing or truncated signal file fails here, for the whole recording (a flat or all-NaN start is analysed as
    unanalysable time); a header whose signal files are absent beside an annotation file has no ECG signal; a corrupt
    annotation file costs the reference, not the recording. The problems include the reader's notes (e.g. non-ECG
    channels it ignored)."""
    if isinstance(source, Record):
        return source.label, source.rhythms, tuple(source.notes)
    notes = tuple(meta.notes) if meta is not None else ()
    try:
        first = read_span(source, 0.0, window_s, fs=fs, annotations=True, channel=channel)
    except BadInputError as exc:
        if exc.code not in (FLAT, GAP):
            try:
                read_span(source, 0.0, window_s, fs=fs, annotations=False, channel=channel)
            except BadInputError as signal_exc:
                if signal_exc.code not in (FLAT, GAP):
                    raise signal_exc from None
            return None, (), (*notes, f"annotations not read: {exc.reason_for(source)}")
        try:  # an unanalysable start: the rhythms from the annotation file alone
            return None, io.read_annotations(source, fs=meta.fs, duration_s=meta.duration_s), notes
        except BadInputError as ann_exc:
            return None, (), (*notes, f"annotations not read: {ann_exc.reason_for(source)}")
    if not first.has_signal:  # e.g. an LTAFDB header: its signal file is not there, its annotations are
        raise BadInputError(source, NO_ECG_SIGNAL, code=NO_SIGNAL)
    return first.label, first.rhythms, tuple(dict.fromkeys((*notes, *first.notes)))


def _rhythm_features(harm: Record, starts: np.ndarray, *, window_s: float, rpeak_method: str) -> RhythmEvidence:
    """Rhythm evidence (:data:`ecgshift.rhythm.RHYTHM_FEATURES`, R-peaks) of the windows at ``starts`` from the harmonized chunk."""
    return rhythm_evidence(harm.signal[0], harm.fs, starts, window_s=window_s, signal_start_s=harm.start_s,
                           rpeak_method=rpeak_method)


@dataclass(frozen=True, eq=False)
class _Plan:
    """What the header (or the Record) says, and the choices that follow from it."""

    where: str
    record_id: str
    fs: float
    leads: tuple[str, ...]
    duration_s: float
    offset_s: float
    harmonize: HarmonizeConfig
    gate: QualityConfig
    starts: np.ndarray
    lead_index: int
    use_rhythm: bool
    margin_s: float
    meta: io.RecordInfo | None


def _plan(source: Path | Record, *, model, config: PipelineConfig, fs: float | None) -> _Plan:
    """Step 1: header facts, windowing, gate, window grid and lead; a recording that cannot be used raises here."""
    if isinstance(source, Record):
        if not source.has_signal:
            raise BadInputError(source.source or source.record_id, NO_ECG_SIGNAL, code=NO_SIGNAL)
        meta, where, record_id, rec_fs, leads, duration_s = None, source.source or source.record_id, source.record_id, source.fs, source.leads, source.duration_s
    else:
        meta = io.info(source, fs=fs, require_signal=True, channel=config.channel)  # e.g. NSR2DB, LTAFDB headers: annotations only
        where, record_id, rec_fs, leads, duration_s = str(source), meta.record_id, meta.fs, meta.leads, meta.duration_s
    harmonize = prediction_windowing(model.harmonize, duration_s) if config.overlap else replace(model.harmonize, stride_s=None)
    grid = window_grid(duration_s, harmonize)  # empty below min_s: refused by analyse, after the reader has had its say
    try:
        lead_index = choose_lead(leads, lead=harmonize.lead)
    except (KeyError, ValueError) as exc:  # the model's lead is not in the recording
        raise BadInputError(where, str(exc).strip("'\"")) from None
    use_rhythm = config.rhythm and duration_s >= config.rhythm_min_s
    offset = source.start_s if isinstance(source, Record) else 0.0
    return _Plan(where=where, record_id=record_id, fs=float(rec_fs), leads=tuple(leads), duration_s=float(duration_s), offset_s=offset,
                 harmonize=harmonize, gate=config.quality if config.quality is not None else prediction_quality(duration_s),
                 starts=offset + grid, lead_index=lead_index, use_rhythm=use_rhythm,
                 margin_s=max(config.margin_s, config.rhythm_context_s if use_rhythm else 0.0), meta=meta)


@dataclass(eq=False)
class _Collected:
    """What the chunk loop gathers: per-window columns on the grid, the network's predictions by grid position."""

    cols: dict[str, np.ndarray]
    parts: list[Predictions]
    positions: list[np.ndarray]
    problems: list[str]
    beats: list[np.ndarray] = field(default_factory=list)  # R-peak times (s) of each chunk's own span
    ectopic: list[np.ndarray] = field(default_factory=list)  # … of them, the ectopic beats
    rate_problem: str | None = None
    refused: str | None = None  # the reader's reason for the first chunk it refused (flat, all-NaN or unreadable)


def _run_chunks(plan: _Plan, source: Path | Record, *, model, config: PipelineConfig, fs: float | None,
                on_chunk: Callable[[float, float], None] | None) -> _Collected:
    """Step 2: every chunk gated and predicted; rhythm evidence in a background thread while the network works."""
    n, starts, window_s = plan.starts.size, plan.starts, plan.harmonize.window_s
    cols: dict[str, np.ndarray] = {"start_s": starts, "end_s": starts + window_s,
                                   "quality": np.full(n, UNREADABLE, dtype=object), "refer": np.zeros(n, bool),
                                   "review": np.zeros(n, bool), "rhythm_evidence": np.zeros(n, bool),
                                   "modality": np.full(n, "", dtype=object),
                                   **{k: np.full(n, np.nan) for k in ("p_af", "std", "entropy", "mutual_info", "shift_score", "modality_p", *RHYTHM_FEATURES)}}
    out = _Collected(cols, [], [], [])
    with ThreadPoolExecutor(max_workers=1) as rr_thread:
        rr_jobs = []
        for chunk in stream_chunks(source, config=plan.harmonize, duration_s=plan.duration_s, chunk_s=config.chunk_s,
                                   margin_s=plan.margin_s, fs=fs, annotations=False, channel=config.channel):
            lo, hi = chunk.span_s
            if isinstance(chunk, ChunkFailure):
                out.refused = out.refused or chunk.problem
                span = (starts >= lo - 1e-9) & (starts < hi - 1e-9)
                cols["quality"][span] = chunk.code if chunk.code in (FLAT, GAP) else UNREADABLE
                if chunk.code not in (FLAT, GAP):
                    out.problems.append(f"{lo - plan.offset_s:g}-{hi - plan.offset_s:g} s unreadable: {chunk.problem}")
            else:
                pos = np.round((chunk.windows.start_s - plan.offset_s) / plan.harmonize.stride).astype(np.int64)
                quality = window_quality(chunk.raw, chunk.harmonized, chunk.windows, lead=plan.lead_index, config=plan.gate)
                cols["quality"][pos] = quality
                if out.rate_problem is None:  # the first chunk tells
                    out.rate_problem = caller_rate_problem(chunk.raw, chunk.harmonized, lead=plan.lead_index)
                ok = quality == "ok"
                if ok.any():
                    at, ok_starts = pos[ok], chunk.windows.start_s[ok]
                    out.parts.append(model.predict_windows(chunk.windows.x[ok], mc=config.mc, mc_scope=config.mc_scope, start_s=ok_starts))
                    out.positions.append(at)
                    if plan.use_rhythm:
                        cols["rhythm_evidence"][at] = True
                        rr_jobs.append((at, (lo, hi), rr_thread.submit(_rhythm_features, chunk.harmonized, ok_starts, window_s=window_s,
                                                             rpeak_method=config.rpeak_method)))
            if on_chunk:
                on_chunk(hi - plan.offset_s, plan.duration_s)
        for at, (lo, hi), job in rr_jobs:
            try:
                evidence = job.result()
            except Exception as exc:  # noqa: BLE001 — a detector failure costs the chunk's evidence, not the recording
                out.problems.append(f"{starts[at[0]]:g}-{starts[at[-1]] + window_s:g} s: no rhythm evidence ({type(exc).__name__}: {exc})")
                continue
            for name in RHYTHM_FEATURES:
                cols[name][at] = evidence.features[name].to_numpy(float)
            beats = np.asarray(evidence.beats_s, float)  # the clock of the windows' start_s
            out.beats.append(beats[(beats >= lo) & (beats < hi)])
            if out.beats[-1].size < 3:
                out.problems.append(f"{lo - plan.offset_s:g}-{hi - plan.offset_s:g} s: no beats detected (no rhythm evidence; "
                                    "its windows count as undecided in the burden)")
            ectopic = np.asarray(evidence.ectopic_s, float)
            out.ectopic.append(ectopic[(ectopic >= lo) & (ectopic < hi)])
    return out


def analyse(source: str | Path | Record, *, model, config: PipelineConfig = PipelineConfig(), fusion: RhythmFusion | None = None,
            fs: float | None = None, on_chunk: Callable[[float, float], None] | None = None) -> Analysis:
    """Run one recording through the pipeline (see the module docstring); ``model``: an :class:`~ecgshift.predictor.EcgShiftModel`.

    A recording that cannot be used at all raises :class:`BadInputError` (one line): no signal, shorter than
    ``min_s``, its first window unreadable, the model's lead missing, or no analysable window. A chunk that fails
    later is marked ``unreadable`` (or ``flat`` / ``gap``) and the rest is analysed. ``on_chunk(done_s, total_s)``
    reports progress."""
    started = time.perf_counter()
    source = source if isinstance(source, Record) else Path(source)
    plan = _plan(source, model=model, config=config, fs=fs)
    label, rhythms, notes = _open(source, fs=fs, window_s=plan.harmonize.window_s, meta=plan.meta, channel=config.channel)
    if plan.starts.size == 0:
        raise BadInputError(plan.where, f"no analysable window (shorter than {plan.harmonize.min_s:g} s: {plan.duration_s:.1f} s)")
    with torch_threads(config.threads, rhythm=plan.use_rhythm):
        got = _run_chunks(plan, source, model=model, config=config, fs=fs, on_chunk=on_chunk)
    cols, quality = got.cols, got.cols["quality"]
    if not np.any(quality == "ok"):
        raise BadInputError(plan.where, f"no analysable window ({describe_excluded(quality.astype(str))})"
                            + (f": {got.refused}" if got.refused else ""))  # the reader's own reason, when it refused the signal
    at, network = np.concatenate(got.positions), _concat(got.parts)  # chunks in order: positions increase
    for name in ("p_af", "std", "entropy", "mutual_info", "shift_score", "modality_p"):
        cols[name][at] = getattr(network, name)
    cols["modality"][at] = network.modality
    cols["refer"][at] = network.refer | bool(got.rate_problem)
    cols["review"][at] = model.referral.uncertain(network.entropy)
    problems = [p for p in (got.rate_problem, excluded_note(quality.astype(str))) if p] + list(notes) + got.problems
    windows = decide(pd.DataFrame(cols), fusion=fusion)
    fused = fusion is not None and bool(windows["rhythm_evidence"].any())
    decided = network.with_fused(windows["p_af_decided"].to_numpy(float)[at], threshold=fusion.threshold) if fused else network
    if got.rate_problem:
        decided = replace(decided, refer=np.ones(len(decided), dtype=bool))
    return Analysis(record_id=plan.record_id, source=plan.where, fs=plan.fs, lead=plan.leads[plan.lead_index], duration_s=plan.duration_s,
                    harmonize=plan.harmonize, windows=windows, predictions=decided, problems=tuple(problems), suspect_fs=bool(got.rate_problem),
                    label=label, rhythms=tuple(rhythms), decided_by=str(decided.decided_by), seconds=time.perf_counter() - started,
                    start_time=plan.meta.start_time if plan.meta is not None else source.start_time,
                    beats_s=np.unique(np.concatenate(got.beats)) if got.beats else None,
                    ectopic_s=np.unique(np.concatenate(got.ectopic)) if got.ectopic else None)


def _concat(parts: list[Predictions]) -> Predictions:
    first = parts[0]
    arrays = {name: np.concatenate([getattr(p, name) for p in parts]) for name in
              ("p_af", "entropy", "mutual_info", "std", "modality", "modality_p", "shift_score", "refer", "start_s")}
    return replace(first, **arrays)
