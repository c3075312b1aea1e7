"""Shift score: how far a window's features lie from the training windows' features.

A class-conditional Gaussian with a shared covariance (the Mahalanobis
detector of Lee et al., NeurIPS 2018) is fitted on the features of the unique
training windows; a window's score is its smallest Mahalanobis distance to a
class mean, divided by the 95th percentile of the training windows' own scores
(so 1.0 marks the edge of the training distribution). The covariance is
Ledoit–Wolf shrunk (scikit-learn).

Two such densities are fitted per run: on the AF trunk's features with the AF/SR classes, and on the
modality networks' features with the training modalities as classes. The product's ``shift_score``
is the second: in leave-one-modality-out runs it told an unseen modality from held-out windows of the
trained ones better (mean AUROC 0.831 validation / 0.778 test vs 0.536 / 0.536 on trunk features,
benchmarks/shift.py, docs/results.md) — the AF trunk is trained to be modality-invariant, the
modality networks to tell devices apart. With one modality network (runs before 2026-11-23) it was
0.806 / 0.772; the three-network ensemble's features side by side vary less with the seed.
"""

from __future__ import annotations

import numpy as np
from sklearn.covariance import LedoitWolf

__all__ = ["FeatureDensity"]


class FeatureDensity:
    """``fit(features, labels)`` learns ``means_``, ``precision_``, ``scale_``; ``score(features)`` → shift scores."""

    def __init__(self, *, quantile: float = 0.95) -> None:
        self.quantile = quantile

    def fit(self, features: np.ndarray, labels: np.ndarray) -> "FeatureDensity":
        features = np.asarray(features, np.float64)
        classes = np.unique(labels)
        self.means_ = np.stack([features[labels == c].mean(axis=0) for c in classes])
        centered = np.concatenate([features[labels == c] - m for c, m in zip(classes, self.means_)])
        self.precision_ = LedoitWolf().fit(centered).precision_
        self.scale_ = 1.0
        self.scale_ = float(np.quantile(self.distance(features), self.quantile))
        return self

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Smallest Mahalanobis distance to a class mean."""
        features = np.asarray(features, np.float64)
        out = np.full(features.shape[0], np.inf)
        for mean in self.means_:
            d = features - mean
            out = np.minimum(out, np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, self.precision_, d), 0.0)))
        return out

    def score(self, features: np.ndarray) -> np.ndarray:
        return self.distance(features) / self.scale_

    def to_tensors(self, prefix: str = "density") -> dict[str, np.ndarray]:
        return {f"{prefix}_means": self.means_, f"{prefix}_precision": self.precision_, f"{prefix}_scale": np.array([self.scale_])}

    @classmethod
    def from_tensors(cls, tensors: dict, prefix: str = "density") -> "FeatureDensity | None":
        """The density stored under ``prefix``, or None when the tensors do not hold one."""
        if f"{prefix}_means" not in tensors:
            return None
        density = cls()
        density.means_ = np.asarray(tensors[f"{prefix}_means"], np.float64)
        density.precision_ = np.asarray(tensors[f"{prefix}_precision"], np.float64)
        density.scale_ = float(np.asarray(tensors[f"{prefix}_scale"])[0])
        return density
