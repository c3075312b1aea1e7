"""Metrics with bootstrap 95 % confidence intervals (scikit-learn for the metrics themselves).

Windows of one record are not independent, so intervals come from a *cluster*
bootstrap when ``groups`` (record or patient ids) are given: whole groups are
resampled with replacement.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from typing import Callable, Iterator

from scipy.stats import rankdata
from sklearn.metrics import brier_score_loss, f1_score

__all__ = ["Estimate", "BinaryMetrics", "expected_calibration_error", "binary_metrics", "metrics_frame", "reliability", "auroc",
           "cluster_resamples", "cluster_estimate"]


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its bootstrap 95 % interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class BinaryMetrics:
    """AF-vs-SR metrics (AF is the positive class)."""

    n: int
    n_af: int
    accuracy: Estimate
    sensitivity: Estimate
    specificity: Estimate
    balanced_accuracy: Estimate  # (sensitivity + specificity) / 2: accuracy at a 50 % AF prevalence
    f1: Estimate
    auroc: Estimate
    brier: Estimate
    ece: Estimate


def expected_calibration_error(y: np.ndarray, p: np.ndarray, *, n_bins: int = 15) -> float:
    """ECE of p(AF) over ``n_bins`` equal-width bins of the predicted class's confidence (Guo et al. 2017)."""
    y = np.asarray(y)
    p = np.asarray(p, float)
    confidence = np.maximum(p, 1 - p)
    correct = (p >= 0.5).astype(int) == y
    bins = np.minimum((confidence - 0.5) / 0.5 * n_bins, n_bins - 1).astype(int)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def reliability(y: np.ndarray, p: np.ndarray, *, n_bins: int = 10) -> pd.DataFrame:
    """Observed AF frequency per bin of predicted p(AF) (for reliability diagrams)."""
    bins = np.minimum((np.asarray(p) * n_bins).astype(int), n_bins - 1)
    rows = [{"bin_low": b / n_bins, "bin_high": (b + 1) / n_bins, "n": int((bins == b).sum()),
             "mean_p": float(np.mean(p[bins == b])) if (bins == b).any() else np.nan,
             "observed": float(np.mean(y[bins == b])) if (bins == b).any() else np.nan} for b in range(n_bins)]
    return pd.DataFrame(rows)


def auroc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``positive`` (Mann–Whitney, ties averaged); NaN with one class."""
    positive = np.asarray(positive, bool)
    n1 = int(positive.sum())
    n0 = positive.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score, float))
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def cluster_resamples(groups: np.ndarray, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Cluster bootstrap indices: whole groups drawn with replacement, ``n_boot`` times, from ``seed``."""
    rng = np.random.default_rng(seed)
    unique, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(unique)))[:-1])
    for _ in range(n_boot):
        chosen = rng.integers(0, len(unique), len(unique))
        yield np.concatenate([members[g] for g in chosen])


def _interval(point: float, values) -> Estimate:
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    low, high = np.quantile(values, [0.025, 0.975]) if values.size else (np.nan, np.nan)
    return Estimate(float(point), float(low), float(high))


def cluster_estimate(stat: Callable[[np.ndarray], float], groups: np.ndarray, *, n_boot: int, seed: int = 0) -> Estimate:
    """``stat(indices)`` on all items and its cluster-bootstrap 95 % interval (groups resampled whole)."""
    point = float(stat(np.arange(len(groups))))
    return _interval(point, [stat(idx) for idx in cluster_resamples(groups, n_boot, seed)])


def _point(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    pred = (p >= threshold).astype(int)
    pos, neg = y == 1, y == 0
    both = pos.any() and neg.any()
    sensitivity = float(np.mean(pred[pos] == 1)) if pos.any() else np.nan
    specificity = float(np.mean(pred[neg] == 0)) if neg.any() else np.nan
    return {
        "accuracy": float(np.mean(pred == y)),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "balanced_accuracy": (sensitivity + specificity) / 2 if both else np.nan,
        "f1": float(f1_score(y, pred, zero_division=0)),
        "auroc": auroc(pos, p) if both else np.nan,
        "brier": float(brier_score_loss(y, p)) if len(y) else np.nan,
        "ece": expected_calibration_error(y, p),
    }


def binary_metrics(
    y: np.ndarray, p: np.ndarray, *, threshold: float = 0.5, groups: np.ndarray | None = None, n_boot: int = 1000, seed: int = 0
) -> BinaryMetrics:
    """Accuracy, sensitivity, specificity, F1, AUROC, Brier and ECE with (cluster) bootstrap 95 % CIs."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, float)
    point = _point(y, p, threshold)
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    boots = {k: [] for k in point}
    for idx in cluster_resamples(groups, n_boot, seed):
        for k, v in _point(y[idx], p[idx], threshold).items():
            boots[k].append(v)
    estimates = {k: _interval(v, boots[k]) for k, v in point.items()}
    return BinaryMetrics(n=len(y), n_af=int(y.sum()), **estimates)


def metrics_frame(rows: dict[str, BinaryMetrics]) -> pd.DataFrame:
    """One row per named evaluation; each metric as value / low / high columns."""
    records = []
    for name, m in rows.items():
        rec = {"set": name, "n": m.n, "n_af": m.n_af}
        for f in fields(m):
            value = getattr(m, f.name)
            if isinstance(value, Estimate):
                rec[f.name] = value.value
                rec[f"{f.name}_low"] = value.low
                rec[f"{f.name}_high"] = value.high
        records.append(rec)
    return pd.DataFrame(records)
