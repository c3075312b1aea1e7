"""Holter analysis: a long recording → per-window p(AF) and uncertainty → AF episodes, burden, review flags.

The recording goes through :func:`ecgshift.pipeline.analyse` — the pipeline of ``ecgshift predict`` and of the
API, so the same windows get the same p(AF) and decision — on the non-overlapping window grid: read ``chunk_s``
at a time (plus a filter margin on each side), harmonized exactly like training data, cut into the model's
windows and predicted with MC Dropout; only per-window numbers are kept, so memory does not grow with the
recording. Every window gets a ``quality``: ``ok`` (analysed),
the first rule of :mod:`ecgshift.quality` that fires (``gap``, ``saturated``, ``flat``, ``noise``; the noise
rule is on for recordings of 5 min or more, as in ``predict``), or ``unreadable`` — the chunk holding the window
could not be read (the reason is kept in ``problems``).

Windows of recordings of 5 min or more are AF when the fused p(AF) ≥ the fusion's threshold (0.5): :class:`ecgshift.rhythm.RhythmFusion`,
a logistic regression on the network's p(AF) and rhythm evidence of every analysed window — RR
features of all R-peaks and of the normal-to-normal series after ectopic beats (by QRS morphology)
are removed, and the share of ectopic beats (:func:`ecgshift.rhythm.window_rhythm_features`; R-peaks by
:func:`ecgshift.rhythm.rr.detect_rpeaks`, neurokit2's detector by default — GQRS finds a few more beats but is
pure Python, ~20x slower). The shipped fusion was fitted on cross-validated MIT-BIH validation
predictions (``benchmarks/holter_cv.py``); nested in that cross-validation it took window
specificity from 0.918 to 0.966 (sensitivity 0.988 → 0.981).
Without a fusion (``fusion=False``), windows are AF when p(AF) ≥ 0.5, unless the window is under
review and the literature RR rule calls it non-AF (``rr_overrides``). The rhythm evidence is computed
in a background thread, over each chunk plus ``rr_context_s`` on each side. Shorter recordings have too few
beats for the rhythm features: their windows are decided by the network's p(AF) ≥ 0.5 (``decided_by`` says which
rule decided each window). AF episodes merge AF
windows across ≤ ``max_gap_s`` (10 s) and keep those ≥ ``min_duration_s`` (30 s, the ESC/HRS clinical
definition of an AF episode), see :mod:`ecgshift.rhythm.episodes`. Burden = AF time / analysable time, AF time
resolved to beats where the rhythm evidence found R-peaks and independent of the episode rule, with an interval for
the undecided windows (:mod:`ecgshift.rhythm.burden`; ``HolterResult.af``). A window is ``review`` when its predictive entropy exceeds the model's referral
threshold (``config.json`` → ``referral.entropy``, the 90th percentile of validation entropy); its
``rr_call`` is the literature RR rule's call on it (AF, non-AF, or no call without enough beats).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from ecgshift import io
from ecgshift.errors import BadInputError
from ecgshift.holter.evaluation import HolterEvaluation, evaluate_reference
from ecgshift.pipeline import RHYTHM_CONTEXT_S, PipelineConfig, analyse
from ecgshift.pipeline import decide as decide_windows
from ecgshift.quality import SIGNAL_FAULTS, QualityConfig
from ecgshift.record import RhythmInterval
from ecgshift.rhythm.burden import AFTime, windows_af_time
from ecgshift.rhythm.episodes import Episode, burden_per_hour, covered_fraction, episodes_from_intervals
from ecgshift.rhythm.fusion import RHYTHM_FEATURES, RhythmFusion, default_fusion

if TYPE_CHECKING:
    from ecgshift.conformal import BudgetCheck

__all__ = ["HolterConfig", "HolterConformal", "HolterResult", "HolterEvaluation", "TimeAccount", "QUALITY_REASONS", "WINDOW_COLUMNS",
           "analyse_holter", "decide", "redecide", "evaluate_reference", "with_conformal"]

#: Per-window columns of :attr:`HolterResult.windows`.
WINDOW_COLUMNS = ("start_s", "end_s", "quality", "p_af", "std", "entropy", "mutual_info", "shift_score", "p_af_fused",
                  "review", "rr_call", "is_af", "decided_by", "in_episode", "af_fraction", *RHYTHM_FEATURES)
#: Why a window is not analysed (plus ``tail``: the end of the recording shorter than one window).
QUALITY_REASONS = (*SIGNAL_FAULTS, "noise", "unreadable")


@dataclass(frozen=True)
class HolterConfig:
    """Every choice of a Holter analysis; durations in seconds (see the module docstring for the rules).

    ``quality``: the window quality gate (None: the pipeline's, by duration — the noise rule on for recordings of
    5 min or more). ``rhythm``: rhythm evidence (R-peaks, RR features) for every analysed window of recordings of
    5 min or more; ``decision``: ``"fusion"`` decides those windows with the RhythmFusion, ``"network"`` by
    p(AF) ≥ 0.5 with uncertain AF calls withdrawn when the RR rule calls them non-AF (``rr_overrides``)."""

    chunk_s: float = 600.0
    margin_s: float = 5.0
    mc: int = 20
    mc_scope: str = "head"
    max_gap_s: float = 10.0
    min_duration_s: float = 30.0
    quality: QualityConfig | None = None
    rhythm: bool = True
    rr_context_s: float = RHYTHM_CONTEXT_S
    rpeak_method: str = "neurokit"
    decision: str = "fusion"
    rr_overrides: bool = True
    channel: str | None = None  # read only this channel (see ecgshift.io.read)
    threads: int | None = None  # torch threads (None: ecgshift.threads.default_torch_threads)
    alpha: float | None = None  # conformal miss rate per class: a prediction set per window (HolterResult.conformal)
    max_referral: float | None = None  # with alpha: the share of windows the service can review (a BudgetCheck)

    def __post_init__(self) -> None:
        from ecgshift.conformal import check_alpha, check_budget

        if self.decision not in ("fusion", "network"):
            raise ValueError(f"decision must be fusion or network, not {self.decision!r}")
        if self.alpha is not None:
            check_alpha(self.alpha)
        if self.max_referral is not None:
            if self.alpha is None:
                raise ValueError("max_referral needs alpha (the guarantee whose referrals it budgets)")
            check_budget(self.max_referral)
        self.pipeline()  # mc, mc_scope, chunk_s checked there

    def pipeline(self) -> PipelineConfig:
        """The pipeline run for this analysis: non-overlapping windows (their durations add up)."""
        return PipelineConfig(mc=self.mc, mc_scope=self.mc_scope, chunk_s=self.chunk_s, margin_s=self.margin_s, overlap=False,
                              rhythm=self.rhythm, rhythm_context_s=self.rr_context_s, rpeak_method=self.rpeak_method, quality=self.quality,
                              channel=self.channel, threads=self.threads)


@dataclass(frozen=True)
class TimeAccount:
    """Where every second of the recording went: analysed, or unanalysable by reason (incl. ``tail``)."""

    duration_s: float
    analysed_s: float
    unanalysable_s: dict[str, float]

    @property
    def accounted_s(self) -> float:
        return self.analysed_s + sum(self.unanalysable_s.values())


@dataclass(frozen=True)
class HolterConformal:
    """The conformal sets of a recording's analysed windows at level ``alpha`` (hECG window cells of the model's
    ``conformal.json``, on the network's p(AF); the sets and reasons per window are ``windows.conformal_set`` /
    ``windows.referral_reason``). ``sets``: windows per set label (AF, SR, AF+SR = uncertain, none = looks like
    neither); ``reasons``: windows per referral reason; ``referral_rate``: share of analysed windows whose set is not
    one class; ``budget``: the check against ``max_referral`` (None without one)."""

    alpha: float
    n_windows: int
    sets: dict[str, int]
    reasons: dict[str, int]
    referral_rate: float
    budget: BudgetCheck | None = None


@dataclass(frozen=True, eq=False)
class HolterResult:
    """One analysed recording.

    ``windows``: one row per window of the grid ``k * window_s`` (the tail shorter than a window is
    ``account.unanalysable_s['tail']``), columns :data:`WINDOW_COLUMNS` (+ ``ref_af_fraction`` with a
    reference); prediction columns are NaN where ``quality != 'ok'``; ``rr_call`` is '' for windows
    not under review. ``burden_per_hour``: :func:`ecgshift.rhythm.episodes.burden_per_hour` plus ``unanalysable_s``
    (by window start). ``reference_episodes`` / ``evaluation``: None without a reference. ``burden_pct``: AF time /
    analysable time (``af``: its interval, AF runs, short runs, verdict and class; ``episodes``: the clinical list, from
    the beat-resolved runs); ``windows.af_fraction``: each window's share in AF runs.
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
    decision: str = "network"  # the rule that made ``is_af``: 'fusion' (RhythmFusion) or 'network' (p(AF) ≥ 0.5 + RR overrides)
    start_time: datetime | None = None  # clock time of the first sample, when the file states it (ecgshift.clock)
    beats_s: np.ndarray | None = None  # R-peak times found for the rhythm evidence (None without it)
    ectopic_s: np.ndarray | None = None  # … of them, the ectopic beats
    af: AFTime | None = None  # AF time, burden interval, runs, episodes, verdict and class (ecgshift.rhythm.burden.af_time)
    conformal: HolterConformal | None = None  # the windows' conformal sets (config.alpha), None without alpha

    @property
    def duration_s(self) -> float:
        return self.account.duration_s


