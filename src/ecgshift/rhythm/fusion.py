"""Rhythm evidence beside the network: R-peaks → ectopic beats by morphology → RR features per window,
and a fused AF probability (:class:`RhythmFusion`) for the Holter pipeline.

Why: on MIT-BIH records the network calls sinus rhythm with frequent ectopy (215, 200) or flutter
(203, 222) AF with high confidence, so the review-only RR override cannot catch it. Ectopic beats make
the RR series irregular, but they also look different: a beat whose QRS does not match the median
QRS of its neighbours is labelled ectopic ('V') and the intervals next to it are dropped, which
leaves the normal-to-normal (NN) series regular in sinus rhythm with ectopy and irregular in AF
(whose conducted beats share one morphology). The fused probability is a logistic regression on the
network's logit p(AF), the RR features of all beats and of the NN series (:data:`ecgshift.rhythm.rr.FEATURE_NAMES`)
and the share of ectopic beats; it is fitted on validation predictions (see
``benchmarks/holter_cv.py --write-fusion``) and shipped as ``assets/holter_fusion.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from ecgshift.record import Beats
from ecgshift.rhythm.rr import FEATURE_NAMES, RRAFDetector, detect_rpeaks, rr_features, rr_intervals, transform_features

__all__ = ["RHYTHM_FEATURES", "RhythmEvidence", "RhythmFusion", "label_ectopic", "rhythm_evidence", "window_rhythm_features",
           "default_fusion", "load_fusion"]

#: Per-window rhythm columns: RR features of all beats (``rr_*``), of the NN series (``nn_*``), the
#: share of ectopic beats, the number of beats, and the literature rule's p(AF) on all beats.
RHYTHM_FEATURES = (*(f"rr_{n}" for n in FEATURE_NAMES), *(f"nn_{n}" for n in FEATURE_NAMES), "ectopic_fraction", "n_beats", "rr_p_af")
_FUSION_FILE = "holter_fusion.json"


def label_ectopic(signal_1d: np.ndarray, peaks: np.ndarray, fs: float, *, min_corr: float = 0.85,
                  amplitude_range: tuple[float, float] = (0.6, 1.6), neighbours: int = 30,
                  qrs_s: tuple[float, float] = (0.08, 0.12)) -> np.ndarray:
    """'V' for beats whose QRS (``qrs_s`` before / after the peak) differs from the median beat of the
    ``neighbours`` beats on each side (Pearson correlation < ``min_corr`` or peak-to-peak amplitude
    ratio outside ``amplitude_range``), 'N' otherwise. Beats too close to the edges are 'N'.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    symbols = np.full(peaks.size, "N", dtype=object)
    a, b = int(round(qrs_s[0] * fs)), int(round(qrs_s[1] * fs))
    inside = (peaks - a >= 0) & (peaks + b < len(signal_1d))
    if inside.sum() < 3:
        return symbols
    seg = np.asarray(signal_1d, dtype=float)[peaks[inside][:, None] + np.arange(-a, b)[None, :]]
    seg -= seg.mean(axis=1, keepdims=True)
    n, width = len(seg), 2 * neighbours + 1
    padded = np.concatenate([np.repeat(seg[:1], neighbours, 0), seg, np.repeat(seg[-1:], neighbours, 0)])
    corr, ratio = np.empty(n), np.empty(n)
    for lo in range(0, n, 4096):  # bounded memory: (block, width, samples)
        hi = min(n, lo + 4096)
        template = np.median(sliding_window_view(padded[lo:hi + width - 1], width, axis=0), axis=2)
        s = seg[lo:hi]
        den = np.linalg.norm(s, axis=1) * np.linalg.norm(template, axis=1)
        corr[lo:hi] = np.divide(np.sum(s * template, axis=1), den, out=np.ones(hi - lo), where=den > 0)
        ratio[lo:hi] = np.ptp(s, axis=1) / np.maximum(np.ptp(template, axis=1), 1e-6)
    ectopic = (corr < min_corr) | (ratio < amplitude_range[0]) | (ratio > amplitude_range[1])
    symbols[np.flatnonzero(inside)[ectopic]] = "V"
    return symbols


