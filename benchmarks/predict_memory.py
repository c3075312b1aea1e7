"""Peak memory of ``ecgshift predict`` on a long recording, as a user runs it (a subprocess), by recording length.

    python benchmarks/predict_memory.py [--data-root ../shared/data] [--hours 1 24 72] [--keep DIR]

The test recording: MIT-BIH record 201 (30 min, 360 Hz, 2 leads, AF in three episodes) tiled end to end to
each length and written as one WFDB format-16 record (header and interleaved int16 samples written directly, so
building it needs no more memory than one copy of the record). Each length runs ``ecgshift predict <record>
--mc 20`` in a fresh process; its peak RSS (``ru_maxrss`` of the child) and wall time are printed. Memory that
stays flat with length is the point (target for 72 h: ≤ 600 MB). Source: MIT-BIH Arrhythmia Database (Moody &
Mark 2001, PhysioNet, ODC-By 1.0).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import wfdb


def build(record: Path, hours: float, folder: Path) -> Path:
    """``record`` tiled to ``hours`` as ``folder/long<h>h.hea`` + ``.dat`` (format 16)."""
    src = wfdb.rdrecord(str(record.with_suffix("")), physical=False)
    digital = np.asarray(src.d_signal, dtype="<i2")  # samples × leads, already int16 range for format 212
    n_total = int(hours * 3600 * src.fs)
    name = f"long{hours:g}h"
    with open(folder / f"{name}.dat", "wb") as handle:
        written = 0
        while written < n_total:
            part = digital[: n_total - written]
            handle.write(np.ascontiguousarray(part).tobytes())
            written += len(part)
    lines = [f"{name} {src.n_sig} {src.fs:g} {n_total}"]
    for i in range(src.n_sig):
        lines.append(f"{name}.dat 16 {src.adc_gain[i]:g}/{src.units[i]} 11 {src.baseline[i]} 0 0 0 {src.sig_name[i]}")
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / f"{name}.hea"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    p.add_argument("--hours", type=float, nargs="+", default=[1.0, 24.0, 72.0])
    p.add_argument("--keep", type=Path, default=None)
    args = p.parse_args()
    source = args.data_root / "hecg" / "mitdb" / "201.hea"
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{'hours':>6} {'windows':>8} {'wall s':>8} {'peak RSS MB':>12}  status")
        for hours in args.hours:
            path = build(source, hours, folder)
            out = folder / f"{path.stem}.csv"
            code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
                    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
            started = time.perf_counter()
            run = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "ecgshift.cli", "predict", str(path), "--mc", "20",
                                  "--out", str(out)], capture_output=True, text=True)
            wall = time.perf_counter() - started
            peak_mb = int(run.stdout.strip().splitlines()[-1]) / 1024
            import pandas as pd

            row = pd.read_csv(out).iloc[0]
            print(f"{hours:6g} {int(row.n_windows):8d} {wall:8.1f} {peak_mb:12.0f}  {row.status}")
            path.with_suffix(".dat").unlink()


if __name__ == "__main__":
    main()