def _reference_rhythms(path: Path, extension: str, duration_s: float, fs: float) -> tuple[RhythmInterval, ...]:
    """The reference rhythm intervals; an annotation file whose annotations run past the signal's end (by more than
    one second) disagrees with the signal: :class:`BadInputError` (the caller analyses without the reference)."""
    if io.reader_for(path).name != "wfdb":
        raise BadInputError(path, f"reference annotations ({extension}) need a WFDB record")
    from ecgshift.io.annotations import read_annotations as read_wfdb_annotations
    from ecgshift.io.wfdb import record_base

    base = record_base(path)
    if not Path(f"{base}.{extension}").exists():
        raise BadInputError(path, f"no reference annotation file {Path(f'{base}.{extension}').name}")
    _, rhythms, last = read_wfdb_annotations(base, extension, fs=fs, end_s=duration_s)
    if last / fs > duration_s + 1.0:
        raise BadInputError(path, f"reference annotations ({extension}) run to {last / fs:.1f} s but the signal ends at "
                                  f"{duration_s:.1f} s: annotation file and signal disagree")
    return rhythms


def _account(quality: np.ndarray, window_s: float, duration_s: float) -> TimeAccount:
    reasons = {r: float(np.sum(quality == r) * window_s) for r in QUALITY_REASONS}
    reasons["tail"] = float(duration_s - quality.size * window_s)
    return TimeAccount(duration_s=float(duration_s), analysed_s=float(np.sum(quality == "ok") * window_s), unanalysable_s=reasons)


