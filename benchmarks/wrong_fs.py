"""How often the sampling-rate check (ecgshift.plausibility) flags real records, and records read at a wrong fs.

Every record of CinC 2017 (tECG), PTB-XL (rECG, its 100 Hz and 500 Hz files) and MIT-BIH (hECG, the first
``max_s`` of each) is read, then checked at its true rate (factor 1: a flag is a false alarm) and at
``factor`` × its rate (0.2 = a CSV given ``--fs 60`` for a 300 Hz device). A wrong rate outside 50–20,000 Hz
is already rejected by the readers (``ecgshift.io.checks.check_fs``), and one that makes a record shorter than
the model's minimum (PTB-XL's 10 s at 5× its rate) by ``ecgshift predict``: both are counted apart.

    python benchmarks/wrong_fs.py [--limit N] [--factors 0.2,0.5,1,2,5]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser  # noqa: E402

from ecgshift import io  # noqa: E402
from ecgshift.errors import BadInputError  # noqa: E402
from ecgshift.io.checks import MAX_FS, MIN_FS  # noqa: E402
from ecgshift.plausibility import RateCheckConfig, check_sampling_rate  # noqa: E402
from ecgshift.predictor import load_model  # noqa: E402
from ecgshift.preprocess import Harmonizer, choose_lead  # noqa: E402

DATASETS = {"tECG CinC 2017": ("tecg/cinc2017", "A*.hea"), "rECG PTB-XL": ("recg/ptbxl", "*.hea"),
            "hECG MIT-BIH": ("hecg/mitdb", "*.hea")}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--limit", type=int, default=0, help="records per dataset, drawn at random with seed 0 (0: all)")
    p.add_argument("--factors", default="0.2,0.5,1,2,5")
    args = p.parse_args()
    factors = [float(f) for f in args.factors.split(",")]
    config = RateCheckConfig()
    harmonize = load_model(args.model).harmonize
    harmonizer = Harmonizer(harmonize)
    rows, t0 = [], time.perf_counter()
    for name, (folder, pattern) in DATASETS.items():
        files = sorted((args.data_root / folder).rglob(pattern))
        if args.limit:
            files = [files[i] for i in sorted(np.random.default_rng(0).choice(len(files), min(args.limit, len(files)), replace=False))]
        for path in files:
            try:
                record = io.read(path, end_s=config.max_s + 10.0)
            except BadInputError:
                continue
            lead = choose_lead(record.leads, lead=harmonize.lead)
            for factor in factors:
                fs = record.fs * factor
                row = {"dataset": name, "record": path.stem, "true_fs": record.fs, "factor": factor}
                if not MIN_FS <= fs <= MAX_FS:
                    rows.append({**row, "outcome": "rejected: fs out of range"})
                    continue
                if record.signal.shape[1] / fs < harmonize.min_s:
                    rows.append({**row, "outcome": f"rejected: shorter than {harmonize.min_s:g} s"})
                    continue
                stretched = record.replace(fs=fs)
                check = check_sampling_rate(stretched, harmonizer(stretched), lead=lead, config=config)
                outcome = "flagged: too high" if "too high" in check.problem else "flagged: too low" if check.problem else "passed"
                rows.append({**row, "outcome": outcome, "r_width_ms": check.r_width_s * 1e3, "heart_rate_bpm": check.heart_rate_bpm})
    frame = pd.DataFrame(rows)
    print(f"{frame.record.nunique()} records ({frame.groupby('dataset').record.nunique().to_dict()}), "
          f"{len(frame)} checks in {time.perf_counter() - t0:.0f} s")
    frame["caught"] = frame.outcome != "passed"
    index = ["dataset", "true_fs"]
    table = frame.pivot_table(index=index, columns="factor", values="caught", aggfunc="mean")
    counts = frame.pivot_table(index=index, columns="factor", values="caught", aggfunc="size")
    print("\nshare of records flagged or rejected (factor 1: false alarms; else: wrong rates caught)")
    print(table.map(lambda v: f"{v:.1%}").to_string())
    print("\nrecords checked per cell")
    print(counts.to_string())
    print("\noutcomes")
    print(frame.groupby(["dataset", "factor", "outcome"]).size().unstack(fill_value=0).to_string())
    print("\nat the true rate: R-wave width (ms) and heart rate (bpm) percentiles")
    true = frame[frame.factor == 1.0]
    print(true.groupby("dataset")[["r_width_ms", "heart_rate_bpm"]].quantile([0.001, 0.01, 0.5]).unstack().round(1).to_string())
    print("\nfalse alarms (factor 1):")
    print(true[true.caught][["dataset", "record", "outcome", "r_width_ms", "heart_rate_bpm"]].round(1).to_string(index=False) or "none")


if __name__ == "__main__":
    main()
