"""Write a run folder's conformal calibration (``conformal.json``, see :mod:`ecgshift.conformal`) from its VALIDATION
splits: CinC 2017 (tECG, records: mean p(AF) of half-overlapping windows, as ``ecgshift predict`` scores a
recording under 5 min), PTB-XL fold 9 (rECG, one window per record) and the MIT-BIH validation records (hECG,
10-s windows by the 90 % rule, the network's p(AF)); AF and SR units only. MC Dropout T = 20, fast path, the run's
temperature — as the product predicts.

    python scripts/conformal_calibrate.py [--model RUN] [--data-root ../shared/data] [--mc 20]

Without ``--model`` it writes into the shipped default model's folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import parser, predicted_windows  # noqa: E402

from ecgshift.conformal import calibrate_windows, save_conformal  # noqa: E402
from ecgshift.predictor import default_model_path, load_model  # noqa: E402


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--mc", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(2)
    run = args.model or default_model_path()
    model = load_model(run)
    windows = {m: ws.split("val") for m, ws in predicted_windows(args, config=model.harmonize).items()}
    calibration = calibrate_windows(model, windows, mc=args.mc, source=f"validation splits, MC Dropout T={args.mc} (fast path)")
    path = save_conformal(run, calibration)
    print(calibration.table().to_string(index=False))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
