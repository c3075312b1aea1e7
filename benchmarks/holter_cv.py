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
* Each test record is analysed by ``analyse_holter`` (fast MC Dropout T=20, quality gate, rhythm
  evidence, episodes, reference='atr'), exactly as ``ecgshift holter --reference atr`` does, and so
  is each validation record (fold k+1) by the fold-k model.
* Decisions, two ways (``redecide``, no second model pass): the network alone (p(AF) ≥ 0.5, RR
  override on review windows) and the rhythm fusion, nested — for the records of fold k it is
  fitted on the validation windows (≥ 90 % or ≤ 10 % annotated AF) of the records outside fold k.
* ``--write-fusion PATH`` fits the fusion the package ships: on the validation windows of all records
  outside the standard test split (so ``benchmarks/holter.py``'s test rows stay clean).
* Pooled over all 48 records: window sensitivity / specificity (windows ≥ 90 % / ≤ 10 % annotated AF),
  EC57 episode sensitivity / PPV (gross), burden error (mean and median of |detected - reference| in
  points of analysable time, per record). Baseline on the same records: the RR-irregularity detector
  (:func:`ecgshift.rhythm.rr.detect_af_rr`, literature rule, nothing fitted) on the reference beat annotations.
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
from ecgshift.rhythm.episodes import episode_metrics, pool_metrics  # noqa: E402
from ecgshift.holter import HolterConfig, analyse_holter, redecide  # noqa: E402
from ecgshift.io.annotations import read_annotations  # noqa: E402
from ecgshift.mixing import load_modality_windows  # noqa: E402
from ecgshift.paths import cache_root  # noqa: E402
from ecgshift.predictor import load_model  # noqa: E402
from ecgshift.presets import preset_config  # noqa: E402
from ecgshift.rhythm.fusion import RHYTHM_FEATURES, RhythmFusion  # noqa: E402
from ecgshift.rhythm.rr import detect_af_rr  # noqa: E402
from ecgshift.splits import group_kfold  # noqa: E402
from ecgshift.training import fit  # noqa: E402


def fold_sets(sets: dict, folds: dict[str, int], k: int, n_folds: int) -> dict:
    """Copies of the window sets whose hECG ``split`` column follows CV fold ``k``."""
    hecg = sets["hecg"]
    fold = hecg.table.record_id.astype(str).map(folds).to_numpy()
    split = np.where(fold == k, "test", np.where(fold == (k + 1) % n_folds, "val", "train"))
    table = hecg.table.assign(split=split)
    return {**sets, "hecg": dataclasses.replace(hecg, table=table)}


FIT_COLUMNS = ("quality", "p_af", "ref_af_fraction")


def analyse_records(model, records: list[Path]) -> list:
    """``analyse_holter`` results (no fusion; decisions are redone per protocol with ``redecide``)."""
    return [analyse_holter(path, model=model, config=HolterConfig(mc=20, decision="network"), reference="atr") for path in records]


def fusion_rows(results: list) -> pd.DataFrame:
    """Analysed windows that are clearly AF (≥ 90 % annotated) or clearly not (≤ 10 %), for fitting a fusion."""
    w = pd.concat([r.windows.assign(record=r.record_id) for r in results], ignore_index=True)
    w = w[(w.quality == "ok") & ((w.ref_af_fraction >= 0.9) | (w.ref_af_fraction <= 0.1))]
    return w.assign(is_ref_af=w.ref_af_fraction >= 0.9)


def fit_fusion(rows: pd.DataFrame) -> RhythmFusion:
    return RhythmFusion().fit(rows.p_af.to_numpy(float), rows[list(RHYTHM_FEATURES)], rows.is_ref_af.to_numpy(bool))


def rr_baseline(result):
    """Episode metrics of the RR detector (literature rule) on the record's reference beats (its .atr, no waveform read)."""
    duration_s = result.account.duration_s
    beats = read_annotations(Path(result.path).with_suffix(""), "atr", fs=result.fs, end_s=duration_s)[0]
    return episode_metrics(detect_af_rr(beats).episodes, result.reference_episodes, total_s=duration_s)


def record_row(result, rr_ep) -> dict:
    w, ev, duration_s = result.windows, result.evaluation, result.account.duration_s
    ok = w.quality.to_numpy() == "ok"
    frac = w.ref_af_fraction.to_numpy(float)
    called = w.is_af.to_numpy(bool)
    return {
        "record": result.record_id, "af_windows": int((ok & (frac >= 0.9)).sum()), "af_called": int((ok & (frac >= 0.9) & called).sum()),
        "non_af_windows": int((ok & (frac <= 0.1)).sum()), "non_af_called": int((ok & (frac <= 0.1) & called).sum()),
        "reference_burden_pct": ev.reference_burden_pct, "detected_burden_pct": ev.detected_burden_pct,
        "rr_burden_pct": 100.0 * rr_ep.detected_s / duration_s, "reference_burden_all_pct": 100.0 * rr_ep.reference_s / duration_s,
        "episodes": ev.episodes, "rr_episodes": rr_ep,
    }


def summarize(rows: list[dict], label: str) -> pd.DataFrame:
    frame = pd.DataFrame([{k: v for k, v in r.items() if k not in ("episodes", "rr_episodes")} for r in rows])
    frame["burden_error"] = (frame.detected_burden_pct - frame.reference_burden_pct).abs()
    frame["rr_burden_error"] = (frame.rr_burden_pct - frame.reference_burden_all_pct).abs()
    frame["window_specificity"] = 1 - frame.non_af_called / frame.non_af_windows.where(frame.non_af_windows > 0)
    pooled = pool_metrics([r["episodes"] for r in rows])
    sens = frame.af_called.sum() / frame.af_windows.sum()
    spec = 1 - frame.non_af_called.sum() / frame.non_af_windows.sum()
    print(f"{label}: window sensitivity {sens:.3f}, specificity {spec:.3f}; episodes Se {pooled.episode_sensitivity:.3f} "
          f"PPV {pooled.episode_ppv:.3f} ({pooled.n_detected} detected, {pooled.n_detected_true} true); "
          f"burden error mean {frame.burden_error.mean():.2f} median {frame.burden_error.median():.2f} points")
    return frame


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
    p.add_argument("--write-fusion", type=Path, default=None,
                   help="fit the rhythm fusion on the validation predictions of the records outside the standard "
                        "test split and write it here (the shipped one: src/ecgshift/assets/holter_fusion.json)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    mitdb = args.data_root / "hecg" / "mitdb"
    sets = load_modality_windows(data_root=args.data_root, cache_dir=cache_root(args.cache_dir))
    table = sets["hecg"].table
    description = table.assign(record_id=table.record_id.astype(str)).groupby("record_id").agg(
        patient=("patient_id", "first"), af=("label", lambda s: bool((s == "AF").any())), split=("split", "first"))
    records = sorted(p.stem for p in mitdb.glob("*.hea"))
    patients = [MITDB_SAME_SUBJECT.get(r, r) for r in records]
    has_af = [bool(description.af.get(r, False)) for r in records]
    fold_of = dict(zip(records, group_kfold(patients, has_af, k=args.folds, seed=0).tolist()))
    config = preset_config(args.preset)
    tested, validated = {}, {}
    for k in range(args.folds):
        run = args.out / f"fold{k}"
        if args.trained_only and not (run / "model.safetensors").exists():
            continue
        if not (run / "model.safetensors").exists():
            started = time.perf_counter()
            fit(config, fold_sets(sets, fold_of, k, args.folds), run_dir=run)
            print(f"fold {k}: trained in {time.perf_counter() - started:.0f} s", flush=True)
        model = load_model(run)
        tested[k] = analyse_records(model, [mitdb / f"{r}.hea" for r in records if fold_of[r] == k])
        validated[k] = analyse_records(model, [mitdb / f"{r}.hea" for r in records if fold_of[r] == (k + 1) % args.folds])
        af = [r.record_id for r in tested[k] if r.evaluation.n_af_windows]
        print(f"fold {k}: test records {', '.join(r.record_id for r in tested[k])} (AF: {', '.join(af) or 'none'})", flush=True)

    # Fusion for test fold k: fitted on validation windows of records outside fold k (each analysed by a
    # model that did not train on it), so neither the network nor the fusion has seen the test records.
    val_rows = {k: fusion_rows(v) for k, v in validated.items()}
    plain, fused, fusions = [], [], {}
    for k, results in tested.items():
        fusions[k] = fit_fusion(pd.concat([rows for j, rows in val_rows.items() if (j + 1) % args.folds != k]))
        for result in results:
            rr_ep = rr_baseline(result)
            plain.append({**record_row(redecide(result, fusion=None), rr_ep), "fold": k})
            fused.append({**record_row(redecide(result, fusion=fusions[k]), rr_ep), "fold": k})

    partial = "" if len(tested) == args.folds else f" — PARTIAL: folds {sorted(tested)} only"
    n_af = sum(r["af_windows"] for r in plain)
    n_non = sum(r["non_af_windows"] for r in plain)
    print(f"\nMIT-BIH {args.folds}-fold cross-validation by patient{partial}, preset {args.preset!r}, {len(plain)} records "
          f"({n_af} AF windows, {n_non} non-AF windows)")
    summarize(plain, "network, p(AF) >= 0.5 + RR override on review windows")
    frame = summarize(fused, "network + rhythm fusion (nested: fitted on other folds' validation records)")
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "records.csv", index=False)
    rr_pooled = pool_metrics([r["rr_episodes"] for r in fused])
    print(f"RR detector (reference beats, literature rule): episodes Se {rr_pooled.episode_sensitivity:.3f} PPV {rr_pooled.episode_ppv:.3f} "
          f"({rr_pooled.n_detected} detected); burden error mean {frame.rr_burden_error.mean():.2f} median {frame.rr_burden_error.median():.2f} points")
    worst = frame.sort_values("window_specificity").head(6)
    print("\nlowest window specificity (with fusion):\n" + worst[["record", "fold", "non_af_windows", "non_af_called", "window_specificity"]].to_string(index=False))
    af = frame[frame.af_windows > 0]
    print("\nAF records (with fusion):\n" + af[["record", "fold", "af_windows", "af_called", "reference_burden_pct", "detected_burden_pct"]].to_string(index=False))

    if args.write_fusion:
        rows = pd.concat(val_rows.values())
        outside_test = rows.record.map(description.split).ne("test")
        fusion = fit_fusion(rows[outside_test])
        fusion.save(args.write_fusion, fitted_on=(f"MIT-BIH validation windows of the {args.folds}-fold cross-validation models "
                                                  f"(preset {args.preset!r}), records outside the standard test split"),
                    records=sorted(rows[outside_test].record.unique().tolist()), command="python benchmarks/holter_cv.py --write-fusion PATH")
        print(f"\nwrote {args.write_fusion} ({fusion.n_train_} windows of {rows[outside_test].record.nunique()} records)")


if __name__ == "__main__":
    main()
