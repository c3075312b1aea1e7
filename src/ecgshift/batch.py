"""Batch prediction over files and folders: every input accounted for (done, or rejected with a reason)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from ecgshift import io
from ecgshift.errors import BadInputError
from ecgshift.plausibility import caller_rate_problem
from ecgshift.predictor import EcgShiftModel, prediction_quality, prediction_windowing
from ecgshift.preprocess import choose_lead
from ecgshift.quality import excluded_note, require_analysable, window_quality
from ecgshift.rhythm.fusion import RHYTHM_FEATURES, RhythmFusion, window_rhythm_features
from ecgshift.uncertainty import Predictions
from ecgshift.windows import concat_windows, stream_chunks

__all__ = ["collect_inputs", "predict_path", "predict_paths", "RECORD_COLUMNS"]

#: Files that stand for a recording when a folder is searched (a WFDB record by its header).
_RECORD_SUFFIXES = (".hea", ".edf", ".csv")
RECORD_COLUMNS = ("record", "path", "status", "given_modality", "predicted_modality", "modality_p", "p_af", "label",
                  "entropy", "mutual_info", "shift_score", "refer", "n_windows", "af_window_fraction", "decided_by", "p_af_network", "reference",
                  "problems")
#: Recordings at least this long (s) are Holter-like: with a fusion, their windows are decided by the network's
#: p(AF) fused with rhythm evidence, as ``ecgshift holter`` decides them (the fusion needs minutes of beats:
#: its ectopic-beat templates span 61 beats, its RR features ~64 beats around each window).
RHYTHM_MIN_S = 300.0
#: Signal read on each side of a chunk when rhythm evidence is computed (as ``HolterConfig.rr_context_s``).
RHYTHM_CONTEXT_S = 25.0


def collect_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Recordings named by files and folders (folders searched recursively; manifest.csv is not a recording).

    A path that does not exist is kept, so it is reported as rejected rather than dropped.
    """
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in _RECORD_SUFFIXES and p.name != "manifest.csv")
            out.extend(found)
        else:
            out.append(path)
    seen, unique = set(), []
    for p in out:
        key = str(p.with_suffix("")) if p.suffix.lower() in {".hea", ".dat", ".mat"} else str(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


@dataclass(frozen=True, eq=False)
class PathPrediction:
    path: Path
    predictions: Predictions | None
    reference: str
    error: str | None
    #: what went wrong without stopping the recording, e.g. "600-1200 s: no rhythm evidence (ValueError: …)"
    problems: tuple[str, ...] = ()
    #: windows not analysed: their start (s) and reason (see :mod:`ecgshift.quality`)
    excluded_start_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    excluded_reason: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="<U9"))
    #: the sampling rate looks wrong (:mod:`ecgshift.plausibility`): every window is referred, and ``problems`` says why
    suspect_fs: bool = False


def predict_path(model: EcgShiftModel, path: Path, *, mc: int, fast: bool, fs: float | None = None, chunk_s: float = 600.0,
                 fusion: RhythmFusion | None = None, rhythm_min_s: float = RHYTHM_MIN_S) -> PathPrediction:
    """Windows of one recording (streamed in chunks) → predictions; a bad file gives its one-line reason.

    Windows failing the quality gate (:func:`ecgshift.predictor.prediction_quality`) are not predicted: they are
    listed in ``excluded_*`` and counted in ``problems``; a recording with no analysable window is rejected.
    A sampling rate given by the caller (``fs`` of a CSV; a header's is the device's) that looks wrong — checked on
    the first chunk — is named in ``problems`` and refers every window.
    With a ``fusion`` and a recording of at least ``rhythm_min_s``, each window's p(AF) is the fused
    one (network + rhythm evidence of the chunk ± :data:`RHYTHM_CONTEXT_S`) and ``decided_by`` says so.
    """
    try:
        meta = io.info(path, fs=fs, require_signal=True)  # e.g. NSR2DB and LTAFDB headers here: beat annotations only
        use_rhythm = fusion is not None and meta.duration_s >= rhythm_min_s
        config = prediction_windowing(model.harmonize, meta.duration_s)
        gate = prediction_quality(meta.duration_s)
        windows, features, problems, reference, annotated, quality, rate_problem = [], [], [], "", False, [], None
        for chunk in stream_chunks(path, config=config, chunk_s=chunk_s, fs=fs, info=meta,
                                   margin_s=RHYTHM_CONTEXT_S if use_rhythm else 5.0):
            lead = choose_lead(chunk.raw.leads, lead=config.lead)
            q = window_quality(chunk.raw, chunk.harmonized, chunk.windows, lead=lead, config=gate)
            if rate_problem is None:  # the first chunk tells
                rate_problem = caller_rate_problem(chunk.raw, chunk.harmonized, lead=lead)
            windows.append(chunk.windows)
            quality.append(q)
            analysable = q == "ok"
            if use_rhythm and analysable.any():
                features.append(_rhythm_evidence(chunk.harmonized, chunk.windows.start_s[analysable], model=model, problems=problems))
            reference = chunk.raw.label or reference
            annotated = annotated or bool(chunk.raw.rhythms)
        all_windows = concat_windows(windows, config=config)
        if len(all_windows) == 0:
            raise BadInputError(path, f"no analysable window (shorter than {model.harmonize.min_s:g} s)")
        quality = np.concatenate(quality)
        require_analysable(quality, path)
        ok = quality == "ok"
        if not ok.all():
            problems.insert(0, excluded_note(quality))
        suspect_fs = bool(rate_problem)
        if suspect_fs:
            problems.insert(0, rate_problem)
        if annotated:  # rhythm annotations: the share of windows annotated AF (90 % rule)
            reference = f"AF {np.mean(all_windows.label == 'AF'):.0%} of windows"
        predictions = model.predict_windows(all_windows.x[ok], mc=mc, fast=fast, start_s=all_windows.start_s[ok])
        if use_rhythm:
            predictions = predictions.with_fused(fusion.predict_proba(predictions.p_af, pd.concat(features, ignore_index=True)),
                                                 threshold=fusion.threshold)
        if suspect_fs:
            predictions = replace(predictions, refer=np.ones(len(predictions), dtype=bool))
        return PathPrediction(path, predictions, reference, None, tuple(problems), all_windows.start_s[~ok], quality[~ok], suspect_fs)
    except BadInputError as exc:
        return PathPrediction(path, None, "", str(exc))


