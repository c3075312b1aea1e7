"""Holter analysis: a long recording → per-window p(AF) and uncertainty → AF episodes, burden, review flags.

The recording is read ``chunk_s`` at a time (plus a filter margin on each side), harmonized exactly like
training data, cut into the model's windows and predicted with MC Dropout; only per-window numbers are
kept, so memory does not grow with the recording. Every window gets a ``quality``: ``ok`` (analysed),
the first rule of :mod:`ecgshift.quality` that fires (``gap``, ``saturated``, ``flat``, ``noise``; the noise
rule is on here), or ``unreadable`` — the chunk holding the window could not be read (the reason is kept
in ``problems``).

Windows are AF when the fused p(AF) ≥ the fusion's threshold (0.5): :class:`ecgshift.rhythm.RhythmFusion`,
a logistic regression on the network's p(AF) and rhythm evidence of every analysed window — RR
features of all R-peaks and of the normal-to-normal series after ectopic beats (by QRS morphology)
are removed, and the share of ectopic beats (:func:`ecgshift.rhythm.window_rhythm_features`; R-peaks by
:func:`ecgshift.rhythm.rr.detect_rpeaks`, neurokit2's detector by default — GQRS finds a few more beats but is
pure Python, ~20x slower). The shipped fusion was fitted on cross-validated MIT-BIH validation
predictions (``benchmarks/holter_cv.py``); nested in that cross-validation it took window
specificity from 0.918 to 0.966 (sensitivity 0.988 → 0.981).
Without a fusion (``fusion=False``), windows are AF when p(AF) ≥ 0.5, unless the window is under
review and the literature RR rule calls it non-AF (``rr_overrides``). The rhythm evidence is computed
in a background thread, over each chunk plus ``rr_context_s`` on each side. AF episodes merge AF
windows across ≤ ``max_gap_s`` (10 s) and keep those ≥ ``min_duration_s`` (30 s, the ESC/HRS clinical
definition of an AF episode), see :mod:`ecgshift.rhythm.episodes`. Burden = analysable time inside episodes /
analysable time. A window is ``review`` when its predictive entropy exceeds the model's referral
threshold (``config.json`` → ``referral.entropy``, the 90th percentile of validation entropy); its
``rr_call`` is the literature RR rule's call on it (AF, non-AF, or no call without enough beats).
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ecgshift import io
from ecgshift.rhythm.episodes import Episode, burden_per_hour, covered_fraction, episodes_from_intervals, episodes_from_windows, window_burden
from ecgshift.errors import BadInputError
from ecgshift.holter.evaluation import HolterEvaluation, evaluate_reference
from ecgshift.io.annotations import read_annotations
from ecgshift.io.wfdb import read_wfdb, record_base
from ecgshift.predictor import EcgShiftModel
from ecgshift.quality import SIGNAL_FAULTS, QualityConfig, window_quality
from ecgshift.preprocess import HarmonizeConfig, Harmonizer, choose_lead
from ecgshift.record import Record, RhythmInterval
from ecgshift.rhythm.fusion import RHYTHM_FEATURES, RhythmFusion, default_fusion, window_rhythm_features
from ecgshift.windows import window_record

__all__ = ["HolterConfig", "HolterResult", "HolterEvaluation", "TimeAccount", "QUALITY_REASONS", "WINDOW_COLUMNS",
           "analyse_holter", "decide", "redecide", "evaluate_reference"]

#: Per-window columns of :attr:`HolterResult.windows`.
WINDOW_COLUMNS = ("start_s", "end_s", "quality", "p_af", "std", "entropy", "mutual_info", "shift_score", "p_af_fused",
                  "review", "rr_call", "is_af", "in_episode", *RHYTHM_FEATURES)
#: Why a window is not analysed (plus ``tail``: the end of the recording shorter than one window).
QUALITY_REASONS = (*SIGNAL_FAULTS, "noise", "unreadable")


@dataclass(frozen=True)
class HolterConfig:
    """Every choice of a Holter analysis; durations in seconds (see the module docstring for the rules)."""

    chunk_s: float = 600.0
    margin_s: float = 5.0
    mc: int = 20
    fast: bool = True
    max_gap_s: float = 10.0
    min_duration_s: float = 30.0
    quality: QualityConfig = QualityConfig()  # the window quality gate, noise rule included
    rr_second_opinion: bool = True  # rhythm evidence (R-peaks, RR features) for every analysed window
    rr_context_s: float = 25.0
    rpeak_method: str = "neurokit"
    fusion: bool = True  # decide with the RhythmFusion (needs rr_second_opinion); else p(AF) ≥ 0.5 ...
    rr_overrides: bool = True  # ... with uncertain AF calls withdrawn when the RR rule calls them non-AF

    def __post_init__(self) -> None:
        if self.chunk_s <= 0 or self.mc < 1:
            raise ValueError("chunk_s must be positive and mc at least 1")


@dataclass(frozen=True)
class TimeAccount:
    """Where every second of the recording went: analysed, or unanalysable by reason (incl. ``tail``)."""

    duration_s: float
    analysed_s: float
    unanalysable_s: dict[str, float]

    @property
    def accounted_s(self) -> float:
        return self.analysed_s + sum(self.unanalysable_s.values())


@dataclass(frozen=True, eq=False)
class HolterResult:
    """One analysed recording.

    ``windows``: one row per window of the grid ``k * window_s`` (the tail shorter than a window is
    ``account.unanalysable_s['tail']``), columns :data:`WINDOW_COLUMNS` (+ ``ref_af_fraction`` with a
    reference); prediction columns are NaN where ``quality != 'ok'``; ``rr_call`` is '' for windows
    not under review. ``burden_per_hour``: :func:`ecgshift.rhythm.episodes.burden_per_hour` plus ``unanalysable_s``
    (by window start). ``reference_episodes`` / ``evaluation``: None without a reference.
    """

    record_id: str
    path: str
    fs: float
    lead: str
    window_s: float
    windows: pd.DataFrame
    episodes: list[Episode]
    burden_pct: float
    burden_per_hour: pd.DataFrame
    account: TimeAccount
    review_threshold: float
    reference_episodes: list[Episode] | None
    evaluation: HolterEvaluation | None
    problems: tuple[str, ...]
    config: HolterConfig
    model: str
    seconds: float
    af_threshold: float = 0.9  # windows ≥ this annotated AF fraction are AF windows in the evaluation
    fusion: str | None = None  # which decision rule made ``is_af``: 'rhythm fusion' or None (p(AF) ≥ 0.5 + RR overrides)

    @property
    def duration_s(self) -> float:
        return self.account.duration_s


def _read_chunk(path: Path, reader: str, start_s: float, end_s: float) -> Record:
    """A span of the recording; WFDB without its annotation file (read once, not per chunk)."""
    if reader == "wfdb":
        return read_wfdb(path, start_s=start_s, end_s=end_s, annotation=None, allow_nan=True)
    return io.read(path, start_s=start_s, end_s=end_s, allow_nan=True)


def _failure_reason(problem: str) -> str:
    """A chunk the reader refused as a whole: flat (every lead constant), a gap (all NaN), or unreadable."""
    return "flat" if problem.startswith("flat signal") else "gap" if "entirely NaN" in problem else "unreadable"


def _rhythm(harm: Record, starts: np.ndarray, *, window_s: float, rpeak_method: str) -> pd.DataFrame:
    """Rhythm evidence (:data:`ecgshift.rhythm.RHYTHM_FEATURES`) of the windows at ``starts`` from the harmonized chunk."""
    return window_rhythm_features(harm.signal[0], harm.fs, starts, window_s=window_s, signal_start_s=harm.start_s,
                                  rpeak_method=rpeak_method)


def _harmonize(model: EcgShiftModel) -> HarmonizeConfig:
    return dataclasses.replace(model.harmonize, stride_s=None)  # non-overlapping windows: times add up


def _review_threshold(model: EcgShiftModel) -> float:
    return float(model.referral.get("entropy", np.inf))


def _analyse_chunk(chunk: Record, cols: dict[str, np.ndarray], idx: np.ndarray, *, model: EcgShiftModel,
                   config: HolterConfig) -> tuple[int, tuple | None]:
    """Fill the per-window columns at positions ``idx`` (windows of this chunk) in place. Returns how many
    grid windows the chunk did not yield (left ``unreadable``) and the rhythm evidence still to compute
    (positions, harmonized chunk, window starts) for every analysed window, or None."""
    harmonize = _harmonize(model)
    lo, hi = cols["start_s"][idx[0]], cols["end_s"][idx[-1]]
    harm = Harmonizer(harmonize)(chunk)
    windows = window_record(harm, config=harmonize, harmonized=True, span_s=(lo, hi))
    pos = np.round(windows.start_s / harmonize.window_s).astype(np.int64)
    cols["quality"][idx] = "unreadable"  # any grid window the chunk did not yield
    quality = window_quality(chunk, harm, windows, lead=choose_lead(chunk.leads, lead=harmonize.lead), config=config.quality)
    cols["quality"][pos] = quality
    ok = quality == "ok"
    if not ok.any():
        return idx.size - pos.size, None
    pred = model.predict_windows(windows.x[ok], mc=config.mc, fast=config.fast, start_s=windows.start_s[ok])
    at = pos[ok]
    for name in ("p_af", "std", "entropy", "mutual_info", "shift_score"):
        cols[name][at] = getattr(pred, name)
    cols["review"][at] = pred.entropy > _review_threshold(model)
    todo = (at, harm, windows.start_s[ok]) if config.rr_second_opinion else None
    return idx.size - pos.size, todo


def _reference_rhythms(path: Path, reader: str, extension: str, duration_s: float, fs: float) -> tuple[RhythmInterval, ...]:
    if reader != "wfdb":
        raise BadInputError(path, f"reference annotations ({extension}) need a WFDB record")
    base = record_base(path)
    if not Path(f"{base}.{extension}").exists():
        raise BadInputError(Path(f"{base}.{extension}"), "reference annotation file not found")
    return read_annotations(base, extension, fs=fs, end_s=duration_s)[1]


def _account(quality: np.ndarray, window_s: float, duration_s: float) -> TimeAccount:
    reasons = {r: float(np.sum(quality == r) * window_s) for r in QUALITY_REASONS}
    reasons["tail"] = float(duration_s - quality.size * window_s)
    return TimeAccount(duration_s=float(duration_s), analysed_s=float(np.sum(quality == "ok") * window_s), unanalysable_s=reasons)


def analyse_holter(path: str | Path, *, model: EcgShiftModel, config: HolterConfig = HolterConfig(),
                   reference: str | None = None, on_chunk: Callable[[float, float], None] | None = None,
                   fusion: RhythmFusion | None = None) -> HolterResult:
    """Analyse one long recording (WFDB or EDF) chunk by chunk; see the module docstring.

    ``fusion``: the :class:`RhythmFusion` deciding AF (default: the shipped one when ``config.fusion``).

    ``reference``: a WFDB annotation extension ('atr') to evaluate against. ``on_chunk(done_s, total_s)``
    reports progress. A recording that cannot be read at all raises :class:`BadInputError` (one line);
    a chunk that fails later is marked ``unreadable`` and the rest is analysed.
    """
    started = time.perf_counter()
    path = Path(path)
    meta = io.info(path, require_signal=True)
    reader = io.reader_for(path).name
    harmonize = _harmonize(model)
    window_s = harmonize.window_s
    n_windows = int(np.floor(meta.duration_s / window_s + 1e-9))
    if n_windows == 0:
        raise BadInputError(path, f"shorter than one {window_s:g}-s window ({meta.duration_s:.1f} s)")
    try:  # missing / truncated signal files fail here, for the whole recording
        _read_chunk(path, reader, 0.0, min(meta.duration_s, window_s))
    except BadInputError as exc:
        if _failure_reason(exc.problem) == "unreadable":  # a flat or NaN start is analysed (as unanalysable)
            raise
    try:
        lead = meta.leads[choose_lead(meta.leads, lead=harmonize.lead)]
    except (KeyError, ValueError) as exc:  # the model's lead is not in the recording
        raise BadInputError(path, str(exc).strip("'\"")) from None
    rhythms = _reference_rhythms(path, reader, reference, meta.duration_s, meta.fs) if reference else None

    starts = np.arange(n_windows) * window_s
    cols: dict[str, np.ndarray] = {"start_s": starts, "end_s": starts + window_s, "quality": np.full(n_windows, "unreadable", dtype=object),
                                   "review": np.zeros(n_windows, bool),
                                   **{k: np.full(n_windows, np.nan) for k in ("p_af", "std", "entropy", "mutual_info", "shift_score", *RHYTHM_FEATURES)}}
    per_chunk = max(1, int(np.floor(config.chunk_s / window_s + 1e-9)))
    margin_s = max(config.margin_s, config.rr_context_s if config.rr_second_opinion else 0.0)
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as rr_thread:  # R-peak detection overlaps the model's work
        rr_jobs = []
        for first_window in range(0, n_windows, per_chunk):
            idx = np.arange(first_window, min(n_windows, first_window + per_chunk))
            lo, hi = float(starts[idx[0]]), float(starts[idx[-1]] + window_s)
            try:
                chunk = _read_chunk(path, reader, max(0.0, lo - margin_s), min(meta.duration_s, hi + margin_s))
                missing, todo = _analyse_chunk(chunk, cols, idx, model=model, config=config)
                if missing:
                    problems.append(f"{lo:g}-{hi:g} s: {missing} window(s) not produced from the chunk")
                if todo is not None:
                    rr_jobs.append((todo[0], rr_thread.submit(_rhythm, todo[1], todo[2], window_s=window_s, rpeak_method=config.rpeak_method)))
            except BadInputError as exc:
                reason = _failure_reason(exc.problem)
                cols["quality"][idx] = reason
                if reason == "unreadable":
                    problems.append(f"{lo:g}-{hi:g} s unreadable: {exc.problem}")
            if on_chunk:
                on_chunk(hi, meta.duration_s)
        for at, job in rr_jobs:
            try:
                features = job.result()
            except Exception as exc:  # noqa: BLE001 — a detector failure costs the evidence, not the recording
                problems.append(f"{starts[at[0]]:g}-{starts[at[-1]] + window_s:g} s: no rhythm evidence ({type(exc).__name__}: {exc})")
                continue
            for name in RHYTHM_FEATURES:
                cols[name][at] = features[name].to_numpy(float)

    ok = cols["quality"] == "ok"
    rr_p = cols["rr_p_af"]
    cols["rr_call"] = np.where(cols["review"] & ok, np.where(np.isnan(rr_p), "no call", np.where(rr_p >= 0.5, "AF", "non-AF")), "").astype(object)
    windows = pd.DataFrame({k: cols.get(k, np.nan) for k in WINDOW_COLUMNS})
    reference_episodes = None if rhythms is None else episodes_from_intervals(rhythms)
    if reference_episodes is not None:
        windows["ref_af_fraction"] = covered_fraction(reference_episodes, starts, cols["end_s"])
    result = HolterResult(
        record_id=meta.record_id, path=str(path), fs=meta.fs, lead=lead, window_s=window_s, windows=windows,
        episodes=[], burden_pct=float("nan"), burden_per_hour=pd.DataFrame(), account=_account(cols["quality"], window_s, meta.duration_s),
        review_threshold=_review_threshold(model), reference_episodes=reference_episodes, evaluation=None, problems=tuple(problems),
        config=config, model=model.source, seconds=0.0, af_threshold=harmonize.af_threshold,
    )
    result = redecide(result, fusion=_resolve_fusion(fusion, config))
    return dataclasses.replace(result, seconds=time.perf_counter() - started)


def _resolve_fusion(fusion: RhythmFusion | None, config: HolterConfig) -> RhythmFusion | None:
    if not (config.fusion and config.rr_second_opinion):
        return None
    return fusion if fusion is not None else default_fusion()


def decide(windows: pd.DataFrame, *, fusion: RhythmFusion | None, config: HolterConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per window: AF or not (bool), and the fused p(AF) (NaN without a fusion or where not analysed);
    from the columns of :data:`WINDOW_COLUMNS` (see the module docstring for the rule)."""
    ok = windows["quality"].to_numpy() == "ok"
    p_af = np.nan_to_num(windows["p_af"].to_numpy(float))
    fused = np.full(len(windows), np.nan)
    if fusion is not None:
        if ok.any():
            fused[ok] = fusion.predict_proba(p_af[ok], windows.loc[ok, list(RHYTHM_FEATURES)])
        return ok & (np.nan_to_num(fused) >= fusion.threshold), fused
    is_af = ok & (p_af >= 0.5)
    if config.rr_overrides:  # an uncertain AF call that the RR rule calls non-AF is not AF
        is_af &= ~(windows["review"].to_numpy(bool) & (windows["rr_call"].to_numpy() == "non-AF"))
    return is_af, fused


