"""AF episodes from per-window decisions, AF burden, and EC57-style episode metrics.

Everything here is a pure function of arrays of window (or beat-segment)
times and decisions, or of :class:`Episode` lists; times are seconds from the
start of the recording.

Conventions (documented once, used everywhere):

* **Merging** — AF windows separated by at most ``max_gap_s`` of non-AF or
  unanalysable time belong to one episode (default 10 s: a few sinus or
  ectopic beats inside an AF run do not split it).
* **Minimum duration** — after merging, episodes shorter than
  ``min_duration_s`` are dropped (default 30 s, the clinical definition of an
  AF episode in the ESC/HRS guidelines).
* **Overlap** — two episodes overlap when their intersection is longer than
  zero (touching end-to-start does not count). This is the any-overlap rule of
  ANSI/AAMI EC57 (AF detection: episode sensitivity and positive
  predictivity, as computed by the WFDB tool ``epicmp``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ecgshift.record import RhythmInterval

__all__ = [
    "Episode",
    "EpisodeMetrics",
    "episodes_from_windows",
    "episodes_from_intervals",
    "burden",
    "window_burden",
    "covered_fraction",
    "burden_per_hour",
    "episode_metrics",
    "pool_metrics",
]

_DAY_S = 86400.0


@dataclass(frozen=True)
class Episode:
    """One AF episode ``[start_s, end_s)``, with the mean AF probability / uncertainty of its windows if known."""

    start_s: float
    end_s: float
    mean_p_af: float | None = None
    mean_uncertainty: float | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _as_1d(name: str, values, n: int | None = None, dtype=float) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype).reshape(-1)
    if n is not None and arr.size != n:
        raise ValueError(f"{name} has {arr.size} values, expected {n}")
    return arr


def _weighted_means(values: np.ndarray | None, weights: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray | None:
    if values is None:
        return None
    w = np.where(weights > 0, weights, 1e-12)
    num = np.bincount(group, weights=values * w, minlength=n_groups)
    return num / np.bincount(group, weights=w, minlength=n_groups)


def episodes_from_windows(
    start_s: np.ndarray,
    end_s: np.ndarray,
    is_af: np.ndarray,
    *,
    p_af: np.ndarray | None = None,
    uncertainty: np.ndarray | None = None,
    max_gap_s: float = 10.0,
    min_duration_s: float = 30.0,
) -> list[Episode]:
    """Per-window AF decisions → AF episodes.

    Windows must be sorted by ``start_s`` (they may overlap). AF windows whose
    gap to the previous AF window (its start minus the latest end so far) is at
    most ``max_gap_s`` are merged into one episode spanning from the first
    window's start to the last window's end; episodes shorter than
    ``min_duration_s`` are then dropped (merge first, filter second).
    ``mean_p_af`` / ``mean_uncertainty`` are duration-weighted means over the
    episode's AF windows (the bridged gaps do not contribute).
    """
    start = _as_1d("start_s", start_s)
    n = start.size
    end = _as_1d("end_s", end_s, n)
    af = _as_1d("is_af", is_af, n, dtype=bool)
    p = None if p_af is None else _as_1d("p_af", p_af, n)
    u = None if uncertainty is None else _as_1d("uncertainty", uncertainty, n)
    if n and np.any(np.diff(start) < 0):
        raise ValueError("windows must be sorted by start_s")
    if np.any(end < start):
        raise ValueError("every window needs end_s >= start_s")
    idx = np.flatnonzero(af)
    if idx.size == 0:
        return []
    s, e = start[idx], end[idx]
    latest_end = np.maximum.accumulate(e)
    new = np.concatenate([[True], s[1:] - latest_end[:-1] > max_gap_s])
    group = np.cumsum(new) - 1
    n_groups = int(group[-1]) + 1
    ep_start = s[new]
    ep_end = np.maximum.reduceat(e, np.flatnonzero(new))
    weights = e - s
    mean_p = _weighted_means(None if p is None else p[idx], weights, group, n_groups)
    mean_u = _weighted_means(None if u is None else u[idx], weights, group, n_groups)
    out = []
    for k in range(n_groups):
        if ep_end[k] - ep_start[k] >= min_duration_s:
            out.append(
                Episode(
                    float(ep_start[k]),
                    float(ep_end[k]),
                    None if mean_p is None else float(mean_p[k]),
                    None if mean_u is None else float(mean_u[k]),
                )
            )
    return out


def episodes_from_intervals(
    rhythms: Iterable[RhythmInterval],
    *,
    label: str = "AF",
    min_duration_s: float = 0.0,
    max_gap_s: float = 0.0,
) -> list[Episode]:
    """Reference episodes: the rhythm intervals whose harmonized label is ``label``.

    Intervals that touch or are at most ``max_gap_s`` apart are merged (by
    default only touching ones, e.g. two consecutive '(AFIB' annotations);
    episodes shorter than ``min_duration_s`` are then dropped.
    """
    chosen = sorted((r for r in rhythms if r.label == label), key=lambda r: r.start_s)
    if not chosen:
        return []
    start = np.array([r.start_s for r in chosen])
    end = np.array([r.end_s for r in chosen])
    return episodes_from_windows(
        start, end, np.ones(start.size, bool), max_gap_s=max_gap_s, min_duration_s=min_duration_s
    )


def _union(episodes: Sequence[Episode]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, non-overlapping ``(starts, ends)`` covering the same time as ``episodes``."""
    if not episodes:
        return np.zeros(0), np.zeros(0)
    start = np.array([e.start_s for e in episodes], float)
    end = np.array([e.end_s for e in episodes], float)
    order = np.argsort(start, kind="stable")
    start, end = start[order], end[order]
    latest = np.maximum.accumulate(end)
    new = np.concatenate([[True], start[1:] > latest[:-1]])
    first = np.flatnonzero(new)
    return start[first], np.maximum.reduceat(end, first)