def _rhythm_evidence(harm, starts: np.ndarray, *, model: EcgShiftModel, problems: list[str]) -> pd.DataFrame:
    """:data:`ecgshift.rhythm.RHYTHM_FEATURES` of the windows at ``starts`` of the harmonized chunk ``harm``; all
    missing (the fusion then weighs the network alone) when the R-peak detector fails on it, as in ``ecgshift holter``,
    and the failure is added to ``problems``."""
    window_s = model.harmonize.window_s
    try:
        return window_rhythm_features(harm.signal[0], harm.fs, starts, window_s=window_s, signal_start_s=harm.start_s)
    except Exception as exc:  # noqa: BLE001 - a detector failure costs this chunk's evidence, not the recording
        problems.append(f"{starts[0]:g}-{starts[-1] + window_s:g} s: no rhythm evidence ({type(exc).__name__}: {exc})")
        return pd.DataFrame(np.nan, index=range(len(starts)), columns=list(RHYTHM_FEATURES))


def predict_paths(
    model: EcgShiftModel,
    paths: list[Path],
    *,
    mc: int = 20,
    fast: bool = True,
    fs: float | None = None,
    given_modality: str | dict[str, str] = "unknown",
    windows: bool = False,
    fusion: RhythmFusion | None = None,
    on_path: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """One row per record (or per window with ``windows=True``); rejected inputs get a ``rejected: …`` status row.

    ``fusion``: decide recordings of at least :data:`RHYTHM_MIN_S` with it (see :func:`predict_path`)."""
    rows = []
    for i, path in enumerate(paths):
        given = given_modality.get(str(path), "unknown") if isinstance(given_modality, dict) else given_modality
        result = predict_path(model, path, mc=mc, fast=fast, fs=fs, fusion=fusion)
        base = {"record": path.stem, "path": str(path), "given_modality": given}
        if result.error is not None:
            reason = result.error.split(": ", 1)[1] if result.error.startswith(str(path)) else result.error
            rows.append({**base, "status": f"rejected: {reason}"})
        elif windows:
            frame = result.predictions.to_frame()
            record_rows = [{**base, "status": "ok", "predicted_modality": row.pop("modality"), **row, "n_windows": 1,
                            "decided_by": result.predictions.decided_by, "reference": result.reference,
                            "problems": "; ".join(result.problems)} for row in frame.to_dict("records")]
            record_rows += [{**base, "status": f"excluded: {reason}", "start_s": float(start), "n_windows": 0, "reference": result.reference}
                            for start, reason in zip(result.excluded_start_s, result.excluded_reason)]
            rows.extend(sorted(record_rows, key=lambda r: r["start_s"]))
        else:
            s = model.summarize(result.predictions)
            rows.append({**base, "status": "ok", "predicted_modality": s.modality, "modality_p": s.modality_p, "p_af": s.p_af,
                         "label": s.label, "entropy": s.entropy, "mutual_info": s.mutual_info, "shift_score": s.shift_score,
                         "refer": s.refer or result.suspect_fs, "n_windows": s.n_windows, "af_window_fraction": s.af_window_fraction,
                         "decided_by": result.predictions.decided_by,
                         "p_af_network": s.p_af_network, "reference": result.reference, "problems": "; ".join(result.problems)})
        if on_path:
            on_path(i + 1, len(paths))
    frame = pd.DataFrame(rows)
    for column in RECORD_COLUMNS + (("start_s",) if windows else ()):
        if column not in frame:  # e.g. every input rejected: the documented columns are still there
            frame[column] = np.nan
    frame["n_windows"] = frame["n_windows"].astype("Int64")  # whole numbers, empty for rejected inputs
    leading = [c for c in ("record", "path", "status", "given_modality", "predicted_modality", "modality_p", "start_s") if c in frame]
    return frame[leading + [c for c in frame.columns if c not in leading]]