def analyse_holter(path: str | Path, *, model, config: HolterConfig = HolterConfig(),
                   reference: str | None = None, on_chunk: Callable[[float, float], None] | None = None,
                   fusion: RhythmFusion | None = None, fs: float | None = None) -> HolterResult:
    """Analyse one long recording chunk by chunk; see the module docstring.

    ``fusion``: the :class:`RhythmFusion` deciding AF when ``config.decision == "fusion"`` (default: the shipped one).
    ``reference``: a WFDB annotation extension ('atr') to evaluate against. ``on_chunk(done_s, total_s)``
    reports progress. ``fs`` (Hz): the sampling rate of a file that does not store it (plain CSV), as in
    :func:`ecgshift.pipeline.analyse`. A recording that cannot be read at all raises :class:`BadInputError` (one line);
    a chunk that fails later is marked ``unreadable`` and the rest is analysed.
    """
    started = time.perf_counter()
    path = Path(path)
    meta = io.info(path, fs=fs, require_signal=True, channel=config.channel)
    window_s = model.harmonize.window_s
    if meta.duration_s < window_s:
        raise BadInputError(path, f"shorter than one {window_s:g}-s window ({meta.duration_s:.1f} s)")
    rhythms, reference_problem = None, None
    if reference:
        try:
            rhythms = _reference_rhythms(path, reference, meta.duration_s, meta.fs)
        except BadInputError as exc:  # the recording is still analysed, without the reference
            reference_problem = f"reference not used: {exc.reason_for(path)}"
    analysis = analyse(path, model=model, config=config.pipeline(), fusion=None, on_chunk=on_chunk, fs=fs)
    w = analysis.windows
    ok = w["quality"].to_numpy() == "ok"
    rr_p = w["rr_p_af"].to_numpy(float)
    review = w["review"].to_numpy(bool)
    rr_call = np.where(review & ok, np.where(np.isnan(rr_p), "no call", np.where(rr_p >= 0.5, "AF", "non-AF")), "").astype(object)
    windows = w.assign(rr_call=rr_call, p_af_fused=np.nan, in_episode=False)
    reference_episodes = None if rhythms is None else episodes_from_intervals(rhythms)
    if reference_episodes is not None:
        windows["ref_af_fraction"] = covered_fraction(reference_episodes, windows["start_s"].to_numpy(float), windows["end_s"].to_numpy(float))
    result = HolterResult(
        record_id=meta.record_id, path=str(path), fs=meta.fs, lead=analysis.lead, window_s=window_s, windows=windows,
        episodes=[], burden_pct=float("nan"), burden_per_hour=pd.DataFrame(), account=_account(analysis.quality.astype(str), window_s, meta.duration_s),
        review_threshold=float(model.referral.entropy), reference_episodes=reference_episodes, evaluation=None,
        problems=analysis.problems + ((reference_problem,) if reference_problem else ()),
        config=config, model=model.source, seconds=0.0, af_threshold=model.harmonize.af_threshold, beats_s=analysis.beats_s,
        ectopic_s=analysis.ectopic_s,
        start_time=meta.start_time,
    )
    result = redecide(result, fusion=_resolve_fusion(fusion, config))
    if config.alpha is not None:
        result = with_conformal(result, model=model, alpha=config.alpha, max_referral=config.max_referral)
    return dataclasses.replace(result, seconds=time.perf_counter() - started)


