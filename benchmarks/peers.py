"""Peers on the shared Holter data: a COSEn rule (Lake & Moorman 2011) on NeuroKit2 R-peaks, beside ecgshift.

    python benchmarks/peers.py [--sets mitdb aftdb afpdb] [--ecgshift runs/holter-recorders/records.csv]

COSEn (coefficient of sample entropy, Lake DE, Moorman JR. Accurate estimation of entropy in very short physiological
time series: the problem of atrial fibrillation detection in implanted ventricular devices. Am J Physiol Heart Circ
Physiol 300:H319-H325, 2011): on 16-beat RR segments, COSEn = SampEn(m = 1, r) + ln(2r) − ln(mean RR), RR and r in
seconds, r = 30 ms; a segment is AF when COSEn > −1.4 (the paper's threshold). Here each 10-s window of the same
non-overlapping grid as ``ecgshift holter`` gets the COSEn of the 16 RR intervals centred on it; R-peaks by NeuroKit2
(``ecg_clean`` + ``ecg_peaks``, its defaults) on channel 0. Nothing is fitted. Every window counts as analysable (the
rule has no quality gate).

Printed per set, beside ecgshift's figures from ``benchmarks/holter_recorders.py`` (same references, same windows):
burden MAE (points, AF time / analysable time), window sensitivity and specificity (windows ≥ 90 % / ≤ 10 % annotated
AF), balanced accuracy where a set has both, and time per hour of ECG. ``openecg`` is not run here (optional; not
installed in this environment).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_root  # noqa: E402
from holter_recorders import _reference  # noqa: E402

COSEN_R_S = 0.03
COSEN_THRESHOLD = -1.4
SEGMENT_BEATS = 16


def sample_entropy_m1(x: np.ndarray, r: float) -> float:
    """SampEn(m = 1, r) of a short series: −ln(A / B), B = pairs of points within r, A = pairs of 2-point templates
    within r (Chebyshev); NaN when no match (COSEn then undefined)."""
    x = np.asarray(x, float)
    n = x.size
    if n < 3:
        return float("nan")
    d1 = np.abs(x[:-1, None] - x[None, :-1])  # templates of length 1 (first n-1 points, as in SampEn)
    iu = np.triu_indices(n - 1, 1)
    b = np.sum(d1[iu] <= r)
    d2 = np.maximum(d1[:-1, :-1], np.abs(x[1:-1, None] - x[None, 1:-1]))  # length-2 templates (n-2 of them)
    iu2 = np.triu_indices(n - 2, 1)
    a = np.sum(d2[iu2] <= r)
    if a == 0 or b == 0:
        return float("nan")
    return float(-np.log(a / b))


def cosen(rr_s: np.ndarray, *, r_s: float = COSEN_R_S) -> float:
    """COSEn of one RR segment (seconds). Without a template match, SampEn is set to its bound for the segment's
    length (−ln(1 / (pairs))) — the most irregular value it could take — as AF segments are the ones without matches."""
    se = sample_entropy_m1(rr_s, r_s)
    if not np.isfinite(se):
        n = len(rr_s)
        se = float(np.log((n - 1) * (n - 2) / 2)) if n >= 3 else float("nan")
    return se + np.log(2 * r_s) - np.log(np.mean(rr_s))


def cosen_windows(peaks_s: np.ndarray, starts: np.ndarray, window_s: float = 10.0) -> np.ndarray:
    """AF (True) / not per window by the COSEn rule; False without enough beats."""
    rr = np.diff(peaks_s)
    mid = (peaks_s[:-1] + peaks_s[1:]) / 2
    out = np.zeros(starts.size, bool)
    for i, s in enumerate(starts):
        c = np.searchsorted(mid, s + window_s / 2)
        lo = max(0, c - SEGMENT_BEATS // 2)
        seg = rr[lo: lo + SEGMENT_BEATS]
        seg = seg[(seg > 0.2) & (seg < 3.0)]
        if seg.size >= 8:
            out[i] = cosen(seg) > COSEN_THRESHOLD
    return out


def run_set(set_name: str, folder: Path) -> pd.DataFrame:
    import neurokit2 as nk
    import wfdb

    from ecgshift.rhythm.episodes import covered_fraction

    rows = []
    for header in sorted(folder.glob("*.hea")):
        t0 = time.perf_counter()
        rec = wfdb.rdrecord(str(header.with_suffix("")), channels=[0])
        fs, x = float(rec.fs), np.nan_to_num(rec.p_signal[:, 0])
        duration = x.size / fs
        _, info = nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=fs), sampling_rate=fs)
        peaks = np.asarray(info["ECG_R_Peaks"], float) / fs
        starts = np.arange(int(duration // 10)) * 10.0
        is_af = cosen_windows(peaks, starts)
        seconds = time.perf_counter() - t0
        reference, _ = _reference(set_name, folder, header.stem, duration)
        frac = covered_fraction(reference, starts, starts + 10)
        analysable = 10.0 * starts.size
        rows.append({"set": set_name, "record": header.stem, "duration_s": duration, "seconds": seconds,
                     "ref_burden_pct": 100 * 10 * frac.sum() / analysable, "burden_pct": 100 * 10 * is_af.sum() / analysable,
                     "af_windows": int((frac >= 0.9).sum()), "af_windows_hit": int((is_af & (frac >= 0.9)).sum()),
                     "non_af_windows": int((frac <= 0.1).sum()), "non_af_windows_false": int((is_af & (frac <= 0.1)).sum())})
    return pd.DataFrame(rows)


def figures(part: pd.DataFrame) -> dict:
    se = part.af_windows_hit.sum() / part.af_windows.sum() if part.af_windows.sum() else float("nan")
    sp = 1 - part.non_af_windows_false.sum() / part.non_af_windows.sum() if part.non_af_windows.sum() else float("nan")
    return {"records": len(part), "burden MAE": float((part.burden_pct - part.ref_burden_pct).abs().mean()),
            "window Se": se, "window Sp": sp, "balanced acc": 0.5 * (se + sp),
            "s per h ECG": part.seconds.sum() / (part.duration_s.sum() / 3600)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=default_data_root())
    p.add_argument("--sets", nargs="*", default=["mitdb", "aftdb", "afpdb"])
    p.add_argument("--ecgshift", type=Path, default=Path("runs/holter-recorders/records.csv"))
    p.add_argument("--out", type=Path, default=Path("runs/peers.csv"))
    args = p.parse_args()
    frame = pd.concat([run_set(name, args.data_root / "hecg" / name) for name in args.sets], ignore_index=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    ours = pd.read_csv(args.ecgshift) if args.ecgshift.exists() else None
    rows = []
    for name in args.sets:
        groups = [("all", frame.set == name)]
        if name == "mitdb" and ours is not None:
            split = ours[ours.set == "mitdb"].set_index("record").split
            groups.append(("test", (frame.set == name) & frame.record.map(split.to_dict()).eq("test").to_numpy()))
        for label, mask in groups:
            part = frame[np.asarray(mask, bool)]
            rows.append({"set": f"{name} ({label})", "method": "COSEn (NeuroKit2 R-peaks)", **figures(part)})
            if ours is not None:
                mine = ours[(ours.set == name) & ours.record.isin(part.record)]
                rows.append({"set": f"{name} ({label})", "method": "ecgshift holter", **figures(mine)})
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
