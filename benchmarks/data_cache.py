"""Benchmark: the prepared-window cache, and memory when reading long recordings.

Prints two tables:

1. per waveform dataset (cinc2017, ptbxl, mitdb, all records): the cold build
   time of its cache entry (description + harmonize + window + write) in a fresh
   temporary cache, the warm time of the same call (key check + memory-mapped
   load), and the peak RSS of the process doing it;
2. time and peak RSS of (a) reading the longest waveform record whole,
   (b) streaming it with ``stream_chunks``, (c) reading the annotations of the
   longest annotation-only record (LTAFDB), and (d) streaming a synthetic 24-h,
   2-lead, 360-Hz WFDB record (format 212, written with ``wfdb.wrsamp``) —
   the case the streaming path exists for: its peak must stay bounded — with
   (e) reading that record whole, for contrast.

Every measurement runs in its own subprocess and reads its peak RSS from
``resource.getrusage`` (``ru_maxrss``), so one measurement's memory does not
hide another's; "baseline" is the peak RSS after the imports, before the work.

Run: ``python benchmarks/data_cache.py [--data-root ../shared/data] [--workers N]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(os.environ.get("ECGSHIFT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
WAVEFORM_DATASETS = ("cinc2017", "ptbxl", "mitdb")
SYNTHETIC_HOURS = 24
SYNTHETIC_FS = 360
SYNTHETIC_GAIN = 200.0  # ADC units per mV, as in MIT-BIH


# --- measurements: each runs in a fresh subprocess ---------------------------------------------------


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: kilobytes


def _measure(kind: str, target: str, extra: dict) -> dict:
    import numpy as np  # noqa: F401  (imports first, so that the baseline includes them)

    from ecgshift import io
    from ecgshift.cache import cached_description, load_windows, prepare
    from ecgshift.datasets import load_dataset
    from ecgshift.preprocess import HarmonizeConfig
    from ecgshift.windows import stream_chunks

    baseline = _peak_mb()
    start = time.perf_counter()
    out: dict = {}
    if kind == "prepare":
        dataset = load_dataset(target, data_root=extra["data_root"])
        cold = prepare(dataset, cache_dir=extra["cache"], workers=extra["workers"])
        warm_start = time.perf_counter()
        warm = prepare(dataset, cache_dir=extra["cache"], workers=extra["workers"])
        warm_s = time.perf_counter() - warm_start
        load_start = time.perf_counter()
        windows, _ = load_windows(warm.path)
        load_s = time.perf_counter() - load_start
        assert cold.built and not warm.built and len(windows) == len(cold.windows)
        description = cached_description(dataset, cache_dir=extra["cache"])
        longest = description.loc[description.duration_s.idxmax()]
        out = {"longest": str(dataset.root / longest.path), "longest_s": float(longest.duration_s),"cold_s": cold.seconds, "warm_s": warm_s, "load_s": load_s, "records": cold.n_records,
               "rejected": len(cold.rejected), "windows": len(cold.windows),
               "cache_mb": sum(f.stat().st_size for f in Path(cold.path).iterdir()) / 1e6,
               "children_peak_mb": _peak_mb(resource.RUSAGE_CHILDREN)}
    elif kind == "read":
        record = io.read(target, allow_nan=extra.get("allow_nan", False))
        out = {"what": f"{record.n_leads} × {record.n_samples:,} samples, {record.signal.nbytes / 1e6:.1f} MB float32"}
    elif kind == "stream":
        n, gaps, chunks, biggest = 0, 0, 0, 0
        for chunk in stream_chunks(target, config=HarmonizeConfig(), chunk_s=extra.get("chunk_s", 600.0)):
            n += len(chunk.windows)
            gaps += int((chunk.windows.valid_fraction < 1).sum())
            chunks += 1
            biggest = max(biggest, chunk.raw.n_samples)  # the windows are dropped: a consumer would predict on them
        out = {"what": f"{n:,} windows ({gaps} with gaps) in {chunks} chunks of ≤ {biggest:,} samples"}
    elif kind == "annotations":
        record = io.read(target)
        out = {"what": f"{len(record.beats):,} beats, {len(record.rhythms):,} rhythm intervals, {record.duration_s / 3600:.1f} h"}
    elif kind == "write-synthetic":
        out = {"what": _write_synthetic(Path(target))}
    else:
        raise ValueError(kind)
    out.update(seconds=time.perf_counter() - start, baseline_mb=baseline, peak_mb=_peak_mb())
    return out


def _write_synthetic(folder: Path) -> str:
    """A 24-h, 2-lead, 360-Hz ECG-like record (beats with RR variability, baseline wander, noise, one 60-s dropout)."""
    import numpy as np
    import wfdb
    from scipy.signal import fftconvolve

    fs, n = SYNTHETIC_FS, SYNTHETIC_HOURS * 3600 * SYNTHETIC_FS
    rng = np.random.default_rng(24)
    rr = 0.85 + 0.05 * np.sin(np.arange(200_000) / 50) + 0.03 * rng.standard_normal(200_000)
    beats = (np.cumsum(rr) * fs).astype(np.int64)
    beats = beats[beats < n]
    t = np.arange(-0.2, 0.6, 1 / fs)
    template = 1.2 * np.exp(-0.5 * (t / 0.012) ** 2) - 0.15 * np.exp(-0.5 * ((t - 0.03) / 0.01) ** 2) + 0.3 * np.exp(-0.5 * ((t - 0.3) / 0.05) ** 2)
    digital = np.empty((n, 2), np.int16)
    hour = 3600 * fs
    for lo in range(0, n, hour):  # one hour at a time: the writer's own memory stays moderate
        hi = min(n, lo + hour)
        impulses = np.zeros(hi - lo + template.size)
        impulses[beats[(beats >= lo) & (beats < hi)] - lo] = 1.0
        ecg = fftconvolve(impulses, template)[int(0.2 * fs) : int(0.2 * fs) + hi - lo]
        time_s = np.arange(lo, hi) / fs
        wander = 0.15 * np.sin(2 * np.pi * 0.25 * time_s)
        for lead, scale in enumerate((1.0, 0.6)):
            mv = scale * ecg + wander + 0.02 * rng.standard_normal(hi - lo)
            digital[lo:hi, lead] = np.clip(np.round(mv * SYNTHETIC_GAIN), -2047, 2047)
    gap = 12 * hour
    digital[gap : gap + 60 * fs] = -2048  # format 212's "no sample" value: a 60-s dropout at 12 h
    wfdb.wrsamp("synthetic24h", fs=fs, units=["mV", "mV"], sig_name=["MLII", "V1"], d_signal=digital,
                fmt=["212", "212"], adc_gain=[SYNTHETIC_GAIN] * 2, baseline=[0, 0], write_dir=str(folder))
    size = (folder / "synthetic24h.dat").stat().st_size
    return f"{n:,} samples × 2 leads, .dat {size / 1e6:.0f} MB"


def _run(kind: str, target: str | Path, **extra) -> dict:
    """One measurement in a fresh interpreter; its result as a dict."""
    command = [sys.executable, __file__, "--measure", kind, "--target", str(target), "--extra", json.dumps(extra, default=str)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} {target} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the report --------------------------------------------------------------------------------------


def _table(title: str, header: list[str], rows: list[list[str]], *, text_columns: int = 1) -> str:
    """Plain-text table: the first ``text_columns`` and the last column left-aligned, numbers right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    last = len(header) - 1

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < text_columns or (i == last and text_columns > 1) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([title, line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _longest(folder: Path) -> Path:
    """The longest record of an annotation-only folder, by header length (first on ties)."""
    from ecgshift import io

    return max(sorted(folder.glob("*.hea")), key=lambda p: io.info(p).duration_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--extra", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure, args.target, json.loads(args.extra))))
        return

    from ecgshift import io
    from ecgshift.datasets import find_root

    root = args.data_root
    print(f"ecgshift data cache benchmark — {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, workers={args.workers}, load average at start {os.getloadavg()[0]:.1f}")
    print(f"data root: {root}\n")

    rows, longest = [], []
    with tempfile.TemporaryDirectory(prefix="ecgshift-bench-cache-") as cache:
        for name in WAVEFORM_DATASETS:
            r = _run("prepare", name, data_root=root, cache=cache, workers=args.workers)
            longest.append((r["longest_s"], r["longest"]))
            rows.append([name, f"{r['records']:,}", f"{r['rejected']:,}", f"{r['windows']:,}", f"{r['cache_mb']:.1f}",
                         f"{r['cold_s']:.1f}", f"{r['warm_s']:.2f}", f"{r['load_s']:.3f}",
                         f"{r['peak_mb']:.0f}", f"{r['children_peak_mb']:.0f}"])
    print(_table("Cache: cold build (fresh cache dir) and warm load, per waveform dataset",
                 ["dataset", "records", "rejected", "windows", "entry MB", "cold s", "warm s", "load_windows s",
                  "peak RSS MB", "workers' peak MB"], rows))
    print()

    longest_wave = Path(max(longest, key=lambda item: item[0])[1])  # of all records of the three datasets
    longest_ann = _longest(find_root(root, "ltafdb"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="ecgshift-bench-24h-") as folder:
        written = _run("write-synthetic", folder)
        synthetic = Path(folder) / "synthetic24h.hea"
        cases = [
            ("(a) read whole", longest_wave, "read", {}),
            ("(b) stream, 600-s chunks", longest_wave, "stream", {}),
            ("(c) annotations only", longest_ann, "annotations", {}),
            ("(d) synthetic 24 h: stream", synthetic, "stream", {}),
            ("(e) synthetic 24 h: read whole", synthetic, "read", {"allow_nan": True}),  # for contrast: what streaming avoids
        ]
        for label, path, kind, extra in cases:
            r = _run(kind, path, **extra)
            duration_h = io.info(path).duration_s / 3600
            rows.append([label, f"{path.parent.name}/{path.stem}" if path != synthetic else "synthetic24h (212)",
                         f"{duration_h:.2f}", f"{r['seconds']:.1f}", f"{r['baseline_mb']:.0f}", f"{r['peak_mb']:.0f}",
                         f"{r['peak_mb'] - r['baseline_mb']:.0f}", r["what"]])
    print(_table("Memory: peak RSS of one process per case (baseline = after imports)",
                 ["case", "record", "hours", "seconds", "baseline MB", "peak MB", "peak − baseline MB", "what"], rows,
                 text_columns=2))
    print(f"\nsynthetic record written in {written['seconds']:.1f} s ({written['what']}; writer peak {written['peak_mb']:.0f} MB)")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