def redecide(result: HolterResult, *, fusion: RhythmFusion | None) -> HolterResult:
    """``result`` with its decisions, episodes, burdens and evaluation recomputed from its windows with
    ``fusion`` (None: the rule without fusion) — e.g. to compare fusions without re-running the model."""
    w = result.windows.copy()
    starts, ends = w["start_s"].to_numpy(float), w["end_s"].to_numpy(float)
    ok = w["quality"].to_numpy() == "ok"
    is_af, fused = decide(w, fusion=fusion, config=result.config)
    w["is_af"], w["p_af_fused"] = is_af, fused
    p_episode = np.where(np.isnan(fused), np.nan_to_num(w["p_af"].to_numpy(float)), fused)
    episodes = episodes_from_windows(starts, ends, is_af, p_af=p_episode, uncertainty=np.nan_to_num(w["entropy"].to_numpy(float)),
                                     max_gap_s=result.config.max_gap_s, min_duration_s=result.config.min_duration_s)
    w["in_episode"] = ok & (covered_fraction(episodes, starts, ends) > 0.5)
    evaluation = None
    if result.reference_episodes is not None:
        evaluation = evaluate_reference(w, episodes, result.reference_episodes, af_threshold=result.af_threshold,
                                        min_reference_s=result.config.min_duration_s)
    per_hour = burden_per_hour(starts, ends, w["in_episode"], ok)
    per_hour["unanalysable_s"] = np.bincount((starts[~ok] // 3600).astype(np.int64), minlength=len(per_hour))[: len(per_hour)] * result.window_s
    return dataclasses.replace(result, windows=w, episodes=episodes, burden_pct=window_burden(starts, ends, w["in_episode"], ok),
                               burden_per_hour=per_hour, evaluation=evaluation, fusion=None if fusion is None else "rhythm fusion")