def _covered_before(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Time covered by the disjoint sorted intervals ``[start, end)`` before each time ``t``."""
    if start.size == 0:
        return np.zeros_like(np.asarray(t, float))
    knots = np.column_stack([start, end]).ravel()
    cum = np.concatenate([[0.0], np.cumsum(end - start)])
    values = np.column_stack([cum[:-1], cum[1:]]).ravel()
    return np.interp(t, knots, values, left=0.0, right=cum[-1])


def covered_fraction(episodes: Sequence[Episode], start_s: np.ndarray, end_s: np.ndarray) -> np.ndarray:
    """Fraction of each window ``[start_s, end_s)`` covered by ``episodes`` (e.g. a window's reference AF share)."""
    s, e = _union(episodes)
    start, end = _as_1d("start_s", start_s), _as_1d("end_s", end_s)
    covered = _covered_before(s, e, end) - _covered_before(s, e, start)
    return np.divide(covered, end - start, out=np.zeros_like(covered), where=end > start)


def burden(episodes: Sequence[Episode], *, analysable_s: float) -> float:
    """AF burden in percent: time covered by ``episodes`` / ``analysable_s`` × 100 (NaN if nothing is analysable)."""
    start, end = _union(episodes)
    return float(100.0 * np.sum(end - start) / analysable_s) if analysable_s > 0 else float("nan")


def window_burden(start_s: np.ndarray, end_s: np.ndarray, is_af: np.ndarray, analysable: np.ndarray) -> float:
    """AF burden in percent from non-overlapping windows: AF analysable time / analysable time × 100."""
    dur = _as_1d("end_s", end_s) - _as_1d("start_s", start_s)
    ok = _as_1d("analysable", analysable, dur.size, bool)
    total = float(np.sum(dur[ok]))
    af = float(np.sum(dur[ok & _as_1d("is_af", is_af, dur.size, bool)]))
    return 100.0 * af / total if total > 0 else float("nan")


def burden_per_hour(
    start_s: np.ndarray,
    end_s: np.ndarray,
    is_af: np.ndarray,
    analysable: np.ndarray,
    *,
    hour_s: float = 3600.0,
) -> pd.DataFrame:
    """AF burden per clock hour of the recording, from non-overlapping sorted windows.

    Returns a DataFrame with one row per hour ``[k·hour_s, (k+1)·hour_s)`` up to
    the last window's end, columns ``hour`` (k), ``start_s``, ``end_s``,
    ``analysable_s``, ``af_s`` and ``burden_pct`` (= 100·af_s/analysable_s,
    NaN for an hour with no analysable time). A window crossing an hour
    boundary is split in proportion to its time on each side; AF windows that
    are not analysable count for neither numerator nor denominator.
    """
    start = _as_1d("start_s", start_s)
    n = start.size
    end = _as_1d("end_s", end_s, n)
    ok = _as_1d("analysable", analysable, n, bool)
    af = _as_1d("is_af", is_af, n, bool) & ok
    if n and (np.any(np.diff(start) < 0) or np.any(start[1:] < end[:-1] - 1e-9)):
        raise ValueError("windows must be sorted and non-overlapping")
    n_hours = int(np.ceil(end.max() / hour_s)) if n else 0
    edges = np.arange(n_hours + 1) * hour_s
    columns = {}
    for name, mask in (("analysable_s", ok), ("af_s", af)):
        covered = _covered_before(start[mask], end[mask], edges)
        columns[name] = np.diff(covered)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(columns["analysable_s"] > 0, 100.0 * columns["af_s"] / columns["analysable_s"], np.nan)
    return pd.DataFrame(
        {"hour": np.arange(n_hours), "start_s": edges[:-1], "end_s": edges[1:], **columns, "burden_pct": pct}
    )


@dataclass(frozen=True)
class EpisodeMetrics:
    """EC57-style AF episode and duration measures for one recording (or pooled, see :func:`pool_metrics`).

    Ratios are NaN when their denominator is zero (e.g. sensitivity on a record without AF).
    """

    n_reference: int  # reference episodes counted for episode sensitivity
    n_reference_detected: int  # … of which overlapped by ≥ 1 detected episode
    n_detected: int
    n_detected_true: int  # detected episodes overlapping ≥ 1 reference episode
    reference_s: float  # reference AF time (all reference episodes)
    detected_s: float
    overlap_s: float
    total_s: float

    @property
    def episode_sensitivity(self) -> float:
        return self.n_reference_detected / self.n_reference if self.n_reference else float("nan")

    @property
    def episode_ppv(self) -> float:
        return self.n_detected_true / self.n_detected if self.n_detected else float("nan")

    @property
    def duration_sensitivity(self) -> float:
        return self.overlap_s / self.reference_s if self.reference_s > 0 else float("nan")

    @property
    def duration_ppv(self) -> float:
        return self.overlap_s / self.detected_s if self.detected_s > 0 else float("nan")

    @property
    def reference_burden_pct(self) -> float:
        return 100.0 * self.reference_s / self.total_s if self.total_s > 0 else float("nan")

    @property
    def detected_burden_pct(self) -> float:
        return 100.0 * self.detected_s / self.total_s if self.total_s > 0 else float("nan")

    @property
    def burden_error_pct(self) -> float:
        """Absolute burden error in percentage points."""
        return abs(self.detected_burden_pct - self.reference_burden_pct)

    @property
    def false_positive_episodes(self) -> int:
        return self.n_detected - self.n_detected_true

    @property
    def false_positives_per_24h(self) -> float:
        return self.false_positive_episodes * _DAY_S / self.total_s if self.total_s > 0 else float("nan")


def _any_overlap(start: np.ndarray, end: np.ndarray, o_start: np.ndarray, o_end: np.ndarray) -> np.ndarray:
    """For each interval, whether it overlaps (by > 0 s) any of the disjoint sorted ``[o_start, o_end)``."""
    first_after = np.searchsorted(o_end, start, side="right")  # first other ending after our start
    n_before_end = np.searchsorted(o_start, end, side="left")  # others starting before our end
    return n_before_end > first_after


def episode_metrics(
    detected: Sequence[Episode],
    reference: Sequence[Episode],
    *,
    total_s: float,
    min_reference_s: float = 0.0,
) -> EpisodeMetrics:
    """Compare detected with reference AF episodes of one recording (ANSI/AAMI EC57 AF measures).

    * episode sensitivity: fraction of reference episodes overlapped by at
      least one detected episode (any overlap > 0 s); only reference episodes
      of at least ``min_reference_s`` are counted here, e.g. 30 s to score
      against clinically defined episodes only;
    * episode PPV: fraction of detected episodes overlapping at least one
      reference episode (any reference episode, however short);
    * duration sensitivity / PPV: overlap time / reference AF time and overlap
      time / detected AF time (all reference episodes);
    * burdens: reference and detected AF time / ``total_s`` (the recording's
      analysable time), and their absolute difference in percentage points;
    * false-positive episodes (detected, overlapping no reference) per 24 h
      of ``total_s``.

    Overlapping episodes within one list are first merged into their union.
    """
    d_start, d_end = _union(detected)
    r_start, r_end = _union(reference)
    counted = (r_end - r_start) >= min_reference_s
    ref_hit = _any_overlap(r_start[counted], r_end[counted], d_start, d_end)
    det_hit = _any_overlap(d_start, d_end, r_start, r_end)
    overlap = _covered_before(d_start, d_end, r_end) - _covered_before(d_start, d_end, r_start)
    return EpisodeMetrics(
        n_reference=int(counted.sum()),
        n_reference_detected=int(ref_hit.sum()),
        n_detected=int(d_start.size),
        n_detected_true=int(det_hit.sum()),
        reference_s=float(np.sum(r_end - r_start)),
        detected_s=float(np.sum(d_end - d_start)),
        overlap_s=float(np.sum(overlap)),
        total_s=float(total_s),
    )


def pool_metrics(metrics: Sequence[EpisodeMetrics]) -> EpisodeMetrics:
    """Gross (pooled) statistics over recordings: counts and times summed, ratios recomputed from the sums."""
    return EpisodeMetrics(**{f.name: sum(getattr(m, f.name) for m in metrics) for f in fields(EpisodeMetrics)})
