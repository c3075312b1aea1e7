"""The default model on the public TEST splits, per modality, with 95 % bootstrap CIs.

- tECG: CinC 2017 test split, A vs N, record level (mean p(AF) of half-overlapping windows, as the product
  predicts recordings under 5 min); CIs over records.
- rECG: PTB-XL fold 10, lead I, AF vs SR (one 10-s window per record).
- hECG: MIT-BIH test records, 10-s windows (AF / SR by the 90 % rule); CIs by record (cluster bootstrap).
Also ECE before / after temperature scaling, modality-recognition accuracy per modality,
the referral rule (share referred and accuracy of the non-referred), and the specificity on
'other' rhythms (non-AF, non-sinus: CinC 'O' records, PTB-XL other rhythms, MIT-BIH windows of
other rhythms with no AF), which the AF-vs-SR figures leave out.
hECG is also scored as the product decides it ('hecg+rhythm'): MIT-BIH records are 30 min long, so
`ecgshift predict` and `ecgshift holter` fuse the network's p(AF) with the rhythm evidence of each
window (R-peaks of each 10-min chunk ± 25 s, ectopic beats, RR features) by the shipped
:class:`ecgshift.rhythm.RhythmFusion` (fitted on cross-validated predictions of MIT-BIH records
outside the test split); this row runs ``ecgshift.batch.predict_path`` on each test record.

    python benchmarks/accuracy.py [--model RUN] [--mc 20]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import other_rhythm_specificity, parser, predicted_windows, record_mean  # noqa: E402

from ecgshift.batch import predict_path  # noqa: E402
from ecgshift.pipeline import PipelineConfig  # noqa: E402
from ecgshift.evaluation import binary_metrics, expected_calibration_error  # noqa: E402
from ecgshift.inference import deterministic  # noqa: E402
from ecgshift.predictor import load_model  # noqa: E402
from ecgshift.rhythm.fusion import default_fusion  # noqa: E402


def product_p_af(model, table: pd.DataFrame, mitdb, *, mc: int, fast: bool) -> np.ndarray:
    """p(AF) of MIT-BIH windows (``table``: record_id, start_s) as `ecgshift predict` gives it (rhythm fusion)."""
    out, fusion = np.full(len(table), np.nan), default_fusion()
    for record, idx in table.groupby(table.record_id.astype(str)).indices.items():
        result = predict_path(model, mitdb / f"{record}.hea", config=PipelineConfig(mc=mc, mc_scope="head" if fast else "full"), fusion=fusion)
        if result.analysis is None or result.predictions.decided_by != "network+rhythm":
            raise SystemExit(f"{record}: not decided with the rhythm fusion ({result.status})")
        pred = result.predictions
        wanted = table.start_s.to_numpy(float)[idx]
        at = np.minimum(np.searchsorted(pred.start_s, wanted), len(pred) - 1)
        found = np.isclose(pred.start_s[at], wanted)  # the others were excluded by the product's quality gate
        out[idx[found]] = pred.p_af[at[found]]
    return out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--mc", type=int, default=20)
    p.add_argument("--full-mc", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(2)
    started = time.perf_counter()
    model = load_model(args.model)
    sets = predicted_windows(args, labels=("SR", "AF", "other"), config=model.harmonize)  # every tECG figure: overlapping windows
    rows, extra = [], []
    for modality, ws in sets.items():
        everything = ws.split("test")
        pred_all = model.predict_windows(np.asarray(everything.x), mc=args.mc, mc_scope="full" if args.full_mc else "head")
        other_spec, n_other = other_rhythm_specificity(pred_all.p_af, everything.table, modality)
        af_or_sr = everything.table.label.isin(["AF", "SR"]).to_numpy()
        test = everything.subset(af_or_sr)
        y = (test.table.label.to_numpy() == "AF").astype(int)
        pred = pred_all.subset(af_or_sr)
        raw = torch.softmax(torch.from_numpy(deterministic(model.net, np.asarray(test.x)).logits), -1).numpy()[:, 1]
        groups = test.table.record_id.to_numpy()
        if modality == "tecg":  # record level
            p_rec, keys = record_mean(pred.p_af, groups)
            raw_rec, _ = record_mean(raw, groups)
            y_rec, _ = record_mean(y.astype(float), groups)
            m = binary_metrics(y_rec.astype(int), p_rec)
            ece_raw = expected_calibration_error(y_rec.astype(int), raw_rec)
            unit = f"records ({len(keys)})"
        else:
            m = binary_metrics(y, pred.p_af, groups=groups if modality == "hecg" else None)
            ece_raw = expected_calibration_error(y, raw)
            unit = f"windows ({len(y)}, {len(np.unique(groups))} records)"
        keep = ~pred.refer
        acc_kept = float(np.mean((pred.p_af[keep] >= 0.5) == y[keep])) if keep.any() else float("nan")
        modality_acc = float(np.mean(pred.modality == modality))
        rows.append({
            "modality": modality, "unit": unit, "n_af": m.n_af, "n": m.n,
            "accuracy": str(m.accuracy), "balanced_acc": str(m.balanced_accuracy), "sensitivity": str(m.sensitivity), "specificity": str(m.specificity),
            "auroc": str(m.auroc), "ece_raw": round(ece_raw, 4), "ece_scaled": str(m.ece),
        })
        if modality == "hecg":
            p_product = product_p_af(model, test.table, args.data_root / "hecg" / "mitdb", mc=args.mc, fast=not args.full_mc)
            scored = np.isfinite(p_product)  # windows the product's quality gate excludes are not scored
            fm = binary_metrics(y[scored], p_product[scored], groups=groups[scored])
            rows.append({"modality": "hecg+rhythm", "unit": f"windows ({int(scored.sum())}; {int((~scored).sum())} excluded by the quality gate)", "n_af": fm.n_af, "n": fm.n, "accuracy": str(fm.accuracy), "balanced_acc": str(fm.balanced_accuracy),
                         "sensitivity": str(fm.sensitivity), "specificity": str(fm.specificity), "auroc": str(fm.auroc),
                         "ece_raw": float("nan"), "ece_scaled": str(fm.ece)})
        extra.append({
            "modality": modality, "modality_recognition_acc": round(modality_acc, 4),
            "referred_share": round(float(pred.refer.mean()), 4), "acc_non_referred_windows": round(acc_kept, 4),
            "acc_all_windows": round(float(np.mean((pred.p_af >= 0.5) == y)), 4),
            "mean_mutual_info": float(pred.mutual_info.mean()), "mean_shift_score": float(np.median(pred.shift_score)),
            "other_rhythm_spec": round(other_spec, 4), "n_other": n_other,
        })
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    print(f"model: {model}  (MC Dropout T={args.mc}, {'full' if args.full_mc else 'fast head-only'} path; temperature {model.temperature:.3f})")
    print(pd.DataFrame(rows).to_string(index=False))
    print()
    print(pd.DataFrame(extra).to_string(index=False))
    print(f"\n(values: point [95% bootstrap CI]; {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
