"""Conformal referral (issue 21) for the shipped model: coverage per modality and class, referral under 50 % AF,
accuracy at a referral budget, calibration (temperature vs Venn-ABERS), and coverage under shift.

The model's calibration (``conformal.json``, written by ``scripts/conformal_calibrate.py`` from the VALIDATION
splits) is applied to each modality's TEST split, at the unit ``ecgshift predict`` scores (tECG: records, mean
p(AF) of half-overlapping windows; rECG: one window per record; hECG: 10-s windows, the network's p(AF)). Under
shift: the second Holter recorder (aftdb all AF, afpdb no AF) through ``ecgshift.batch.predict_path``, windows
scored against the hECG cells. Nothing here is fitted on test.

    python benchmarks/conformal.py [--model RUN] [--mc 20] [--work /tmp/conformal]

Predictions are cached in ``--work/<hash of the weights and config>-mc<T>``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser, predicted_windows  # noqa: E402

from ecgshift.batch import predict_path  # noqa: E402
from ecgshift.conformal import (  # noqa: E402
    fit_conformal,
    prediction_sets,
    referral_budget,
    score_units,
    venn_abers,
)
from ecgshift.evaluation import cluster_estimate, expected_calibration_error  # noqa: E402
from ecgshift.predictor import default_model_path, load_model  # noqa: E402
from ecgshift.rhythm.fusion import default_fusion  # noqa: E402


def prediction_key(model, *, mc: int) -> str:
    """The cache folder name of a model's predictions: a hash of its weights and config, and the MC passes — so a
    retrained or replaced model never reads another model's cached predictions."""
    import hashlib

    folder = Path(model.source) if model.source else default_model_path()
    digest = hashlib.sha256()
    for name in ("model.safetensors", "config.json"):
        digest.update((folder / name).read_bytes())
    return f"{digest.hexdigest()[:12]}-mc{mc}"


def scored_units(model, args, log) -> pd.DataFrame:
    """Validation and test units of the three modalities (cached in ``--work``): modality, split, unit, y, p_af, shift."""
    path = args.work / "units.csv"
    if path.exists():
        return pd.read_csv(path)
    parts = []
    for modality, ws in predicted_windows(args, config=model.harmonize).items():
        for split in ("val", "test"):
            part = ws.split(split)
            started = time.perf_counter()
            pred = model.predict_windows(np.asarray(part.x), mc=args.mc)
            units = score_units(pred, part.table, modality=modality)
            parts.append(units.assign(modality=modality, split=split))
            log(f"{modality} {split}: {len(part)} windows, {len(units)} units, {time.perf_counter() - started:.0f} s")
    frame = pd.concat(parts, ignore_index=True)
    frame.to_csv(path, index=False)
    return frame


def shifted_windows(model, args, log) -> pd.DataFrame:
    """Windows of the second Holter recorder (aftdb: AF, afpdb: no AF) as ``ecgshift predict`` gives them (cached)."""
    path = args.work / "shifted.csv"
    if path.exists():
        return pd.read_csv(path)
    fusion, parts = default_fusion(), []
    for name, y in (("aftdb", 1), ("afpdb", 0)):
        started = time.perf_counter()
        for hea in sorted((args.data_root / "hecg" / name).glob("*.hea")):
            result = predict_path(model, hea, mc=args.mc, fusion=fusion)
            if result.analysis is None:
                log(f"{hea.name}: {result.status}")
                continue
            pred = result.predictions
            network = pred.p_af if pred.p_af_network is None else pred.p_af_network
            parts.append(pd.DataFrame({"dataset": name, "unit": hea.stem, "start_s": pred.start_s, "y": y, "p_af": network,
                                       "p_af_decided": pred.p_af, "shift_score": pred.shift_score,
                                       "predicted_modality": pred.modality}))
        log(f"{name}: {time.perf_counter() - started:.0f} s")
    frame = pd.concat(parts, ignore_index=True)
    frame.to_csv(path, index=False)
    return frame


