"""Validation only: does a per-modality decision threshold, or another record aggregation, pay? (shipped model)

    python benchmarks/decision_rules.py [--model RUN] [--data-root ../shared/data] [--halvings 20]

For each modality's VALIDATION split (AF vs SR; tECG at record level from half-overlapping windows, as
``ecgshift predict`` scores it; rECG and hECG per window) it prints AUROC and balanced accuracy at 0.5, the
threshold that maximizes balanced accuracy, and — the honest check — over ``--halvings`` random halvings, the
balanced accuracy on one half of a threshold chosen on the other half, beside 0.5's on that half. tECG records
are also aggregated by median, mean logit and max of their windows' p(AF) instead of the mean.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser, predicted_windows, record_mean  # noqa: E402

from ecgshift.evaluation import binary_metrics  # noqa: E402
from ecgshift.predictor import load_model  # noqa: E402

THRESHOLDS = np.round(np.linspace(0.05, 0.95, 91), 3)


def _bacc(y: np.ndarray, p: np.ndarray, t: float) -> float:
    return binary_metrics(y, p, threshold=t, n_boot=0).balanced_accuracy.value


def _best(y: np.ndarray, p: np.ndarray) -> float:
    return float(max(THRESHOLDS, key=lambda t: _bacc(y, p, t)))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--halvings", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.model)
    sets = predicted_windows(args, labels=("SR", "AF"), config=model.harmonize)
    rng = np.random.default_rng(0)
    rows = []
    for modality, ws in sets.items():
        val = ws.split("val")
        p_af = model.predict_windows(np.asarray(val.x), mc=20).p_af
        y = (val.table.label.to_numpy() == "AF").astype(int)
        groups = val.table.record_id.to_numpy()
        if modality == "tecg":
            keys = np.unique(groups)
            series = pd.Series(p_af).groupby(groups)
            logit = np.log(np.clip(p_af, 1e-6, 1 - 1e-6) / np.clip(1 - p_af, 1e-6, 1))
            rules = {"mean p": record_mean(p_af, groups)[0], "median p": series.median().reindex(keys).to_numpy(),
                     "mean logit": 1 / (1 + np.exp(-record_mean(logit, groups)[0])), "max p": series.max().reindex(keys).to_numpy()}
            y = record_mean(y.astype(float), groups)[0].astype(int)
        else:
            rules = {"window p": p_af}
        for name, q in rules.items():
            held_tuned, held_half, chosen = [], [], []
            for _ in range(args.halvings):
                half = rng.permutation(len(y))
                a, b = half[: len(y) // 2], half[len(y) // 2:]
                t = _best(y[a], q[a])
                chosen.append(t)
                held_tuned.append(_bacc(y[b], q[b], t))
                held_half.append(_bacc(y[b], q[b], 0.5))
            m = binary_metrics(y, q, n_boot=0)
            rows.append({"modality": modality, "rule": name, "n": len(y), "n_af": int(y.sum()), "auroc": round(m.auroc.value, 4),
                         "bacc@0.5": round(m.balanced_accuracy.value, 4), "best_t": _best(y, q),
                         "t_on_halves": f"{np.mean(chosen):.2f}±{np.std(chosen):.2f}",
                         "held_out_bacc_tuned": round(float(np.mean(held_tuned)), 4), "held_out_bacc_0.5": round(float(np.mean(held_half)), 4)})
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
