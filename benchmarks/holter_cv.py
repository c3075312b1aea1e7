"""MIT-BIH cross-validation by record for the Holter pipeline: every record is analysed by a model that
never saw it (neither for gradients nor for early stopping / calibration).

    python benchmarks/holter_cv.py [--preset default] [--folds 5] [--out runs/holter-cv] [--threads 2]

Protocol
--------
* Folds: the 47 MIT-BIH patients (201 and 202 are one patient) dealt into ``--folds`` folds by
  :func:`ecgshift.splits.group_kfold`, stratified by "has AF" (seed 0), so each fold holds 1-2 of the
  7 AF patients.
* Fold k: its records are the test set; fold k+1 (mod K) is the hECG validation set (early stopping,
  temperature, referral thresholds); the other folds are hECG training data. tECG and rECG use their
  usual train/val splits. The model is trained with the named preset (the recipe of the shipped model),
  so the pooled figures estimate what that recipe does on MIT-BIH records it has not seen.
* Each test record is analysed by ``analyse_holter`` (fast MC Dropout T=20, quality gate, episodes,
  reference='atr'), exactly as ``ecgshift holter --reference atr`` does.
* Pooled over all 48 records: window sensitivity / specificity (windows ≥ 90 % / ≤ 10 % annotated AF),
  EC57 episode sensitivity / PPV (gross), burden error (mean and median of |detected - reference| in
  points of analysable time, per record). Baseline on the same records: the RR-irregularity detector
  (:func:`ecgshift.rr.detect_af_rr`, literature rule, nothing fitted) on the reference beat annotations.
* Resumable: a fold whose model exists in ``--out/fold<k>`` is not retrained.

The recipe's hyperparameters were chosen on the standard validation split, which holds MIT-BIH records
that are test records of some fold here: a small optimistic bias on the recipe, none on the weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_root  # noqa: E402

from ecgshift.datasets.mitdb import MITDB_SAME_SUBJECT  # noqa: E402
from ecgshift.episodes import episode_metrics, pool_metrics  # noqa: E402
from ecgshift.holter import HolterConfig, analyse_holter  # noqa: E402
from ecgshift.io.annotations import read_annotations  # noqa: E402
from ecgshift.mixing import load_modality_windows  # noqa: E402
from ecgshift.paths import cache_root  # noqa: E402
from ecgshift.predictor import load_model  # noqa: E402
from ecgshift.presets import preset_config  # noqa: E402
from ecgshift.rr import detect_af_rr  # noqa: E402
from ecgshift.splits import group_kfold  # noqa: E402
from ecgshift.training import fit  # noqa: E402


def fold_sets(sets: dict, folds: dict[str, int], k: int, n_folds: int) -> dict:
    """Copies of the window sets whose hECG ``split`` column follows CV fold ``k``."""
    hecg = sets["hecg"]
    fold = hecg.table.record_id.astype(str).map(folds).to_numpy()
    split = np.where(fold == k, "test", np.where(fold == (k + 1) % n_folds, "val", "train"))
    table = hecg.table.assign(split=split)
    return {**sets, "hecg": dataclasses.replace(hecg, table=table)}


def analyse_fold(model, records: list[Path]) -> list[dict]:
    rows = []
    for path in records:
        result = analyse_holter(path, model=model, config=HolterConfig(mc=20), reference="atr")
        ev = result.evaluation
        w = result.windows
        ok = w.quality.to_numpy() == "ok"
        frac = w.ref_af_fraction.to_numpy(float)
        called = w.is_af.to_numpy(bool)
        duration_s = result.account.duration_s
        beats = read_annotations(path.with_suffix(""), "atr", fs=result.fs, end_s=duration_s)[0]  # no second waveform read
        rr_ep = episode_metrics(detect_af_rr(beats).episodes, result.reference_episodes, total_s=duration_s)
        rows.append({
            "record": path.stem, "af_windows": int((ok & (frac >= 0.9)).sum()), "af_called": int((ok & (frac >= 0.9) & called).sum()),
            "non_af_windows": int((ok & (frac <= 0.1)).sum()), "non_af_called": int((ok & (frac <= 0.1) & called).sum()),
            "reference_burden_pct": ev.reference_burden_pct, "detected_burden_pct": ev.detected_burden_pct,
            "rr_burden_pct": 100.0 * rr_ep.detected_s / duration_s, "reference_burden_all_pct": 100.0 * rr_ep.reference_s / duration_s,
            "episodes": ev.episodes, "rr_episodes": rr_ep,
        })
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=default_data_root())
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--preset", default="default")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path("runs/holter-cv"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--trained-only", action="store_true",
                   help="evaluate only the folds whose model already exists (a partial cross-validation; says so)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    mitdb = args.data_root / "hecg" / "mitdb"
    sets = load_modality_windows(data_root=args.data_root, cache_dir=cache_root(args.cache_dir))
    table = sets["hecg"].table
    description = table.assign(record_id=table.record_id.astype(str)).groupby("record_id").agg(patient=("patient_id", "first"), af=("label", lambda s: bool((s == "AF").any())))
    records = sorted(p.stem for p in mitdb.glob("*.hea"))
    patients = [MITDB_SAME_SUBJECT.get(r, r) for r in records]
    has_af = [bool(description.af.get(r, False)) for r in records]
    fold_of = dict(zip(records, group_kfold(patients, has_af, k=args.folds, seed=0).tolist()))
    config = preset_config(args.preset)
    rows = []
    evaluated = []
    for k in range(args.folds):
        run = args.out / f"fold{k}"
        test_records = [r for r in records if fold_of[r] == k]
        if args.trained_only and not (run / "model.safetensors").exists():
            continue
        evaluated.append(k)
        if not (run / "model.safetensors").exists():
            started = time.perf_counter()
            fit(config, fold_sets(sets, fold_of, k, args.folds), run_dir=run)
            print(f"fold {k}: trained in {time.perf_counter() - started:.0f} s", flush=True)
        fold_rows = analyse_fold(load_model(run), [mitdb / f"{r}.hea" for r in test_records])
        for row in fold_rows:
            row["fold"] = k
        rows += fold_rows
        af = [r["record"] for r in fold_rows if r["af_windows"]]
        print(f"fold {k}: test records {', '.join(test_records)} (AF: {', '.join(af) or 'none'})", flush=True)

    frame = pd.DataFrame([{k: v for k, v in r.items() if k not in ("episodes", "rr_episodes")} for r in rows])
    frame["burden_error"] = (frame.detected_burden_pct - frame.reference_burden_pct).abs()
    frame["rr_burden_error"] = (frame.rr_burden_pct - frame.reference_burden_all_pct).abs()
    frame["window_specificity"] = 1 - frame.non_af_called / frame.non_af_windows.where(frame.non_af_windows > 0)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "records.csv", index=False)
    pooled = pool_metrics([r["episodes"] for r in rows])
    rr_pooled = pool_metrics([r["rr_episodes"] for r in rows])
    sens = frame.af_called.sum() / frame.af_windows.sum()
    spec = 1 - frame.non_af_called.sum() / frame.non_af_windows.sum()
    partial = "" if len(evaluated) == args.folds else f" — PARTIAL: folds {evaluated} only"
    print(f"\nMIT-BIH {args.folds}-fold cross-validation by patient{partial}, preset {args.preset!r}, {len(frame)} records "
          f"({int(frame.af_windows.sum())} AF windows, {int(frame.non_af_windows.sum())} non-AF windows)")
    print(f"model: window sensitivity {sens:.3f}, specificity {spec:.3f}; episodes Se {pooled.episode_sensitivity:.3f} "
          f"PPV {pooled.episode_ppv:.3f} ({pooled.n_detected} detected, {pooled.n_detected_true} true); "
          f"burden error mean {frame.burden_error.mean():.2f} median {frame.burden_error.median():.2f} points")
    print(f"RR detector (reference beats, literature rule): episodes Se {rr_pooled.episode_sensitivity:.3f} PPV {rr_pooled.episode_ppv:.3f} "
          f"({rr_pooled.n_detected} detected); burden error mean {frame.rr_burden_error.mean():.2f} median {frame.rr_burden_error.median():.2f} points")
    worst = frame.sort_values("window_specificity").head(6)
    print("\nlowest window specificity:\n" + worst[["record", "fold", "non_af_windows", "non_af_called", "window_specificity"]].to_string(index=False))
    af = frame[frame.af_windows > 0]
    print("\nAF records:\n" + af[["record", "fold", "af_windows", "af_called", "reference_burden_pct", "detected_burden_pct"]].to_string(index=False))


if __name__ == "__main__":
    main()