def with_conformal(result: HolterResult, *, model, alpha: float, max_referral: float | None = None) -> HolterResult:
    """``result`` with a conformal set and referral reasons per window (columns ``conformal_set``, ``referral_reason``)
    and their counts (:class:`HolterConformal`): the hECG window cells of ``model.conformal`` at level ``alpha`` on the
    network's p(AF) — the unit and score the hECG calibration was made on (:mod:`ecgshift.conformal`). Windows the
    quality gate excluded get no set and the reason ``quality``. A model without conformal calibration: ValueError."""
    from ecgshift.conformal import (IMPLAUSIBLE_FS, NEITHER, QUALITY, UNCERTAIN, UNLIKE_TRAINING, check_alpha, prediction_sets,
                                    referral_budget, referral_reasons)

    alpha = check_alpha(alpha)
    if model.conformal is None:
        raise ValueError(f"model {model.source or '(in memory)'} has no conformal calibration, so alpha cannot be applied")
    w = result.windows.copy()
    ok = w["quality"].to_numpy() == "ok"
    p = w["p_af"].to_numpy(float)
    sets = prediction_sets(model.conformal, p[ok], "hecg", alpha=alpha)
    labels = np.full(len(w), "", dtype=object)
    uncertain, neither = np.zeros(len(w), bool), np.zeros(len(w), bool)
    labels[ok], uncertain[ok], neither[ok] = sets.label, sets.uncertain, sets.neither
    unlike = ok & (np.nan_to_num(w["shift_score"].to_numpy(float), nan=-np.inf) > model.referral.shift_score)
    w["conformal_set"] = labels
    w["referral_reason"] = referral_reasons(uncertain=uncertain, neither=neither, unlike_training=unlike, quality=~ok)
    reasons = {IMPLAUSIBLE_FS: 0, QUALITY: int((~ok).sum()), UNLIKE_TRAINING: int(unlike.sum()), NEITHER: int(neither.sum()),
               UNCERTAIN: int(uncertain.sum())}  # windows per reason, from the flags the reasons were written from
    budget = None
    if max_referral is not None and ok.any():
        budget = referral_budget(model.conformal, p[ok], "hecg", alpha=alpha, max_referral=max_referral, unit="windows")
    summary = HolterConformal(alpha=alpha, n_windows=int(ok.sum()), sets={k: int((sets.label == k).sum()) for k in ("AF", "SR", "AF+SR", "none")},
                              reasons=reasons, referral_rate=float(sets.refer.mean()) if ok.any() else float("nan"), budget=budget)
    return dataclasses.replace(result, windows=w, conformal=summary)


def _resolve_fusion(fusion: RhythmFusion | None, config: HolterConfig) -> RhythmFusion | None:
    if config.decision != "fusion" or not config.rhythm:
        return None
    return fusion if fusion is not None else default_fusion()