ALPHA = 0.05
BUDGET = 0.10
MODALITIES = ("tecg", "recg", "hecg")


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95 % interval of k successes in n."""
    if n == 0:
        return float("nan"), float("nan")
    phat = k / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def share(values: np.ndarray, groups: np.ndarray, *, clustered: bool) -> str:
    """Share of True with a 95 % interval: Wilson over independent units, else a cluster bootstrap by record."""
    values = np.asarray(values, bool)
    if values.size == 0:
        return "–"
    if clustered:
        e = cluster_estimate(lambda idx: values[idx].mean(), np.asarray(groups), n_boot=1000)
        return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"
    low, high = wilson(int(values.sum()), values.size)
    return f"{values.mean():.3f} [{low:.3f}, {high:.3f}]"


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def coverage_rows(cal, frame: pd.DataFrame, *, alpha: float, name: str, modality_column: str | None = None) -> list[dict]:
    """Per class: n units (records), coverage with its CI, and the set composition."""
    modality = frame[modality_column].to_numpy() if modality_column else frame.modality.to_numpy()
    sets = prediction_sets(cal, frame.p_af.to_numpy(), modality, alpha=alpha)
    covered, y, groups = sets.covers(frame.y.to_numpy()), frame.y.to_numpy(), frame.record_id.astype(str).to_numpy()
    clustered = len(np.unique(groups)) < len(groups)
    rows = []
    for label, c in (("AF", 1), ("SR", 0)):
        mine = y == c
        if not mine.any():
            continue
        lab = sets.label[mine]
        rows.append({"set": name, "class": label, "n": f"{int(mine.sum())}" + (f" ({len(np.unique(groups[mine]))} rec)" if clustered else ""),
                     "coverage": share(covered[mine], groups[mine], clustered=clustered),
                     "{AF}": f"{np.mean(lab == 'AF'):.3f}", "{SR}": f"{np.mean(lab == 'SR'):.3f}",
                     "{AF,SR}": f"{np.mean(lab == 'AF+SR'):.3f}", "empty": f"{np.mean(lab == 'none'):.3f}"})
    return rows


def referral_rows(cal, test: pd.DataFrame, *, alpha: float) -> list[dict]:
    """Referral rate at the native prevalence and re-weighted to 50 % AF (each class weighted half)."""
    rows = []
    for m in MODALITIES:
        t = test[test.modality == m]
        refer = prediction_sets(cal, t.p_af.to_numpy(), m, alpha=alpha).refer
        y = t.y.to_numpy()
        r_af, r_sr = refer[y == 1].mean(), refer[y == 0].mean()
        native, balanced = refer.mean(), 0.5 * r_af + 0.5 * r_sr
        rows.append({"modality": m, "AF share": f"{y.mean():.3f}", "referred | AF": f"{r_af:.3f}", "referred | SR": f"{r_sr:.3f}",
                     "native": f"{native:.3f}", "50 % AF": f"{balanced:.3f}", "difference (points)": f"{(balanced - native) * 100:+.1f}",
                     "floor ≤ 2": "met" if abs(balanced - native) <= 0.02 else "NOT met"})
    return rows


def budget_rows(cal, val: pd.DataFrame, test: pd.DataFrame, *, budget: float) -> list[dict]:
    """At a referral budget: α chosen on VALIDATION (the smallest α whose validation sets refer ≤ budget), applied to
    test; and the label-free solver on the test batch itself (what ``--max-referral`` does on a batch)."""
    rows = []
    for m in MODALITIES:
        v, t = val[val.modality == m], test[test.modality == m]
        for chosen_on, frame in (("validation", v), ("test batch (no labels)", t)):
            check = referral_budget(cal, frame.p_af.to_numpy(), m, alpha=1e-3, max_referral=budget)
            alpha = check.alpha if check.holds else check.alpha_fit
            if not np.isfinite(alpha):
                rows.append({"modality": m, "alpha chosen on": chosen_on, "alpha": "none fits"})
                continue
            sets = prediction_sets(cal, t.p_af.to_numpy(), m, alpha=alpha)
            accepted = ~sets.refer
            right = sets.covers(t.y.to_numpy())[accepted]
            groups = t.record_id.astype(str).to_numpy()[accepted]
            clustered = m == "hecg"
            errors = int((~right).sum())
            rows.append({"modality": m, "alpha chosen on": chosen_on, "alpha": f"{alpha:.4f}", "test referred": f"{sets.refer.mean():.3f}",
                         "accepted": int(accepted.sum()), "errors accepted": errors,
                         "accuracy accepted": share(right, groups, clustered=clustered),
                         "floor ≥ 0.99": "" if m == "recg" else ("met" if right.mean() >= 0.99 else "NOT met")})
    return rows


def calibration_rows(val: pd.DataFrame, test: pd.DataFrame, *, repeats: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Temperature scaling (the shipped p(AF)) vs Venn-ABERS per modality: on random halvings of validation (fit VA
    on one half by record, score the other, both ways), then VA fitted on all validation and scored on test."""
    rng = np.random.default_rng(seed)
    rows_val, rows_test = [], []
    for m in MODALITIES:
        v, t = val[val.modality == m], test[test.modality == m]
        groups = v.record_id.astype(str).to_numpy()
        unique = np.unique(groups)
        scores = {"temperature": {"ece": [], "log_loss": []}, "venn-abers": {"ece": [], "log_loss": []}}
        for _ in range(repeats):
            half = np.isin(groups, rng.choice(unique, len(unique) // 2, replace=False))
            for fit in (half, ~half):
                held = ~fit
                y = v.y.to_numpy()[held]
                p_t = v.p_af.to_numpy()[held]
                p_va = venn_abers(v.p_af.to_numpy()[fit], v.y.to_numpy()[fit], p_t)[2]
                for name, p in (("temperature", p_t), ("venn-abers", p_va)):
                    scores[name]["ece"].append(expected_calibration_error(y, p))
                    scores[name]["log_loss"].append(log_loss(y, p))
        for name, d in scores.items():
            rows_val.append({"modality": m, "method": name, "ece mean": f"{np.mean(d['ece']):.4f}", "ece sd": f"{np.std(d['ece']):.4f}",
                             "log-loss mean": f"{np.mean(d['log_loss']):.4f}"})
        y = t.y.to_numpy()
        p_va = venn_abers(v.p_af.to_numpy(), v.y.to_numpy(), t.p_af.to_numpy())[2]
        for name, p in (("temperature", t.p_af.to_numpy()), ("venn-abers", p_va)):
            ece = expected_calibration_error(y, p)
            rows_test.append({"modality": m, "method": name, "test ece": f"{ece:.4f}", "test log-loss": f"{log_loss(y, p):.4f}",
                              "floor ≤ 0.03": "met" if ece <= 0.03 else "NOT met"})
    return rows_val, rows_test


def shift_rows(cal, test: pd.DataFrame, shifted: pd.DataFrame, *, alpha: float, threshold: float) -> list[dict]:
    """Coverage among units with a shift score at most / above the run's referral threshold."""
    frames = [(f"{m} test", test[test.modality == m].assign(cell=m)) for m in MODALITIES]
    frames += [(f"{d} (hecg cells)", shifted[shifted.dataset == d].assign(cell="hecg", record_id=lambda f: f.unit)) for d in ("aftdb", "afpdb")]
    rows = []
    for name, f in frames:
        sets = prediction_sets(cal, f.p_af.to_numpy(), f.cell.to_numpy(), alpha=alpha)
        covered = sets.covers(f.y.to_numpy())
        high = f.shift_score.to_numpy() > threshold
        groups = f.record_id.astype(str).to_numpy()
        clustered = len(np.unique(groups)) < len(groups)
        row = {"set": name, "units": len(f), "share high shift": f"{high.mean():.3f}"}
        for part, mask in (("low", ~high), ("high", high)):
            row["coverage, shift ≤ thr" if part == "low" else "coverage, shift > thr"] = (
                f"{share(covered[mask], groups[mask], clustered=clustered)} (n {int(mask.sum())})" if mask.any() else "–")
        rows.append(row)
    return rows


def _print(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(pd.DataFrame(rows).to_string(index=False))


def report(model, units: pd.DataFrame, shifted: pd.DataFrame, *, repeats: int, seed: int) -> None:
    val, test = units[units.split == "val"], units[units.split == "test"]
    refit = fit_conformal(val.p_af.to_numpy(), val.y.to_numpy(), val.modality.to_numpy())
    cal = model.conformal
    if cal is None:
        print("the model has no conformal.json: calibrating from its validation units here")
        cal = refit
    else:
        same = all(np.allclose(cal.scores[m][c], refit.scores[m][c], atol=1e-6) for m in MODALITIES for c in ("AF", "SR"))
        print(f"model: {model}; conformal.json from {cal.source!r} — matches the validation units recomputed here: {same}")
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    print(cal.table().to_string(index=False))
    rows = []
    for alpha in (ALPHA, 0.10):
        for m in MODALITIES:
            rows += coverage_rows(cal, test[test.modality == m], alpha=alpha, name=f"{m} test, alpha {alpha:g}")
    _print("Per-class coverage on each modality's TEST split (95 % CI: Wilson over records; hECG: cluster bootstrap by record)", rows)
    rows = []
    for m in MODALITIES:
        rows += coverage_rows(cal, test[test.modality == m], alpha=ALPHA, name=f"{m} test, predicted-modality cells",
                              modality_column="predicted_modality")
    _print(f"The same at alpha {ALPHA:g} with each unit's PREDICTED modality choosing the cells (what model.prediction_sets does by default)", rows)
    _print(f"Referral rate at alpha {ALPHA:g}: native prevalence vs re-weighted to 50 % AF", referral_rows(cal, test, alpha=ALPHA))
    _print(f"At a {BUDGET:.0%} referral budget: accuracy of the accepted (singleton sets) on test", budget_rows(cal, val, test, budget=BUDGET))
    rows_val, rows_test = calibration_rows(val, test, repeats=repeats, seed=seed)
    _print(f"Calibrated probabilities on VALIDATION ({repeats} random halvings by record, both ways; the shipped temperature was fitted "
           "on all validation windows, so its rows are slightly optimistic)", rows_val)
    _print("... and on TEST (Venn-ABERS fitted on all validation units of the modality)", rows_test)
    threshold = model.referral.shift_score
    _print(f"Under shift: coverage at alpha {ALPHA:g} by shift score (threshold {threshold:.3f} = the run's Referral.shift_score); "
           "aftdb / afpdb: the second Holter recorder, windows, network p(AF)", shift_rows(cal, test, shifted, alpha=ALPHA, threshold=threshold))
    rows, recognized = [], []
    for d in ("aftdb", "afpdb"):
        f = shifted[shifted.dataset == d]
        recognized.append({"dataset": d, "windows": len(f), "records": f.unit.nunique(),
                           **{f"predicted {m}": f"{np.mean(f.predicted_modality == m):.3f}" for m in MODALITIES}})
        rows += coverage_rows(cal, f.assign(record_id=f.unit, modality="hecg"), alpha=ALPHA, name=f"{d}, hecg cells")
        rows += coverage_rows(cal, f.assign(record_id=f.unit), alpha=ALPHA, name=f"{d}, predicted-modality cells",
                              modality_column="predicted_modality")
    _print("Second Holter recorder: the modality its windows are recognized as", recognized)
    _print("Second Holter recorder: coverage against the hECG cells and against each window's predicted-modality cells", rows)
    print("\nLeave-one-modality-out runs are not available on this machine (no training today): coverage with a modality "
          "left out of training is not measured.")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--mc", type=int, default=20)
    p.add_argument("--work", type=Path, default=Path("/tmp/conformal"))
    p.add_argument("--score-only", action="store_true", help="only compute (and cache) the predictions")
    p.add_argument("--repeats", type=int, default=20, help="random halvings of validation for the calibration comparison")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(2)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    model = load_model(args.model)
    args.work = args.work / prediction_key(model, mc=args.mc)  # cached predictions belong to these weights and this T
    args.work.mkdir(parents=True, exist_ok=True)
    units = scored_units(model, args, log)
    shifted = shifted_windows(model, args, log)
    if args.score_only:
        return
    report(model, units, shifted, repeats=args.repeats, seed=args.seed)


if __name__ == "__main__":
    main()
