"""Batch prediction over files and folders: every input accounted for (done, or rejected with a reason).

Each recording goes through :func:`ecgshift.pipeline.analyse` — the pipeline of the Python API and of
``ecgshift holter`` — and becomes one row (one per window with ``windows=True``); statuses are those of
:mod:`ecgshift.status`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from ecgshift import io
from ecgshift.clock import clock_text
from ecgshift.errors import BadInputError
from ecgshift.pipeline import RHYTHM_CONTEXT_S, RHYTHM_MIN_S, Analysis, PipelineConfig, analyse
from ecgshift.rhythm.fusion import RhythmFusion
from ecgshift.status import DONE, ERROR, EXCLUDED, REJECTED, join_problems, status
from ecgshift.uncertainty import Predictions
from ecgshift.windows import rhythm_labels

__all__ = ["collect_inputs", "predict_path", "predict_paths", "PathPrediction", "RECORD_COLUMNS", "RHYTHM_MIN_S", "RHYTHM_CONTEXT_S"]

RECORD_COLUMNS = ("record", "path", "status", "given_modality", "predicted_modality", "modality_share", "p_af", "label",
                  "label_rule", "entropy", "mutual_info", "shift_score", "refer", "n_windows", "af_window_fraction", "decided_by",
                  "p_af_network", "af_burden_pct", "af_burden_low_pct", "af_burden_high_pct", "burden_text", "n_episodes",
                  "longest_episode_s", "n_short_af_runs", "record_class", "reference", "problems", "start_time", "implausible_fs",
                  "n_excluded")
#: Columns added with a conformal level (``predict_paths(..., alpha=)``, ``ecgshift predict --alpha``).
CONFORMAL_COLUMNS = ("alpha", "conformal_set", "referral_reason")


def collect_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Recordings named by files and folders (folders searched recursively; manifest.csv is not a recording).

    A path that does not exist is kept, so it is reported as rejected rather than dropped.
    """
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.name != "manifest.csv" and io.stands_for_recording(p))
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
    """One input's outcome: its :class:`~ecgshift.pipeline.Analysis`, or the error that rejected it (``status``)."""

    path: Path
    status: str
    analysis: Analysis | None = None
    error: BadInputError | None = None

    @property
    def predictions(self) -> Predictions | None:
        return None if self.analysis is None else self.analysis.predictions

    @property
    def problems(self) -> tuple[str, ...]:
        return () if self.analysis is None else self.analysis.problems

    @property
    def suspect_fs(self) -> bool:
        return self.analysis is not None and self.analysis.suspect_fs

    @property
    def excluded(self) -> pd.DataFrame:
        """The windows not analysed: ``start_s`` and ``quality`` (their reason)."""
        if self.analysis is None:
            return pd.DataFrame({"start_s": [], "quality": []})
        w = self.analysis.windows
        return w.loc[w.quality != "ok", ["start_s", "quality"]]

    @property
    def reference(self) -> str:
        """The file's own label, or the share of its windows annotated AF (90 % rule), '' without either."""
        if self.analysis is None:
            return ""
        a = self.analysis
        if a.rhythms:
            labels, _ = rhythm_labels(a.rhythms, a.windows.start_s.to_numpy(float), config=a.harmonize)
            return f"AF {np.mean(labels == 'AF'):.0%} of windows"
        return a.label or ""


