"""Scoring a Holter analysis against reference rhythm annotations: windows, episodes, burden."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ecgshift.rhythm.burden import AFTime, reference_class
from ecgshift.rhythm.episodes import Episode, EpisodeMetrics, episode_metrics, window_burden

__all__ = ["HolterEvaluation", "evaluate_reference"]


@dataclass(frozen=True)
class HolterEvaluation:
    """Against reference rhythm annotations: windows AF (≥ 90 % annotated AF) vs non-AF (≤ 10 %), analysable only.

    Windows in between are ``n_mixed`` and not scored. ``reference_class`` / ``detected_class``: the record classes of
    :mod:`ecgshift.rhythm.burden` (CPSC 2021: non-AF, persistent AF, paroxysmal AF). Episode measures: :func:`ecgshift.rhythm.episodes.episode_metrics`
    (reference episodes ≥ ``min_duration_s`` count for episode sensitivity). Burdens are over analysable time.
    """

    n_af_windows: int
    n_non_af_windows: int
    n_mixed_windows: int
    window_sensitivity: float
    window_specificity: float
    episodes: EpisodeMetrics
    reference_burden_pct: float
    detected_burden_pct: float
    reference_class: str = ""
    detected_class: str = ""

    @property
    def burden_error_pct(self) -> float:
        return abs(self.detected_burden_pct - self.reference_burden_pct)


def evaluate_reference(windows: pd.DataFrame, detected: list[Episode], reference: list[Episode], *,
                       af_threshold: float = 0.9, min_reference_s: float = 30.0, af: AFTime | None = None,
                       duration_s: float | None = None) -> HolterEvaluation:
    """Score windows (columns ``quality``, ``is_af``, ``in_episode``, ``ref_af_fraction``, ``start_s``, ``end_s``)
    and detected episodes against reference episodes. ``af``: the recording's AF time (:func:`ecgshift.rhythm.burden.af_time`),
    whose burden and record class are scored (without it: the time of windows in episodes, no class);
    ``duration_s``: the recording's, for the reference class."""
    ok = windows["quality"].to_numpy() == "ok"
    frac = windows["ref_af_fraction"].to_numpy(float)
    is_af = windows["is_af"].to_numpy(bool)
    ref_af, ref_non = ok & (frac >= af_threshold), ok & (frac <= 1.0 - af_threshold)
    dur, nan = (windows["end_s"] - windows["start_s"]).to_numpy(float), float("nan")
    analysable_s = float(dur[ok].sum())
    return HolterEvaluation(
        n_af_windows=int(ref_af.sum()), n_non_af_windows=int(ref_non.sum()), n_mixed_windows=int((ok & ~ref_af & ~ref_non).sum()),
        window_sensitivity=float(is_af[ref_af].mean()) if ref_af.any() else nan,
        window_specificity=float(1.0 - is_af[ref_non].mean()) if ref_non.any() else nan,
        episodes=episode_metrics(detected, reference, total_s=analysable_s, min_reference_s=min_reference_s),
        reference_burden_pct=100.0 * float((frac * dur)[ok].sum()) / analysable_s if analysable_s > 0 else nan,
        detected_burden_pct=window_burden(windows["start_s"], windows["end_s"], windows["in_episode"], ok) if af is None else af.burden_pct,
        reference_class=reference_class(reference, duration_s=duration_s if duration_s is not None else float(windows["end_s"].max()),
                                        min_duration_s=min_reference_s),
        detected_class="" if af is None else af.record_class,
    )