def _per_window(seg_start: np.ndarray, seg_end: np.ndarray, values: np.ndarray, weight: np.ndarray,
                starts: np.ndarray, window_s: float) -> np.ndarray:
    """Overlap-weighted mean of segment ``values`` (n_seg, k) over each window; NaN without overlap."""
    overlap = np.clip(np.minimum(seg_end[None], starts[:, None] + window_s) - np.maximum(seg_start[None], starts[:, None]), 0, None)
    overlap = overlap * weight[None]
    total = overlap.sum(axis=1, keepdims=True)
    out = overlap @ np.nan_to_num(values) / np.where(total > 0, total, 1.0)
    out[total[:, 0] <= 0] = np.nan
    return out


@dataclass(frozen=True, eq=False)
class RhythmEvidence:
    """Rhythm evidence of a stretch of signal: :data:`RHYTHM_FEATURES` per window, the R-peak times (s) found, and
    those of them labelled ectopic (:func:`label_ectopic`)."""

    features: pd.DataFrame
    beats_s: np.ndarray
    ectopic_s: np.ndarray


def window_rhythm_features(signal_1d: np.ndarray, fs: float, starts: np.ndarray, *, window_s: float,
                           signal_start_s: float = 0.0, rpeak_method: str = "neurokit") -> pd.DataFrame:
    """:data:`RHYTHM_FEATURES` for windows starting at ``starts`` (s, same clock as ``signal_start_s``): the
    ``features`` of :func:`rhythm_evidence`."""
    return rhythm_evidence(signal_1d, fs, starts, window_s=window_s, signal_start_s=signal_start_s, rpeak_method=rpeak_method).features


def rhythm_evidence(signal_1d: np.ndarray, fs: float, starts: np.ndarray, *, window_s: float,
                    signal_start_s: float = 0.0, rpeak_method: str = "neurokit") -> RhythmEvidence:
    """:data:`RHYTHM_FEATURES` for windows starting at ``starts`` (s, same clock as ``signal_start_s``), and the R-peaks.

    R-peaks are detected once over the whole signal (give it context around the windows: the RR
    features describe ~64 beats centred on each 16-beat segment); each window gets the overlap-weighted
    mean of the analysable segments it overlaps (NaN when none).
    """
    starts = np.asarray(starts, dtype=float)
    x = np.nan_to_num(np.asarray(signal_1d, dtype=float))
    peaks = detect_rpeaks(x, fs, method=rpeak_method)
    out = pd.DataFrame({name: np.full(starts.size, np.nan) for name in RHYTHM_FEATURES})
    t = peaks / fs + signal_start_s
    first, last = np.searchsorted(t, starts), np.searchsorted(t, starts + window_s)  # beats [first, last) in each window
    out["n_beats"] = last - first
    if peaks.size < 3:
        return RhythmEvidence(out, t, t[:0])
    symbols = label_ectopic(x, peaks, fs)
    ectopic = np.cumsum(np.concatenate([[0], symbols == "V"]))
    out["ectopic_fraction"] = np.where(last > first, (ectopic[last] - ectopic[first]) / np.maximum(last - first, 1), np.nan)
    rule = RRAFDetector()
    for prefix, sym in (("rr", np.full(peaks.size, "N")), ("nn", symbols)):
        feats = rr_features(rr_intervals(Beats(sample=peaks, symbol=sym, fs=fs), normal_only=True))
        if not len(feats):
            continue
        values = feats.values if prefix == "nn" else np.column_stack([feats.values, rule.predict_proba(feats)[:, 1]])
        names = [f"{prefix}_{n}" for n in FEATURE_NAMES] + (["rr_p_af"] if prefix == "rr" else [])
        out[names] = _per_window(feats.start_s + signal_start_s, feats.end_s + signal_start_s, values,
                                 feats.analysable.astype(float), starts, window_s)
    return RhythmEvidence(out, t, t[symbols == "V"])