def predict_path(model, path: Path, *, config: PipelineConfig = PipelineConfig(), fs: float | None = None,
                 fusion: RhythmFusion | None = None, mc: int | None = None) -> PathPrediction:
    """One recording through :func:`ecgshift.pipeline.analyse` (with ``fusion``: recordings of at least
    :data:`RHYTHM_MIN_S` decided by it); a bad file gives its one-line reason, an unexpected failure an ``error:`` status
    — the batch goes on either way. ``mc``: shorthand for ``config``'s MC Dropout passes."""
    if mc is not None:
        config = replace(config, mc=mc)
    try:
        return PathPrediction(path, DONE, analyse(path, model=model, config=config, fusion=fusion, fs=fs))
    except BadInputError as exc:
        return PathPrediction(path, status(REJECTED, exc.reason_for(path)), error=exc)
    except (OSError, MemoryError) as exc:  # e.g. permission denied deep inside a reader
        return PathPrediction(path, status(REJECTED, f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError) else "out of memory"))
    except Exception as exc:  # noqa: BLE001 — a bug or an unforeseen input: reported, and the batch goes on
        return PathPrediction(path, status(ERROR, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"))


def predict_paths(
    model,
    paths: list[Path],
    *,
    config: PipelineConfig = PipelineConfig(),
    fs: float | None = None,
    given_modality: str | dict[str, str] = "unknown",
    windows: bool = False,
    fusion: RhythmFusion | None = None,
    on_path: Callable[[int, int], None] | None = None,
    mc: int | None = None,
    on_result: Callable[[PathPrediction], None] | None = None,
) -> pd.DataFrame:
    """One row per record (or per window with ``windows=True``); rejected inputs get a ``rejected: …`` status row.
    ``mc``: shorthand for ``config``'s MC Dropout passes. ``start_time``: the clock time of the recording's start (of
    the window's with ``windows=True``), ISO 8601, empty when the file states none (:mod:`ecgshift.clock`).
    ``on_result(prediction)`` sees every input's :class:`PathPrediction` (e.g. to write a report of it)."""
    if mc is not None:
        config = replace(config, mc=mc)
    rows = []
    for i, path in enumerate(paths):
        given = given_modality.get(str(path), "unknown") if isinstance(given_modality, dict) else given_modality
        result = predict_path(model, path, config=config, fs=fs, fusion=fusion)
        if on_result:
            on_result(result)
        base = {"record": path.stem, "path": str(path), "given_modality": given}
        if result.analysis is None:
            rows.append({**base, "status": result.status})
        elif windows:
            rows.extend(_window_rows(result, base))
        else:
            rows.append(_record_row(model, result, base))
        if on_path:
            on_path(i + 1, len(paths))
    frame = pd.DataFrame(rows)
    for column in RECORD_COLUMNS + (("start_s",) if windows else ()):
        if column not in frame:  # e.g. every input rejected: the documented columns are still there
            frame[column] = np.nan
    frame["n_windows"] = frame["n_windows"].astype("Int64")  # whole numbers, empty for rejected inputs
    leading = [c for c in ("record", "path", "status", "given_modality", "predicted_modality", "modality_share", "start_s", "start_time") if c in frame]
    return frame[leading + [c for c in frame.columns if c not in leading]]


def _record_row(model, result: PathPrediction, base: dict) -> dict:
    s = model.summarize(result.analysis)  # with the AF time figures; recordings ≥ RHYTHM_MIN_S labelled by their episodes
    return {**base, "status": DONE, "predicted_modality": s.modality, "modality_share": s.modality_share, "p_af": s.p_af,
            "label": s.label, "label_rule": s.label_rule, "af_burden_pct": s.af_burden_pct, "af_burden_low_pct": s.af_burden_low_pct,
            "af_burden_high_pct": s.af_burden_high_pct, "burden_text": s.burden_text, "n_episodes": s.n_episodes,
            "longest_episode_s": s.longest_episode_s, "n_short_af_runs": s.n_short_af_runs, "record_class": s.record_class,
            "entropy": s.entropy, "mutual_info": s.mutual_info, "shift_score": s.shift_score,
            "refer": s.refer or result.suspect_fs, "n_windows": s.n_windows, "af_window_fraction": s.af_window_fraction,
            "decided_by": result.analysis.decided_by, "p_af_network": s.p_af_network, "reference": result.reference,
            "problems": join_problems(result.problems), "start_time": clock_text(result.analysis.start_time),
            "implausible_fs": result.suspect_fs, "n_excluded": len(result.excluded)}


def conformal_inputs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per record row: the modality whose conformal cells apply (the given one, else the predicted one) and the p(AF)
    they were calibrated on (the network's, ``p_af_network``, where a fusion decided; else ``p_af``)."""
    given = frame["given_modality"].astype(str)
    modality = given.where(given.isin(["tecg", "recg", "hecg"]), frame["predicted_modality"].astype(str)).to_numpy()
    p = pd.to_numeric(frame["p_af_network"], errors="coerce").to_numpy(float)
    return modality, np.where(np.isfinite(p), p, pd.to_numeric(frame["p_af"], errors="coerce").to_numpy(float))


def add_conformal(frame: pd.DataFrame, model, *, alpha: float) -> pd.DataFrame:
    """``frame`` (record rows of :func:`predict_paths`) with :data:`CONFORMAL_COLUMNS` (:mod:`ecgshift.conformal`): the
    prediction set of each recording under 5 min at level ``alpha`` in its modality's cells (the given modality, else the
    predicted one) from the network's p(AF), and the referral reasons of every done recording. Recordings of 5 min or more
    are labelled by their episodes (the set is not used: ``conformal_set`` empty, reasons without ``uncertain``)."""
    from ecgshift.conformal import check_alpha, prediction_sets, referral_reasons

    alpha = check_alpha(alpha)
    out = frame.copy()
    done = (out["status"] == DONE).to_numpy()
    short = done & (out["decided_by"].astype(str) != "network+rhythm").to_numpy()
    modality, p = conformal_inputs(out)
    labels = np.full(len(out), "", dtype=object)
    uncertain, neither = np.zeros(len(out), bool), np.zeros(len(out), bool)
    if short.any():
        sets = prediction_sets(model.conformal, p[short], modality[short], alpha=alpha)
        labels[short], uncertain[short], neither[short] = sets.label, sets.uncertain, sets.neither
    reasons = referral_reasons(uncertain=uncertain, neither=neither,
                               unlike_training=pd.to_numeric(out["shift_score"], errors="coerce").to_numpy(float) > model.referral.shift_score,
                               quality=pd.to_numeric(out["n_excluded"], errors="coerce").fillna(0).to_numpy() > 0,
                               implausible_fs=out["implausible_fs"].fillna(False).astype(bool).to_numpy())
    out["alpha"] = np.where(done, alpha, np.nan)
    out["conformal_set"] = labels
    out["referral_reason"] = np.where(done, reasons, "")
    return out


def conformal_of(model, result: PathPrediction, *, alpha: float, given_modality: str = "unknown") -> tuple[str, str]:
    """One recording's conformal set label and referral reasons at level ``alpha``: its record row through
    :func:`add_conformal` (the rule of ``ecgshift predict --alpha``, used by the per-recording report)."""
    base = {"record": Path(result.path).stem, "path": str(result.path), "given_modality": given_modality}
    row = _record_row(model, result, base) if result.analysis is not None else {**base, "status": result.status}
    frame = add_conformal(pd.DataFrame([row]).reindex(columns=list(dict.fromkeys([*row, *RECORD_COLUMNS]))), model, alpha=alpha)
    return str(frame["conformal_set"].iloc[0]), str(frame["referral_reason"].iloc[0])


def _window_rows(result: PathPrediction, base: dict) -> list[dict]:
    predictions, reference, start_time = result.predictions, result.reference, result.analysis.start_time
    rows = [{**base, "status": DONE, "predicted_modality": row.pop("modality"), **row, "n_windows": 1,
             "decided_by": predictions.decided_by, "reference": reference, "problems": join_problems(result.problems),
             "start_time": clock_text(start_time, row["start_s"])}
            for row in predictions.to_frame().to_dict("records")]
    rows += [{**base, "status": status(EXCLUDED, reason), "start_s": float(start), "n_windows": 0, "reference": reference,
              "start_time": clock_text(start_time, start)}
             for start, reason in zip(result.excluded.start_s, result.excluded.quality)]
    return sorted(rows, key=lambda r: r["start_s"])
