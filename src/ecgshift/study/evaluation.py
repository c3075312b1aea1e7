"""Evaluation of the modality-mix sweep: one cell (a run) on every modality's test windows, and groups of cells.

One cell's evaluation (:func:`evaluate_cell`):

- per test modality: accuracy, sensitivity, specificity, F1, AUROC, Brier and ECE of the calibrated
  probabilities (the run's temperature, fitted on validation by :func:`ecgshift.training.fit`), Brier
  and ECE before calibration (T = 1), mean entropy and mean mutual information — each with a cluster
  bootstrap 95 % CI over records (the "before" figures use the same resamples as the "after" ones);
- shift detection: AUROC of mutual information, entropy and the shift score for telling test windows
  of a modality ABSENT from the training mix from windows of the modalities PRESENT;
- other rhythms and noise: AUROC of the same scores for telling CinC 2017 'other' / 'noisy' test
  windows from its AF / SR test windows;
- selective prediction: risk (error rate among the windows kept) against coverage as the most
  uncertain windows are referred, and its area (AURC).

Probabilities come from the fast MC path (trunk once, dropout head ``mc`` times) and the
deterministic pass; cells flagged ``full_mc`` also run full MC Dropout (the whole network ``mc``
times) on a fixed subsample of test windows. :func:`compare_methods` then sets full MC, fast MC, the
deterministic pass and a deep ensemble (the K seeds' runs of the same mix) side by side on that
subsample. Two-class probabilities at temperature T are ``sigmoid(logit(p) / T)``, so the passes
are run once at T = 1 and rescaled.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ecgshift.cache import WindowSet
from ecgshift.evaluation import Estimate, auroc, binary_metrics, cluster_estimate, expected_calibration_error
from ecgshift.inference import mc_passes
from ecgshift.network import MODALITY_CLASSES
from ecgshift.uncertainty import entropy, summarize_samples

__all__ = [
    "SCORES", "METRICS", "COVERAGES", "TestData", "CellEvaluation", "auroc", "cluster_estimate",
    "risk_coverage", "predict_cell", "modality_metrics", "shift_detection", "ood_detection",
    "evaluate_cell", "ensemble_frame", "compare_methods", "collect_tables",
]

#: Uncertainty scores compared for shift and out-of-distribution detection.
SCORES = ("mutual_info", "entropy", "shift_score")
#: Metrics of :func:`ecgshift.evaluation.binary_metrics`, in its order.
METRICS = ("accuracy", "sensitivity", "specificity", "balanced_accuracy", "f1", "auroc", "brier", "ece")
#: Coverages at which risk–coverage curves are tabulated.
COVERAGES = np.round(np.linspace(1.0, 0.05, 20), 3)


@dataclass(frozen=True, eq=False)
class TestData:
    """What a cell is evaluated on: AF/SR test windows per modality, CinC 2017 'other'/'noisy' test
    windows (``ood``), and per modality the positions of the fixed full-MC subsample."""

    windows: dict[str, WindowSet]
    ood: WindowSet
    full_mc_index: dict[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class CellEvaluation:
    """Per-window predictions and the tables derived from them (one cell)."""

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    shift: pd.DataFrame
    ood: pd.DataFrame
    risk_coverage: pd.DataFrame


# ---------------------------------------------------------------- statistics

def risk_coverage(correct: np.ndarray, uncertainty: np.ndarray, *, coverages: np.ndarray = COVERAGES) -> tuple[np.ndarray, float]:
    """Risk (error rate of the kept windows) at each coverage when the most uncertain are referred; and AURC
    (the mean risk over all n coverages k/n, Geifman et al. 2019)."""
    correct = np.asarray(correct, bool)
    n = correct.size
    if n == 0:
        return np.full(len(coverages), np.nan), float("nan")
    order = np.argsort(np.asarray(uncertainty, float), kind="stable")
    risk = np.cumsum(~correct[order]) / np.arange(1, n + 1)
    keep = np.clip(np.round(np.asarray(coverages) * n).astype(int), 1, n)
    return risk[keep - 1], float(risk.mean())


def _scale(samples: np.ndarray, temperature: float) -> np.ndarray:
    """Two-class probabilities (…, 2) at temperature T: sigmoid(logit / T)."""
    p = np.asarray(samples, np.float64)
    logit = np.log(np.maximum(p[..., 1], 1e-300)) - np.log(np.maximum(p[..., 0], 1e-300))
    af = 1.0 / (1.0 + np.exp(-logit / temperature))
    return np.stack([1.0 - af, af], axis=-1)


def _two_class(p_af: np.ndarray) -> np.ndarray:
    return np.stack([1.0 - p_af, p_af], axis=-1)


# ---------------------------------------------------------------- one cell

def _mc(model, x: np.ndarray, *, mc: int, fast: bool) -> tuple[dict[str, np.ndarray], object]:
    passes = mc_passes(model.net, x, mc=max(2, mc), mc_scope="head" if fast else "full", temperature=1.0)
    stats = summarize_samples(_scale(passes.samples, model.temperature))
    out = {"p_uncal": passes.samples.mean(0)[:, 1].astype(float), "p_af": stats.p_af, "entropy": stats.entropy, "mutual_info": stats.mutual_info}
    return out, passes


def predict_cell(model, data: TestData, *, mc: int, full_mc: bool) -> pd.DataFrame:
    """One row per test window (AF/SR of every modality, and CinC 'other'/'noisy'): label, y (1 AF, 0 SR,
    −1 other/noisy), deterministic and fast-MC probabilities, uncertainty, shift score, full MC when asked."""
    parts = []
    for modality, ws in [*data.windows.items(), ("tecg", data.ood)]:
        x = np.asarray(ws.x, np.float32)
        fast, passes = _mc(model, x, mc=mc, fast=True)
        frame = pd.DataFrame({
            "modality": modality,
            "record_id": ws.table.record_id.astype(str).to_numpy(),
            "key": [f"{r}@{s:g}" for r, s in zip(ws.table.record_id.astype(str), ws.table.start_s)],
            "label": ws.table.label.to_numpy(),
        })
        frame["y"] = np.select([frame.label == "AF", frame.label == "SR"], [1, 0], -1)
        frame["p_det"] = _scale(torch.softmax(torch.from_numpy(passes.logits), -1).numpy(), model.temperature)[:, 1]
        for name, values in fast.items():
            frame[name] = values
        frame["shift_score"] = model.shift_scores(passes)
        frame["modality_pred"] = np.asarray(MODALITY_CLASSES)[passes.modality_logits.argmax(1)] if len(x) else []
        in_full = np.zeros(len(frame), bool)
        if ws is not data.ood:
            in_full[data.full_mc_index[modality]] = True
        frame["in_full"] = in_full
        for name in ("p_full", "entropy_full", "mi_full"):
            frame[name] = np.nan
        if full_mc and in_full.any():
            full, _ = _mc(model, x[in_full], mc=mc, fast=False)
            frame.loc[in_full, ["p_full", "entropy_full", "mi_full"]] = np.column_stack([full["p_af"], full["entropy"], full["mutual_info"]])
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def _estimate_columns(name: str, estimate: Estimate) -> dict[str, float]:
    return {name: estimate.value, f"{name}_low": estimate.low, f"{name}_high": estimate.high}


def modality_metrics(predictions: pd.DataFrame, *, mix: dict[str, float], n_boot: int, seed: int = 0) -> pd.DataFrame:
    """One row per test modality: metrics after / before calibration, mean uncertainty (all with CIs), AURC."""
    rows = []
    for modality, part in predictions[predictions.y >= 0].groupby("modality", sort=False):
        y, groups = part.y.to_numpy(), part.record_id.to_numpy()
        p, p_uncal = part.p_af.to_numpy(), part.p_uncal.to_numpy()
        m = binary_metrics(y, p, groups=groups, n_boot=n_boot, seed=seed)
        row = {"test_modality": modality, "in_mix": mix.get(modality, 0.0) > 0, "n": m.n, "n_af": m.n_af, "n_records": int(pd.unique(groups).size)}
        for name in METRICS:
            row.update(_estimate_columns(name, getattr(m, name)))
        before = {
            "brier_uncal": lambda i: float(np.mean((p_uncal[i] - y[i]) ** 2)),
            "ece_uncal": lambda i: expected_calibration_error(y[i], p_uncal[i]),
            "mean_entropy": lambda i: float(part.entropy.to_numpy()[i].mean()),
            "mean_mi": lambda i: float(part.mutual_info.to_numpy()[i].mean()),
        }
        for name, stat in before.items():
            row.update(_estimate_columns(name, cluster_estimate(stat, groups, n_boot=n_boot, seed=seed)))
        correct = (p >= 0.5) == (y == 1)
        row["error_rate"] = float(1 - correct.mean())
        for score, column in (("entropy", "entropy"), ("mi", "mutual_info")):
            row[f"aurc_{score}"] = risk_coverage(correct, part[column].to_numpy())[1]
        rows.append(row)
    return pd.DataFrame(rows)


def _detection_rows(positive: np.ndarray, frame: pd.DataFrame, scores, *, n_boot: int, seed: int) -> list[dict]:
    groups = (frame.modality + "/" + frame.record_id).to_numpy()
    rows = []
    for score in scores:
        values = frame[score].to_numpy(float)
        if not np.isfinite(values).all():
            continue
        est = cluster_estimate(lambda i: auroc(positive[i], values[i]), groups, n_boot=n_boot, seed=seed)
        rows.append({"score": score, "n_pos": int(positive.sum()), "n_neg": int((~positive).sum()),
                     **_estimate_columns("auroc", est), "mean_pos": float(values[positive].mean()), "mean_neg": float(values[~positive].mean())})
    return rows


def shift_detection(predictions: pd.DataFrame, *, mix: dict[str, float], n_boot: int, seed: int = 0, scores=SCORES) -> pd.DataFrame:
    """Per modality absent from the mix: AUROC of each score for its AF/SR test windows (positive) against
    those of the modalities present (negative). Empty when every modality is in the mix."""
    windows = predictions[predictions.y >= 0]
    present = [m for m, share in mix.items() if share > 0]
    rows = []
    for absent in [m for m in windows.modality.unique() if mix.get(m, 0.0) <= 0]:
        frame = windows[windows.modality.isin([absent, *present])].reset_index(drop=True)
        positive = (frame.modality == absent).to_numpy()
        for row in _detection_rows(positive, frame, scores, n_boot=n_boot, seed=seed):
            rows.append({"absent_modality": absent, "present": "+".join(present), **row})
    return pd.DataFrame(rows)


def ood_detection(predictions: pd.DataFrame, *, n_boot: int, seed: int = 0, scores=SCORES) -> pd.DataFrame:
    """CinC 2017 test windows: AUROC of each score for 'other', 'noisy' and either (positive) against AF/SR."""
    tecg = predictions[predictions.modality == "tecg"]
    rows = []
    for name, labels in (("other", ["other"]), ("noisy", ["noisy"]), ("other+noisy", ["other", "noisy"])):
        frame = tecg[(tecg.y >= 0) | tecg.label.isin(labels)].reset_index(drop=True)
        positive = frame.label.isin(labels).to_numpy()
        if positive.any():
            rows.extend({"ood_label": name, **row} for row in _detection_rows(positive, frame, scores, n_boot=n_boot, seed=seed))
    return pd.DataFrame(rows)


def _curves(predictions: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for modality, part in predictions[predictions.y >= 0].groupby("modality", sort=False):
        correct = (part.p_af.to_numpy() >= 0.5) == (part.y.to_numpy() == 1)
        for score in ("entropy", "mutual_info"):
            risk, _ = risk_coverage(correct, part[score].to_numpy())
            rows.extend({"test_modality": modality, "score": score, "coverage": c, "risk": r} for c, r in zip(COVERAGES, risk))
    return pd.DataFrame(rows)


def evaluate_cell(model, data: TestData, *, mix: dict[str, float], mc: int, n_boot: int, full_mc: bool = False, seed: int = 0) -> CellEvaluation:
    """Predict every test window once, then derive all per-cell tables from those predictions."""
    torch.manual_seed(seed)
    predictions = predict_cell(model, data, mc=mc, full_mc=full_mc)
    return CellEvaluation(
        predictions=predictions,
        metrics=modality_metrics(predictions, mix=mix, n_boot=n_boot, seed=seed),
        shift=shift_detection(predictions, mix=mix, n_boot=n_boot, seed=seed),
        ood=ood_detection(predictions, n_boot=n_boot, seed=seed),
        risk_coverage=_curves(predictions),
    )


# ---------------------------------------------------------------- groups of cells

def ensemble_frame(members: list[pd.DataFrame]) -> pd.DataFrame:
    """Deep ensemble of runs' deterministic passes, aligned by window: p_af = mean member p_det;
    entropy of the mean; mutual information = entropy of the mean − mean member entropy."""
    keys = ["modality", "key"]
    base = members[0].drop(columns=[c for c in members[0] if c not in (*keys, "record_id", "label", "y", "in_full")])
    probs = np.stack([base[keys].merge(m[[*keys, "p_det"]], on=keys, how="left").p_det.to_numpy(float) for m in members])
    stats = summarize_samples(_two_class(probs))
    return base.assign(p_af=stats.p_af, entropy=stats.entropy, mutual_info=stats.mutual_info)


def _method_point(frame: pd.DataFrame, *, p: str, entropy: str, mi: str | None, mix: dict[str, float]) -> list[dict]:
    """Point metrics of one method per test modality on the windows of ``frame``."""
    rows = []
    windows = frame[frame.y >= 0]
    present = [m for m, s in mix.items() if s > 0]
    for modality, part in windows.groupby("modality", sort=False):
        y, prob = part.y.to_numpy(), part[p].to_numpy(float)
        m = binary_metrics(y, prob, n_boot=0)
        correct = (prob >= 0.5) == (y == 1)
        row = {"test_modality": modality, "n": m.n, **{k: getattr(m, k).value for k in ("accuracy", "auroc", "brier", "ece")},
               "mean_entropy": float(part[entropy].mean()), "mean_mi": float(part[mi].mean()) if mi else np.nan,
               "aurc_entropy": risk_coverage(correct, part[entropy].to_numpy())[1], "shift_auroc_mi": np.nan, "shift_auroc_entropy": np.nan}
        if mix.get(modality, 0.0) <= 0 and present:
            pool = windows[windows.modality.isin([modality, *present])]
            positive = (pool.modality == modality).to_numpy()
            row["shift_auroc_entropy"] = auroc(positive, pool[entropy].to_numpy(float))
            row["shift_auroc_mi"] = auroc(positive, pool[mi].to_numpy(float)) if mi else np.nan
        rows.append(row)
    return rows


def compare_methods(members: dict[int, pd.DataFrame], *, mix: dict[str, float], ensemble: int) -> pd.DataFrame:
    """Full MC Dropout, fast (head-only) MC, the deterministic pass and a deep ensemble of the first
    ``ensemble`` seeds, on the same cells and the same windows (the full-MC subsample). Per-run methods
    are averaged over seeds (``*_sd``: their spread); the ensemble is one model per mix."""
    seeds = sorted(members)
    subsample = {s: members[s][members[s].in_full] for s in seeds}
    per_run = {"deterministic": ("p_det", "entropy_det", None), "mc_fast": ("p_af", "entropy", "mutual_info"), "mc_full": ("p_full", "entropy_full", "mi_full")}
    rows = []
    for method, (p, h, mi) in per_run.items():
        seed_rows = []
        for seed in seeds:
            frame = subsample[seed].assign(entropy_det=lambda f: entropy(np.stack([1 - f.p_det.to_numpy(float), f.p_det.to_numpy(float)], -1)))
            if frame[p].isna().all():
                continue
            seed_rows.extend({**r, "seed": seed} for r in _method_point(frame, p=p, entropy=h, mi=mi, mix=mix))
        if seed_rows:
            table = pd.DataFrame(seed_rows).drop(columns="seed")
            grouped = table.groupby("test_modality", sort=False)
            mean, sd = grouped.mean(numeric_only=True), grouped.std(numeric_only=True, ddof=1)
            for modality in mean.index:
                row = {"method": method, "test_modality": modality, "members": grouped.size()[modality]}
                row.update(mean.loc[modality].to_dict())
                row.update({f"{k}_sd": v for k, v in sd.loc[modality].items() if k != "n"})
                rows.append(row)
    if len(seeds) >= ensemble:
        frame = ensemble_frame([subsample[s] for s in seeds[:ensemble]])
        rows.extend({"method": "ensemble", "members": ensemble, **r} for r in _method_point(frame, p="p_af", entropy="entropy", mi="mutual_info", mix=mix))
    out = pd.DataFrame(rows)
    if len(out):
        out.insert(2, "in_mix", out.test_modality.map(lambda m: mix.get(m, 0.0) > 0))
    return out


def _read_csv(path: Path, **options) -> pd.DataFrame:
    """A cell table; an empty one (e.g. no absent modality, so no shift rows) is written without columns."""
    try:
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def collect_tables(cell_dirs: list[Path], *, ensemble: int, out_dir: Path) -> pd.DataFrame:
    """Stack finished cells' tables into ``out_dir``: ``results.csv`` (their metrics; ``.parquet`` too with pyarrow),
    ``shift.csv``, ``ood.csv``, ``risk_coverage.csv``, and ``methods.csv`` (:func:`compare_methods` per mix); return the results."""
    tables = {}
    for name in ("metrics", "shift", "ood", "risk_coverage"):
        parts = [p for p in (_read_csv(Path(d) / f"{name}.csv") for d in cell_dirs) if len(p)]
        tables[name] = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    results = tables.pop("metrics")
    if len(results):  # cell columns, then data counts (sorted), then notes and metrics
        counts = sorted(c for c in results if c.startswith(("train_", "val_")) and c != "train_seconds")
        lead = [c for c in results.columns[: results.columns.get_loc("notes")] if c not in counts]
        results = results[lead + counts + [c for c in results if c not in lead and c not in counts]]
    cells: dict[str, list[tuple[dict, Path]]] = {}
    for d in cell_dirs:
        info = json.loads((Path(d) / "cell.json").read_text())["cell"]
        cells.setdefault(info["name"], []).append((info, Path(d)))
    methods = []
    for name, members in cells.items():
        frames = {info["seed"]: _read_csv(d / "predictions.csv.gz", dtype={"record_id": str, "key": str}) for info, d in members}
        frame = compare_methods(frames, mix=members[0][0]["mix"], ensemble=ensemble)
        if len(frame):
            frame.insert(0, "mix_name", name)
            frame.insert(1, "full_mc", members[0][0]["full_mc"])
            methods.append(frame)
    tables["methods"] = pd.concat(methods, ignore_index=True) if methods else pd.DataFrame()
    for name, frame in {"results": results, **tables}.items():
        frame.to_csv(out_dir / f"{name}.csv", index=False)
    if importlib.util.find_spec("pyarrow") is not None:
        results.to_parquet(out_dir / "results.parquet", index=False)
    return results
