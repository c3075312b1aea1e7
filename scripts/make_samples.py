"""Build the small set of real recordings bundled with ecgshift (src/ecgshift/assets/samples).

All are taken from the TEST splits, so the demo never shows the default model a
recording it was trained on. Run from the repo root with ../shared/data beside it:

    python scripts/make_samples.py --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import wfdb

OUT = Path(__file__).resolve().parents[1] / "src" / "ecgshift" / "assets" / "samples"
CINC = {"A00005": "AF", "A00087": "AF", "A00002": "SR", "A00011": "SR", "A00013": "other", "A00056": "noisy"}
PTBXL = {"318": "AF", "452": "AF", "9": "SR", "38": "SR"}
MITDB_EXCERPTS = {"219": (330.0, 630.0), "202": (1000.0, 1300.0), "116": (0.0, 300.0)}  # seconds: AF, mixed, sinus


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    root = parser.parse_args().data_root
    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "tecg").mkdir(parents=True)
    (OUT / "recg").mkdir()
    (OUT / "hecg").mkdir()
    rows = []
    for record, label in CINC.items():
        for ext in (".hea", ".dat"):
            shutil.copy(root / "tecg/cinc2017" / f"{record}{ext}", OUT / "tecg")
        rows.append(f"tecg/{record}.hea,tecg,{label},")
    for ecg_id, label in PTBXL.items():
        stem = f"{int(ecg_id):05d}_lr"
        for f in (root / "recg/ptbxl/records100/00000").glob(f"{stem}*"):
            shutil.copy(f, OUT / "recg")
        rows.append(f"recg/{stem}.hea,recg,{label},ptbxl-patient")
    for record, (start_s, end_s) in MITDB_EXCERPTS.items():
        src = root / "hecg/mitdb" / record
        rec = wfdb.rdrecord(str(src), sampfrom=int(start_s * 360), sampto=int(end_s * 360), physical=False)
        name = f"mitdb{record}_{int(start_s)}s"
        wfdb.wrsamp(name, fs=rec.fs, units=rec.units, sig_name=rec.sig_name, d_signal=rec.d_signal, fmt=rec.fmt,
                    adc_gain=rec.adc_gain, baseline=rec.baseline, write_dir=str(OUT / "hecg"),
                    comments=[f"excerpt {start_s:g}-{end_s:g} s of MIT-BIH record {record}"])
        ann = wfdb.rdann(str(src), "atr", sampfrom=int(start_s * 360), sampto=int(end_s * 360), shift_samps=True)
        # the rhythm in force at the excerpt start: the last rhythm change before it
        full = wfdb.rdann(str(src), "atr", sampto=int(start_s * 360) + 1)
        before = [n for n in full.aux_note if n.startswith("(")]
        sample, symbol, aux = list(ann.sample), list(ann.symbol), list(ann.aux_note)
        if before and not (sample and sample[0] == 0 and aux[0].startswith("(")):
            sample, symbol, aux = [0] + sample, ["+"] + symbol, [before[-1]] + aux
        wfdb.wrann(name, "atr", np.asarray(sample), symbol=symbol, aux_note=aux, fs=rec.fs, write_dir=str(OUT / "hecg"))
        rows.append(f"hecg/{name}.hea,hecg,,mitdb-{record}")
    (OUT / "manifest.csv").write_text("path,modality,label,patient_id\n" + "\n".join(rows) + "\n")
    print(f"wrote {len(rows)} recordings to {OUT}")


if __name__ == "__main__":
    main()
