"""Conformal referral: prediction sets for the AF/SR call with a per-class, per-modality guarantee.

Split conformal prediction, Mondrian by modality and class (label-conditional; Vovk et al. 2005, Angelopoulos &
Bates 2021). The nonconformity score of a unit (a tECG record, an rECG record, an hECG 10-s window) for class c
is ``1 − p(c)``, with p(AF) the model's MC-Dropout mean at its temperature (for windows a rhythm fusion decided:
the network's own, ``Predictions.p_af_network``). For each cell (modality, class) the calibration keeps the
sorted scores of the calibration units of that class; at level α the cell's threshold is the
``⌈(n + 1)(1 − α)⌉``-th smallest (``inf`` when that rank exceeds n: the class is always in the set). A unit's set
holds every class whose score is at most its threshold:

* ``{AF}`` / ``{SR}``: one class — accepted;
* ``{AF, SR}``: both — referred, reason ``uncertain``;
* ``∅``: neither — referred, reason ``looks like neither``.

**Guarantee.** If a unit and the calibration units of its (modality, class) cell are exchangeable, its set holds
its true class with probability ≥ 1 − α, for each class separately — so it holds whatever the AF prevalence.
It says nothing about data unlike the calibration set (another device, another population): see
``docs/model-card.md``, "Guarantees", for the measured coverage, under shift too.

:class:`ConformalCalibration` is what a run folder's ``conformal.json`` holds (all α at once: the sorted scores).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift.errors import ModelFileError

__all__ = ["CONFORMAL_FILE", "CONFORMAL_FORMAT", "CLASSES", "UNITS", "REFERRAL_REASONS", "UNCERTAIN", "NEITHER",
           "UNLIKE_TRAINING", "QUALITY", "IMPLAUSIBLE_FS", "ConformalCalibration", "PredictionSets", "BudgetCheck",
           "check_alpha", "check_budget", "fit_conformal", "prediction_sets", "referral_budget", "referral_reasons",
           "score_units", "calibrate_windows", "save_conformal", "load_conformal", "venn_abers"]

CONFORMAL_FILE = "conformal.json"
CONFORMAL_FORMAT = "ecgshift-conformal-1"
#: Classes of the sets, in the order of :attr:`PredictionSets.label` ("AF", "SR", "AF+SR", "none").
CLASSES = ("SR", "AF")
#: The unit each modality is calibrated at — the unit ``ecgshift predict`` reports: a handheld recording (under
#: 5 min) is one call from the mean p(AF) of its half-overlapping windows; a resting ECG is one 10-s window; a
#: Holter's calls are its 10-s windows.
UNITS = {"tecg": "records", "recg": "records", "hecg": "windows"}

#: Referral reasons, one vocabulary (in the order :func:`referral_reasons` lists them).
IMPLAUSIBLE_FS, QUALITY, UNLIKE_TRAINING, NEITHER, UNCERTAIN = ("implausible fs", "quality", "unlike training",
                                                                "looks like neither", "uncertain")
REFERRAL_REASONS = (IMPLAUSIBLE_FS, QUALITY, UNLIKE_TRAINING, NEITHER, UNCERTAIN)
REASON_SEPARATOR = "; "


# --- checks --------------------------------------------------------------------------------------------------


def check_alpha(alpha) -> float:
    """``alpha`` as a float in (0, 1), else a one-line ValueError."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha {alpha!r} is not a number (give a miss rate in (0, 1), e.g. 0.05)") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"alpha {alpha!r} is outside (0, 1) (give a miss rate, e.g. 0.05)")
    return value


def check_budget(max_referral) -> float:
    """``max_referral`` as a float in [0, 1], else a one-line ValueError."""
    try:
        value = float(max_referral)
    except (TypeError, ValueError):
        raise ValueError(f"max referral {max_referral!r} is not a number (give a share of recordings in [0, 1], e.g. 0.1)") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"max referral {max_referral!r} is outside [0, 1] (give a share of recordings, e.g. 0.1)")
    return value


