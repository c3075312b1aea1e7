"""One temperature, or one per modality? Calibration error of the shipped model on VALIDATION records only.

The validation records of each modality are split in half at random (MIT-BIH by record), ``--repeats``
times; a temperature is fitted on one half's windows and the record-level ECE (as benchmarks/accuracy.py
computes it) measured on the other half, both ways round:

* ``shipped``: the model's own temperature (fitted at training time on all validation windows, weighted by the mix);
* ``global``: one temperature refitted on the fitting half, modalities weighted by the model's mix shares;
* ``per_modality``: each modality's own temperature from its fitting half.

    python benchmarks/calibration.py [--model RUN] [--repeats 30]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser, predicted_windows, record_mean  # noqa: E402

from ecgshift.evaluation import expected_calibration_error  # noqa: E402
from ecgshift.inference import mc_passes  # noqa: E402
from ecgshift.mixing import parse_mix  # noqa: E402
from ecgshift.predictor import load_model  # noqa: E402
from ecgshift.uncertainty import fit_temperature  # noqa: E402


def _scored(model, windows) -> dict:
    """Per window: MC-Dropout logit samples at T = 1, the deterministic logit, label, record and split group."""
    part = windows.split("val")
    passes = mc_passes(model.net, np.asarray(part.x, np.float32), mc=20, mc_scope="head", temperature=1.0)
    p = np.clip(passes.samples[..., 1].astype(np.float64), 1e-7, 1 - 1e-7)
    records = part.table.record_id.astype(str).to_numpy()
    return {"z": np.log(p) - np.log1p(-p), "logit": passes.logits[:, 1] - passes.logits[:, 0],
            "y": (part.table.label.to_numpy() == "AF").astype(int), "group": records,
            "unit": records if windows.table.modality.iloc[0] == "tecg" else records + "#" + np.arange(len(records)).astype(str)}


def _fit(parts: list[dict], masks: list[np.ndarray], weights: list[float]) -> float:
    z = np.concatenate([d["logit"][m] for d, m in zip(parts, masks)])
    y = np.concatenate([d["y"][m] for d, m in zip(parts, masks)])
    w = np.concatenate([np.full(int(m.sum()), wt / max(1, m.sum())) for m, wt in zip(masks, weights)])
    return fit_temperature(np.stack([np.zeros_like(z), z], 1), y, weights=w)


def _ece(d: dict, temperature: float, mask: np.ndarray) -> float:
    """Record-level ECE (tECG: mean window p(AF) per record; rECG, hECG: windows) of the MC mean at ``temperature``."""
    p = (1.0 / (1.0 + np.exp(-d["z"][:, mask] / temperature))).mean(0)
    p_unit, _ = record_mean(p, d["unit"][mask])
    y_unit, _ = record_mean(d["y"][mask].astype(float), d["unit"][mask])
    return expected_calibration_error(y_unit.astype(int), p_unit)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.model)
    mix = parse_mix(model.config.mix)
    data = {m: _scored(model, ws) for m, ws in predicted_windows(args).items()}
    names = list(data)
    rng = np.random.default_rng(args.seed)
    rows = []
    for repeat in range(args.repeats):
        halves = {}
        for m, d in data.items():
            groups = np.unique(d["group"])
            halves[m] = np.isin(d["group"], rng.choice(groups, len(groups) // 2, replace=False))
        for side in (True, False):
            fit_mask = {m: halves[m] == side for m in names}
            refit = _fit([data[m] for m in names], [fit_mask[m] for m in names], [mix.get(m, 0.0) for m in names])
            for m in names:
                own = _fit([data[m]], [fit_mask[m]], [1.0])
                held_out = ~fit_mask[m]
                for scheme, temperature in (("shipped", model.temperature), ("global", refit), ("per_modality", own)):
                    rows.append({"modality": m, "scheme": scheme, "repeat": repeat, "temperature": temperature,
                                 "ece": _ece(data[m], temperature, held_out)})
    frame = pd.DataFrame(rows)
    table = frame.groupby(["modality", "scheme"]).agg(ece_mean=("ece", "mean"), ece_sd=("ece", "std"),
                                                      temperature_median=("temperature", "median")).reset_index()
    print(f"{args.repeats} random halvings of the validation records, fit on one half, ECE on the other (both ways):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