def _design(p_af: np.ndarray, features: pd.DataFrame) -> np.ndarray:
    """Inputs of the fusion: logit p(AF); log nRMSSD, |TPR - 2/3|, Shannon entropy, log MADSD for all
    beats and for the NN series (0 where missing, plus a missing indicator each); ectopic share."""
    p = np.clip(np.asarray(p_af, dtype=float), 1e-4, 1 - 1e-4)
    cols = [np.log(p / (1 - p))]
    for prefix in ("rr", "nn"):
        v = features[[f"{prefix}_{n}" for n in FEATURE_NAMES]].to_numpy(float)
        missing = ~np.all(np.isfinite(v), axis=1)
        v = transform_features(v)
        v[missing] = 0.0
        cols += [v, missing[:, None].astype(float)]
    cols.append(np.nan_to_num(features["ectopic_fraction"].to_numpy(float))[:, None])
    return np.column_stack(cols)


class RhythmFusion:
    """Logistic regression fusing the network's p(AF) with the rhythm features (scikit-learn style).

    ``fit`` standardizes the inputs of :func:`_design` and learns class-balanced weights (inverse
    regularization ``C``); learned attributes end in ``_``. ``predict_proba`` returns the fused p(AF);
    windows are AF when it is ≥ ``threshold``.
    """

    def __init__(self, *, C: float = 1.0, threshold: float = 0.5) -> None:
        self.C = C
        self.threshold = threshold

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "coef_")

    def fit(self, p_af: np.ndarray, features: pd.DataFrame, is_af: np.ndarray) -> "RhythmFusion":
        from sklearn.linear_model import LogisticRegression

        z = _design(p_af, features)
        self.mean_, self.scale_ = z.mean(axis=0), z.std(axis=0) + 1e-9
        clf = LogisticRegression(C=self.C, class_weight="balanced", max_iter=5000)
        clf.fit((z - self.mean_) / self.scale_, np.asarray(is_af, dtype=bool))
        self.coef_, self.intercept_ = clf.coef_.ravel().copy(), float(clf.intercept_[0])
        self.n_train_ = int(len(z))
        return self

    def predict_proba(self, p_af: np.ndarray, features: pd.DataFrame) -> np.ndarray:
        """Fused p(AF) per window (1-d)."""
        if not self.is_fitted:
            raise ValueError("RhythmFusion is not fitted")
        z = (_design(p_af, features) - self.mean_) / self.scale_
        return 1.0 / (1.0 + np.exp(-np.clip(z @ self.coef_ + self.intercept_, -50, 50)))

    def to_dict(self) -> dict:
        return {"C": self.C, "threshold": self.threshold, "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "coef": self.coef_.tolist(), "intercept": self.intercept_, "n_train": self.n_train_}

    @classmethod
    def from_dict(cls, d: dict) -> "RhythmFusion":
        fusion = cls(C=float(d["C"]), threshold=float(d["threshold"]))
        fusion.mean_, fusion.scale_ = np.asarray(d["mean"], float), np.asarray(d["scale"], float)
        fusion.coef_, fusion.intercept_ = np.asarray(d["coef"], float), float(d["intercept"])
        fusion.n_train_ = int(d.get("n_train", 0))
        if not fusion.mean_.shape == fusion.scale_.shape == fusion.coef_.shape:
            raise ValueError("fusion parameters have inconsistent shapes")
        return fusion

    def save(self, path: str | Path, **provenance) -> None:
        Path(path).write_text(json.dumps({**self.to_dict(), **provenance}, indent=1) + "\n")


def load_fusion(path: str | Path) -> RhythmFusion:
    return RhythmFusion.from_dict(json.loads(Path(path).read_text()))


def default_fusion() -> RhythmFusion | None:
    """The shipped fusion (``assets/holter_fusion.json``), or None when the package has none."""
    from ecgshift.assets import asset_path

    path = asset_path(_FUSION_FILE)
    return load_fusion(path) if path.exists() else None