def decide(windows: pd.DataFrame, *, fusion: RhythmFusion | None, config: HolterConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per window: AF or not (bool), and the fused p(AF) (NaN where the fusion did not decide); the rule of
    :func:`ecgshift.pipeline.decide`, which ``ecgshift predict`` and the API apply too."""
    decided, fused = _decided(windows, fusion=fusion, config=config)
    return decided["is_af"].to_numpy(bool), fused


def _decided(windows: pd.DataFrame, *, fusion: RhythmFusion | None, config: HolterConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """The pipeline's decision (the RR override only without a fusion) and the fused p(AF) where the fusion decided."""
    decided = decide_windows(windows, fusion=fusion, rr_overrides=fusion is None and config.rr_overrides)
    fused = np.where(decided["decided_by"].to_numpy() == "network+rhythm", decided["p_af_decided"].to_numpy(float), np.nan)
    return decided, fused


def redecide(result: HolterResult, *, fusion: RhythmFusion | None) -> HolterResult:
    """``result`` with its decisions, episodes, burdens and evaluation recomputed from its windows with
    ``fusion`` (None: the rule without fusion) — e.g. to compare fusions without re-running the model."""
    w = result.windows.copy()
    starts, ends = w["start_s"].to_numpy(float), w["end_s"].to_numpy(float)
    ok = w["quality"].to_numpy() == "ok"
    decided, fused = _decided(w, fusion=fusion, config=result.config)
    is_af = decided["is_af"].to_numpy(bool)
    w["is_af"], w["p_af_fused"], w["decided_by"] = is_af, fused, decided["decided_by"]
    p_episode = np.where(np.isnan(fused), np.nan_to_num(w["p_af"].to_numpy(float)), fused)
    af = windows_af_time(w.assign(p_af_decided=p_episode), beats_s=result.beats_s, ectopic_s=result.ectopic_s, max_gap_s=result.config.max_gap_s,
                         min_duration_s=result.config.min_duration_s)
    episodes = [_with_means(e, starts, ends, is_af, p_episode, np.nan_to_num(w["entropy"].to_numpy(float))) for e in af.episodes]
    w["in_episode"] = ok & (covered_fraction(episodes, starts, ends) > 0.5)
    w["af_fraction"] = np.where(ok, covered_fraction(list(af.runs), starts, ends), np.nan)
    evaluation = None
    if result.reference_episodes is not None:
        evaluation = evaluate_reference(w, episodes, result.reference_episodes, af_threshold=result.af_threshold,
                                        min_reference_s=result.config.min_duration_s, af=af, duration_s=result.duration_s)
    per_hour = burden_per_hour(starts, ends, is_af, ok)
    if len(per_hour):  # AF time per hour from the beat-resolved runs
        hour_af = np.array([sum(max(0.0, min(r.end_s, h1) - max(r.start_s, h0)) for r in af.runs)
                            for h0, h1 in zip(per_hour.start_s, per_hour.end_s)])
        per_hour["af_s"] = np.minimum(hour_af, per_hour.analysable_s)
        per_hour["burden_pct"] = np.where(per_hour.analysable_s > 0, 100 * per_hour.af_s / per_hour.analysable_s.where(per_hour.analysable_s > 0), np.nan)
    per_hour["unanalysable_s"] = np.bincount((starts[~ok] // 3600).astype(np.int64), minlength=len(per_hour))[: len(per_hour)] * result.window_s
    return dataclasses.replace(result, windows=w, episodes=episodes, burden_pct=af.burden_pct, af=af,
                               burden_per_hour=per_hour, evaluation=evaluation, decision="network" if fusion is None else "fusion")


def _with_means(episode: Episode, starts: np.ndarray, ends: np.ndarray, is_af: np.ndarray, p: np.ndarray, u: np.ndarray) -> Episode:
    """``episode`` with the mean p(AF) and entropy of the AF windows it mostly covers."""
    inside = is_af & (covered_fraction([episode], starts, ends) > 0.5)
    if not inside.any():
        inside = (starts < episode.end_s) & (ends > episode.start_s)
    return dataclasses.replace(episode, mean_p_af=float(np.mean(p[inside])), mean_uncertainty=float(np.mean(u[inside])))
