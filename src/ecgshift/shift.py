"""Shift score: how far a window's trunk features lie from the training windows' features.

A class-conditional Gaussian with a shared covariance (the Mahalanobis
detector of Lee et al., NeurIPS 2018) is fitted on the features of the unique
training windows; a window's score is its smallest Mahalanobis distance to a
class mean, divided by the 95th percentile of the training windows' own scores
(so 1.0 marks the edge of the training distribution). The covariance is
Ledoit–Wolf shrunk (scikit-learn).
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

    def to_tensors(self) -> dict[str, np.ndarray]:
        return {"density_means": self.means_, "density_precision": self.precision_, "density_scale": np.array([self.scale_])}

    @classmethod
    def from_tensors(cls, tensors: dict) -> "FeatureDensity":
        density = cls()
        density.means_ = np.asarray(tensors["density_means"], np.float64)
        density.precision_ = np.asarray(tensors["density_precision"], np.float64)
        density.scale_ = float(np.asarray(tensors["density_scale"])[0])
        return density
