"""Does uncertainty flag a modality the model never saw? Leave-one-modality-out (LOMO) shift detection.

For each modality M, a run trained on the other two (equal shares) scores held-out windows of
all three; "shifted" = windows of M, "in-distribution" = held-out windows of the trained
modalities. AUROC of each candidate score for telling them apart:
  mutual_info (MC Dropout epistemic), entropy (total predictive), mahalanobis_trunk (class-conditional
  Gaussian on the AF trunk's features, AF/SR classes: the product's shift score until 2026-11-22),
  mahalanobis_modality (the same on the modality network's features, modality classes: the product's
  shift_score since), modality (1 − max probability of the modality head over the trained
  modalities), modality_disagreement (mutual information between the modality ensemble's members),
  combined (mean of the two mahalanobis scores and the modality score after
  rank-normalizing each against the validation in-distribution windows).
Which score the product should use is decided on the VALIDATION windows; TEST figures are reported.

    python benchmarks/shift.py [--preset default-25ep] [--budget 8000] [--epochs 12] [--runs runs/lomo]

The runs use the preset's recipe (model, class shares, modality ensemble) with the given budget and epochs.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, modality_windows, parser  # noqa: E402

from ecgshift.mixing import parse_mix  # noqa: E402
from ecgshift.network import MODALITY_CLASSES  # noqa: E402
from ecgshift.predictor import load_model  # noqa: E402
from ecgshift.presets import preset_config  # noqa: E402
from ecgshift.training import fit  # noqa: E402
from ecgshift.uncertainty import mutual_information  # noqa: E402

SCORES = ("mutual_info", "entropy", "mahalanobis_trunk", "mahalanobis_modality", "modality", "modality_disagreement", "combined")


def _scores(model, x: np.ndarray, trained: list[str], reference: dict | None = None) -> dict[str, np.ndarray]:
    from ecgshift.inference import deterministic

    pred = model.predict_windows(x, mc=20, mc_scope="head")
    passes = deterministic(model.net, x)
    probs = torch.softmax(torch.from_numpy(passes.modality_logits), -1).numpy()
    cols = [MODALITY_CLASSES.index(m) for m in trained]
    return {"mutual_info": pred.mutual_info, "entropy": pred.entropy, "mahalanobis_trunk": model.density.score(passes.features),
            "mahalanobis_modality": model.modality_density.score(passes.modality_features), "modality": 1 - probs[:, cols].max(1),
            "modality_disagreement": _member_disagreement(model, passes.modality_features, cols)}


def _member_disagreement(model, modality_features: np.ndarray, cols: list[int]) -> np.ndarray:
    """Mutual information between the modality ensemble's members' probabilities over the trained modalities
    (deep-ensemble epistemic uncertainty of the modality task); NaN for a single modality network."""
    members = getattr(model.net.modality_net, "members", None)
    if members is None:
        return np.full(len(modality_features), np.nan)
    parts = torch.split(torch.from_numpy(modality_features), [m.n_features for m in members], dim=1)
    with torch.no_grad():
        probs = np.stack([torch.softmax(m.forward_head(f)[:, cols], -1).numpy() for m, f in zip(members, parts)])
    return mutual_information(probs)


def _rank(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.sort(reference), values) / max(1, len(reference))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--budget", type=int, default=8000)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--runs", type=Path, default=REPO / "runs" / "lomo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="default-25ep", help="training recipe of the runs (runs/lomo3: default-25ep)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    sets = modality_windows(args, labels=("SR", "AF", "other"))  # training uses the preset's 'other' negatives
    base = preset_config(args.preset)  # budget and epochs as given here
    rows = []
    for left_out in MODALITY_CLASSES:
        trained = [m for m in MODALITY_CLASSES if m != left_out]
        run = args.runs / f"without-{left_out}-seed{args.seed}"
        if not (run / "config.json").exists() or load_model(run).modality_density is None:  # runs from before 2026-11-22 lack it
            config = dataclasses.replace(base, mix=parse_mix({m: 1.0 for m in trained}), budget=args.budget, epochs=args.epochs, seed=args.seed)
            print(f"training {run.name} …", flush=True)
            fit(config, {m: sets[m] for m in trained}, run_dir=run)
        model = load_model(run)
        per_split = {}
        for split in ("val", "test"):
            scores_in, scores_out = [], None
            for m in MODALITY_CLASSES:
                part = sets[m].split(split)
                part = part.subset(part.table.label.isin(["AF", "SR"]).to_numpy())  # scored: AF and SR windows
                s = _scores(model, np.asarray(part.x), trained)
                if m == left_out:
                    scores_out = s
                else:
                    scores_in.append(s)
            scores_in = {k: np.concatenate([s[k] for s in scores_in]) for k in scores_in[0]}
            per_split[split] = (scores_in, scores_out)
        ref_in = per_split["val"][0]
        for split, (s_in, s_out) in per_split.items():
            for s in (s_in, s_out):
                s["combined"] = sum(_rank(s[k], ref_in[k]) for k in ("mahalanobis_trunk", "mahalanobis_modality", "modality")) / 3
            y = np.concatenate([np.zeros(len(s_in["entropy"])), np.ones(len(s_out["entropy"]))])
            row = {"left_out": left_out, "trained_on": "+".join(trained), "split": split, "n_in": len(s_in["entropy"]), "n_shifted": len(s_out["entropy"])}
            for name in SCORES:
                row[name] = roc_auc_score(y, np.concatenate([s_in[name], s_out[name]]))
            rows.append(row)
    frame = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    means = frame.groupby("split")[list(SCORES)].mean()
    print("\nmean AUROC over the three left-out modalities:")
    print(means.to_string(float_format=lambda v: f"{v:.3f}"))
    best = means.loc["val"].idxmax()
    print(f"\nbest on validation: {best}; its test AUROC: {means.loc['test', best]:.3f}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
