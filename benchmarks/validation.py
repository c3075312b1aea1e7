"""The figures of benchmarks/accuracy.py on the VALIDATION splits: what model choices are made on.

``<modality>_other_spec``: share of non-AF, non-sinus units (CinC 'O' records, PTB-XL other rhythms,
MIT-BIH windows of other rhythms with no AF) called non-AF: what a Holter or a screening device also meets.

tECG records are scored from half-overlapping windows, as the product predicts recordings under 5 min
(``--no-tecg-overlap``: non-overlapping windows, as the model-selection table of docs/model-card.md was).

    python benchmarks/validation.py --model RUN [--model RUN2 ...] [--no-tecg-overlap]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_root, other_rhythm_specificity, predicted_windows, record_mean  # noqa: E402

from ecgshift.evaluation import binary_metrics  # noqa: E402
from ecgshift.predictor import load_model  # noqa: E402


def evaluate(model, sets, split: str = "val", mc: int = 20) -> dict:
    out = {}
    for modality, ws in sets.items():
        everything = ws.split(split)
        pred_all = model.predict_windows(np.asarray(everything.x), mc=mc, mc_scope="head")
        out[f"{modality}_other_spec"] = other_rhythm_specificity(pred_all.p_af, everything.table, modality)[0]
        keep = everything.table.label.isin(["AF", "SR"]).to_numpy()
        part = everything.subset(keep)
        y = (part.table.label.to_numpy() == "AF").astype(int)
        p = pred_all.p_af[keep]
        if modality == "tecg":
            p, _ = record_mean(p, part.table.record_id.to_numpy())
            y = record_mean(y.astype(float), part.table.record_id.to_numpy())[0].astype(int)
        m = binary_metrics(y, p, n_boot=50)
        out.update({f"{modality}_acc": m.accuracy.value, f"{modality}_sens": m.sensitivity.value, f"{modality}_spec": m.specificity.value,
                    f"{modality}_auroc": m.auroc.value, f"{modality}_ece": m.ece.value,
                    f"{modality}_modality_acc": float(np.mean(pred_all.modality[keep] == modality))})
    return out


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, action="append", required=True)
    p.add_argument("--data-root", type=Path, default=default_data_root())
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--split", default="val")
    p.add_argument("--no-tecg-overlap", action="store_true", help="score tECG records from non-overlapping windows")
    args = p.parse_args()
    torch.set_num_threads(2)
    sets = predicted_windows(args, labels=("SR", "AF", "other"), tecg_overlap=not args.no_tecg_overlap)
    rows = {str(run): evaluate(load_model(run), sets, args.split) for run in args.model}
    pd.set_option("display.width", 250)
    print(pd.DataFrame(rows).T.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