# --- the calibration -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ConformalCalibration:
    """Sorted nonconformity scores (``1 − p(true class)``) per (modality, class) cell.

    ``scores[modality][label]``: ascending float array; ``units[modality]``: what a calibration unit is
    (:data:`UNITS`); ``source``: where the scores came from (e.g. ``"validation splits"``)."""

    scores: dict[str, dict[str, np.ndarray]]
    units: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        for modality, cells in self.scores.items():
            if set(cells) != set(CLASSES):
                raise ValueError(f"conformal cells of {modality} are {sorted(cells)}; expected {list(CLASSES)}")
            for label, s in cells.items():
                s = np.asarray(s, float)
                if s.ndim != 1 or not np.all(np.isfinite(s)) or np.any((s < 0) | (s > 1)):
                    raise ValueError(f"conformal scores of {modality}/{label} must be finite numbers in [0, 1]")
                cells[label] = np.sort(s)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.scores)

    def n(self, modality: str, label: str) -> int:
        return int(self._cell(modality, label).size)

    def _cell(self, modality: str, label: str) -> np.ndarray:
        if modality not in self.scores:
            raise ValueError(f"no conformal calibration for modality {modality!r}; calibrated: {', '.join(self.scores)}")
        return self.scores[modality][label]

    def threshold(self, modality: str, label: str, *, alpha: float) -> float:
        """The cell's score threshold at level ``alpha``: the ⌈(n + 1)(1 − α)⌉-th smallest score, inf if beyond n."""
        alpha = check_alpha(alpha)
        s = self._cell(modality, label)
        rank = math.ceil((s.size + 1) * (1 - alpha) - 1e-12)
        return float(s[rank - 1]) if rank <= s.size else math.inf

    def smallest_alpha(self, modality: str, label: str) -> float:
        """The smallest α at which the cell's threshold is finite (below it the class is always in the set)."""
        return 1.0 / (self.n(modality, label) + 1)

    def table(self) -> pd.DataFrame:
        """One row per cell: modality, class, unit, n."""
        return pd.DataFrame([{"modality": m, "class": c, "unit": self.units.get(m, ""), "n": self.n(m, c)}
                             for m in self.scores for c in ("AF", "SR")])

    def to_dict(self) -> dict:
        return {"format": CONFORMAL_FORMAT, "score": "1 - p(true class)", "source": self.source, "units": dict(self.units),
                "cells": {m: {c: {"n": int(s.size), "scores": [round(float(v), 7) for v in s]} for c, s in cells.items()}
                          for m, cells in self.scores.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> ConformalCalibration:
        if not isinstance(data, dict) or data.get("format") != CONFORMAL_FORMAT:
            raise ValueError(f"not an ecgshift conformal calibration (expected format {CONFORMAL_FORMAT!r})")
        scores = {}
        for modality, cells in dict(data["cells"]).items():
            scores[modality] = {}
            for label, cell in dict(cells).items():
                values = np.asarray(cell["scores"], float)
                if int(cell["n"]) != values.size:
                    raise ValueError(f"{modality}/{label}: n is {cell['n']} but {values.size} scores are stored")
                scores[modality][label] = values
        return cls(scores=scores, units=dict(data.get("units", {})), source=str(data.get("source", "")))


def fit_conformal(p_af, y, modality, *, units: dict[str, str] | None = None, source: str = "") -> ConformalCalibration:
    """The calibration of units with p(AF) ``p_af``, true class ``y`` (1 = AF, 0 = SR) and ``modality`` (one name or
    one per unit). Units with a NaN p(AF) are left out (the product refers them anyway)."""
    p = np.asarray(p_af, float)
    y = np.asarray(y).astype(int)
    modality = np.broadcast_to(np.asarray(modality, dtype=object), p.shape)
    if y.shape != p.shape:
        raise ValueError(f"p_af has {p.size} values, y {y.size}")
    if np.any((y != 0) & (y != 1)):
        raise ValueError("y must be 1 (AF) or 0 (SR)")
    keep = np.isfinite(p)
    scores = {}
    for m in dict.fromkeys(modality[keep]):
        mine = keep & (modality == m)
        scores[str(m)] = {"AF": 1.0 - p[mine & (y == 1)], "SR": p[mine & (y == 0)]}
        for label, s in scores[str(m)].items():
            if s.size == 0:
                raise ValueError(f"no {label} units of {m} to calibrate on")
    units = units if units is not None else {m: UNITS.get(m, "") for m in scores}
    return ConformalCalibration(scores=scores, units={m: units.get(m, "") for m in scores}, source=source)


# --- prediction sets -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PredictionSets:
    """Per unit: whether AF / SR is in its set (bool arrays), at level ``alpha``."""

    af: np.ndarray
    sr: np.ndarray
    alpha: float

    def __len__(self) -> int:
        return int(self.af.size)

    @property
    def size(self) -> np.ndarray:
        return self.af.astype(int) + self.sr.astype(int)

    @property
    def label(self) -> np.ndarray:
        """"AF", "SR", "AF+SR" (uncertain) or "none" (looks like neither) — the CSV vocabulary."""
        return np.where(self.af & self.sr, "AF+SR", np.where(self.af, "AF", np.where(self.sr, "SR", "none")))

    @property
    def uncertain(self) -> np.ndarray:
        return self.af & self.sr

    @property
    def neither(self) -> np.ndarray:
        return ~self.af & ~self.sr

    @property
    def refer(self) -> np.ndarray:
        """Referred by the sets: not exactly one class."""
        return self.size != 1

    def covers(self, y) -> np.ndarray:
        """Per unit: its set holds the true class ``y`` (1 = AF, 0 = SR)."""
        y = np.asarray(y).astype(int)
        return np.where(y == 1, self.af, self.sr)


def prediction_sets(calibration: ConformalCalibration, p_af, modality, *, alpha: float) -> PredictionSets:
    """The sets of units with p(AF) ``p_af`` of ``modality`` (one name, or one per unit) at level ``alpha``.
    A NaN p(AF) gets the empty set (and is referred)."""
    alpha = check_alpha(alpha)
    p = np.atleast_1d(np.asarray(p_af, float))
    modality = np.broadcast_to(np.asarray(modality, dtype=object), p.shape)
    af, sr = np.zeros(p.shape, bool), np.zeros(p.shape, bool)
    finite = np.isfinite(p)
    for m in dict.fromkeys(modality.tolist()):
        mine = (modality == m) & finite
        if not mine.any():
            continue
        af[mine] = 1.0 - p[mine] <= calibration.threshold(str(m), "AF", alpha=alpha)
        sr[mine] = p[mine] <= calibration.threshold(str(m), "SR", alpha=alpha)
    return PredictionSets(af=af, sr=sr, alpha=alpha)


@dataclass(frozen=True)
class BudgetCheck:
    """Whether ``alpha`` and ``max_referral`` hold together on a batch of predictions.

    ``referral_rate``: share the sets refer at ``alpha``; ``holds``: it is within the budget. Otherwise the budget is
    what is broken (the α guarantee holds by construction), by ``excess`` (share points), and ``alpha_fit`` is the
    smallest α whose sets fit the budget (NaN if none does), which guarantees per-class coverage ≥ ``coverage_fit``
    and refers ``referral_rate_fit``."""

    alpha: float
    max_referral: float
    referral_rate: float
    holds: bool
    excess: float
    alpha_fit: float
    coverage_fit: float
    referral_rate_fit: float
    unit: str = "recordings"  # what the shares count, in the text: recordings (predict) or windows (holter)

    @property
    def broken(self) -> str:
        """"" when both hold, else "max_referral"."""
        return "" if self.holds else "max_referral"

    def __str__(self) -> str:
        head = f"at alpha {self.alpha:g} the sets refer {self.referral_rate:.1%} of {self.unit}"
        if self.holds:
            return f"{head}, within the referral budget {self.max_referral:.1%}"
        head += f", over the referral budget {self.max_referral:.1%} by {self.excess * 100:.1f} points"
        if not np.isfinite(self.alpha_fit):
            return head + "; no alpha fits the budget"
        return (head + f"; the budget holds from alpha {self.alpha_fit:.4g} (coverage ≥ {self.coverage_fit:.3f} per class,"
                f" {self.referral_rate_fit:.1%} referred)")


def _candidate_alphas(calibration: ConformalCalibration, modalities) -> np.ndarray:
    """Every α in (0, 1) at which some cell's threshold changes (α = 1 − k / (n + 1)), ascending."""
    out = []
    for m in modalities:
        for label in CLASSES:
            n = calibration.n(m, label)
            out.append(1.0 - np.arange(1, n + 1) / (n + 1))
    return np.unique(np.concatenate(out)) if out else np.zeros(0)


def referral_budget(calibration: ConformalCalibration, p_af, modality, *, alpha: float, max_referral: float,
                    unit: str = "recordings") -> BudgetCheck:
    """Check ``alpha`` against the service's reading capacity ``max_referral`` (share of units) on these predictions
    (no labels needed). When the sets refer more, find the smallest α ≥ ``alpha`` whose sets fit. ``unit``: what the
    units are, for :meth:`BudgetCheck.__str__`."""
    alpha, max_referral = check_alpha(alpha), check_budget(max_referral)
    p = np.atleast_1d(np.asarray(p_af, float))
    if p.size == 0:
        raise ValueError("no predictions to check the referral budget on")
    modality = np.broadcast_to(np.asarray(modality, dtype=object), p.shape)
    rate = float(prediction_sets(calibration, p, modality, alpha=alpha).refer.mean())
    if rate <= max_referral + 1e-12:
        return BudgetCheck(alpha, max_referral, rate, True, 0.0, alpha, 1 - alpha, rate, unit)
    fit, fit_rate = math.nan, math.nan
    for candidate in _candidate_alphas(calibration, dict.fromkeys(modality.tolist())):
        if candidate <= alpha:
            continue
        r = float(prediction_sets(calibration, p, modality, alpha=candidate).refer.mean())
        if r <= max_referral + 1e-12:
            fit, fit_rate = float(candidate), r
            break
    return BudgetCheck(alpha, max_referral, rate, False, rate - max_referral, fit, 1 - fit, fit_rate, unit)


def referral_reasons(*, uncertain=False, neither=False, unlike_training=False, quality=False, implausible_fs=False) -> np.ndarray:
    """Per unit, the referral reasons from its flags (bool arrays or scalars, broadcast), joined by "; " in the
    order of :data:`REFERRAL_REASONS`; "" when nothing refers it. ``uncertain`` / ``neither``: from
    :class:`PredictionSets`; ``unlike_training``: shift score above the run's ``Referral.shift_score``;
    ``quality``: windows excluded by the quality gate; ``implausible_fs``: the sampling rate looks wrong."""
    flags = dict(zip(REFERRAL_REASONS, np.broadcast_arrays(*(np.asarray(v, bool) for v in
                                                             (implausible_fs, quality, unlike_training, neither, uncertain)))))
    shape = next(iter(flags.values())).shape
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(shape):
        out[index] = REASON_SEPARATOR.join(reason for reason, flag in flags.items() if flag[index])
    return out


# --- calibration data ----------------------------------------------------------------------------------------


def score_units(predictions, table: pd.DataFrame, *, modality: str) -> pd.DataFrame:
    """Window predictions (``table``: their ``record_id``, ``label``, ``start_s`` rows) at the calibration unit of
    ``modality`` (:data:`UNITS`): per record the mean p(AF) and the median shift score, or per window.
    Columns: unit, record_id, y (1 AF, 0 SR), p_af, shift_score, predicted_modality; AF and SR rows only."""
    p = predictions.p_af if predictions.p_af_network is None else predictions.p_af_network
    frame = pd.DataFrame({"record_id": table.record_id.astype(str).to_numpy(), "label": table.label.to_numpy(),
                          "p_af": np.asarray(p, float), "shift_score": np.asarray(predictions.shift_score, float),
                          "predicted_modality": np.asarray(predictions.modality, dtype=object)})
    frame = frame[frame.label.isin(CLASSES)]
    if UNITS.get(modality) == "records":
        grouped = frame.groupby("record_id", sort=False)
        out = pd.DataFrame({"unit": list(grouped.groups), "p_af": grouped.p_af.mean().to_numpy(),
                            "shift_score": grouped.shift_score.median().to_numpy(),
                            "y": (grouped.label.first().to_numpy() == "AF").astype(int),
                            "predicted_modality": grouped.predicted_modality.agg(lambda s: s.mode().iloc[0]).to_numpy()})
        out["record_id"] = out["unit"]
    else:
        start = table.start_s.to_numpy(float)[frame.index] if "start_s" in table else np.arange(len(frame))
        out = pd.DataFrame({"unit": frame.record_id.to_numpy() + "@" + pd.Series(start).map("{:g}".format).to_numpy(),
                            "record_id": frame.record_id.to_numpy(), "p_af": frame.p_af.to_numpy(),
                            "shift_score": frame.shift_score.to_numpy(), "y": (frame.label.to_numpy() == "AF").astype(int),
                            "predicted_modality": frame.predicted_modality.to_numpy()})
    return out[["unit", "record_id", "y", "p_af", "shift_score", "predicted_modality"]].reset_index(drop=True)


def calibrate_windows(model, windows: dict, *, mc: int = 20, source: str = "validation splits") -> ConformalCalibration:
    """The conformal calibration of ``model`` from ``windows`` (modality → :class:`~ecgshift.cache.WindowSet` of the
    calibration units, AF and SR, windowed as the product predicts them: tECG half-overlapping)."""
    parts = []
    for modality, ws in windows.items():
        pred = model.predict_windows(np.asarray(ws.x), mc=mc)
        parts.append(score_units(pred, ws.table, modality=modality).assign(modality=modality))
    units = pd.concat(parts, ignore_index=True)
    return fit_conformal(units.p_af.to_numpy(), units.y.to_numpy(), units.modality.to_numpy(), source=source)


def save_conformal(run_dir: str | Path, calibration: ConformalCalibration) -> Path:
    path = Path(run_dir) / CONFORMAL_FILE
    path.write_text(json.dumps(calibration.to_dict(), indent=1) + "\n")
    return path


def load_conformal(run_dir: str | Path) -> ConformalCalibration | None:
    """The run folder's calibration, or None when it has no ``conformal.json`` (runs trained before issue 21);
    a file that is there but unusable is a one-line :class:`ModelFileError`."""
    path = Path(run_dir) / CONFORMAL_FILE
    if not path.exists():
        return None
    try:
        return ConformalCalibration.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(path, f"not valid JSON ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0][:200]
        raise ModelFileError(path, f"invalid conformal calibration: {what}") from None


# --- Venn-ABERS ----------------------------------------------------------------------------------------------


def venn_abers(cal_p, cal_y, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inductive Venn-ABERS (Vovk & Petej 2014): for each test score, isotonic fits of p(AF) on the calibration
    units with the test unit added as SR (→ p0) and as AF (→ p1); returns (p0, p1, p1 / (1 − p0 + p1)), the last a
    single probability (minimal log-loss merge). Valid (p0 ≤ true ≤ p1 in the Venn sense) under exchangeability."""
    from sklearn.isotonic import IsotonicRegression

    cal_p, cal_y, p = np.asarray(cal_p, float), np.asarray(cal_y, float), np.asarray(p, float)
    values, inverse = np.unique(p, return_inverse=True)
    p0, p1 = np.empty(values.size), np.empty(values.size)
    x = np.append(cal_p, 0.0)
    for i, v in enumerate(values):
        x[-1] = v
        for label, out in ((0.0, p0), (1.0, p1)):
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, np.append(cal_y, label))
            out[i] = iso.predict([v])[0]
    p0, p1 = p0[inverse], p1[inverse]
    return p0, p1, p1 / (1.0 - p0 + p1)
