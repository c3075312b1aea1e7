"""Polar H10 chest-strap ECG text exports (Polar Sensor Logger style ``.txt``).

Layout: a semicolon-separated header, then one sample per line::

    Phone timestamp;sensor timestamp [ns];timestamp [ms];ecg [uV]
    2023-03-01T10:12:33.123;599618499845993345;0.0;-123
    2023-03-01T10:12:33.123;599618499853685653;7.692;-115

* The ECG column is the one whose name starts with ``ecg``; its bracketed
  unit (``[uV]``, ``[mV]``) gives the unit, converted to mV. Lead name: 'ECG'
  (the H10 records one chest lead).
* fs is derived from the timestamps (the H10 samples at a nominal 130 Hz): 1 /
  the median step of ``sensor timestamp [ns]``, else of ``timestamp [ms]``,
  rounded to 0.001 Hz. Timestamps that go backwards are refused; steps longer than 1.5
  median steps are Bluetooth drop-outs: the samples either side are joined, and
  a note gives their number and total length.
* Start time: the first ``Phone timestamp`` (the phone's clock when the first
  batch arrived, ISO 8601, no time zone).
"""

from __future__ import annotations

import datetime as _dt
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift.errors import BadInputError
from ecgshift.io.channels import ChannelSelection, ecg_channels
from ecgshift.io.checks import check_fs, check_signal, sample_range, to_millivolts
from ecgshift.io.info import RecordInfo
from ecgshift.record import Record

__all__ = ["read_polar", "polar_info", "GAP_STEPS"]

#: A timestamp step longer than this many median steps is a drop-out (lost samples).
GAP_STEPS = 1.5
_UNIT = re.compile(r"\[\s*([^\]]*?)\s*\]")
_TIME_COLUMNS = (("sensor timestamp", 1e-9), ("timestamp [ms]", 1e-3))


@dataclass(frozen=True)
class _Export:
    fs: float
    ecg: np.ndarray
    selection: ChannelSelection
    start_time: _dt.datetime | None
    notes: tuple[str, ...]


def _parse(path: Path, channel: str | None) -> _Export:
    if not path.is_file():
        raise BadInputError(path, "file not found")
    try:
        with path.open("r", encoding="utf-8-sig") as f:
            header = f.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"unreadable text file ({type(exc).__name__})") from None
    names = [c.strip() for c in header.strip().split(";")]
    ecg_names = [n for n in names if n.lower().startswith("ecg")]
    if not ecg_names:
        raise BadInputError(path, f"Polar export without an ecg column (columns: {', '.join(names)})")
    time_name, time_scale = next(
        ((n, scale) for key, scale in _TIME_COLUMNS for n in names if n.lower().startswith(key)), (None, None)
    )
    if time_name is None:
        raise BadInputError(path, "Polar export without a 'sensor timestamp [ns]' or 'timestamp [ms]' column")
    units = [(m.group(1) if (m := _UNIT.search(n)) else "") for n in ecg_names]
    selection = ecg_channels(["ECG" if len(ecg_names) == 1 else n for n in ecg_names], units, channel=channel, path=path)
    ecg_name = ecg_names[selection.indices[0]]
    phone = next((n for n in names if n.lower().startswith("phone timestamp")), None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas warns on casts it then refuses
            frame = pd.read_csv(path, sep=";", encoding="utf-8-sig", usecols=[c for c in (phone, time_name, ecg_name) if c],
                                dtype={time_name: "int64" if time_scale == 1e-9 else "float64", ecg_name: "float64"},
                                skipinitialspace=True)
    except (ValueError, OverflowError, TypeError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        detail = " ".join(str(exc).split())[:160]
        raise BadInputError(path, f"malformed Polar export rows ({detail})") from None
    if frame.empty:
        raise BadInputError(path, "Polar export without samples after its header")
    times = frame[time_name].to_numpy()  # int64 ns stay exact (a float64 would lose ~100 ns at 6e17)
    ecg = frame[ecg_name].to_numpy(dtype=np.float64)
    if times.dtype.kind == "f" and np.isnan(times).any():
        raise BadInputError(path, f"the {time_name!r} column has missing values (line {int(np.flatnonzero(np.isnan(times))[0]) + 2})")
    if times.size < 2:
        raise BadInputError(path, "Polar export with a single sample: no sampling rate can be derived")
    steps = np.diff(times).astype(np.float64) * time_scale
    if (steps <= 0).any():
        raise BadInputError(path, f"the {time_name!r} column does not increase at line {int(np.flatnonzero(steps <= 0)[0]) + 3}")
    step = float(np.median(steps))
    fs = check_fs(round(1.0 / step, 3), path)
    gaps = steps > GAP_STEPS * step
    notes = selection.notes
    if gaps.any():
        lost = float((steps[gaps] - step).sum())
        notes += (f"{int(gaps.sum())} drop-outs in the Polar timestamps ({lost:.2f} s in all): samples either side are joined",)
    start = None
    if phone is not None:
        try:
            start = _dt.datetime.fromisoformat(str(frame[phone].iloc[0]).strip())
        except ValueError:
            start = None
    return _Export(fs, ecg, selection, start, notes)


def polar_info(path: str | Path, *, channel: str | None = None) -> RecordInfo:
    """fs (from the timestamps), sample count and start time; the ECG values are parsed but not returned."""
    path = Path(path)
    export = _parse(path, channel)
    return RecordInfo(path=str(path), record_id=path.stem, fs=export.fs, n_samples=int(export.ecg.size),
                      leads=export.selection.leads, reader="polar_txt", notes=export.notes, start_time=export.start_time)


def read_polar(
    path: str | Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    modality: str = "unknown",
    allow_nan: bool = False,
    channel: str | None = None,
) -> Record:
    """Read a Polar H10 ECG export (or ``[start_s, end_s)`` of it) into a one-lead :class:`Record`."""
    path = Path(path)
    export = _parse(path, channel)
    sampfrom, sampto = sample_range(start_s, end_s, export.fs, int(export.ecg.size), path)
    signal = export.ecg[None, sampfrom:sampto].astype(np.float32)
    signal = to_millivolts(signal, list(export.selection.units), path).astype(np.float32, copy=False)
    check_signal(signal, path, allow_nan=allow_nan)
    return Record(
        signal=signal,
        fs=export.fs,
        leads=export.selection.leads,
        record_id=path.stem,
        modality=modality,
        source=str(path),
        start_s=sampfrom / export.fs,
        meta={"n_samples_total": int(export.ecg.size)},
        notes=export.notes,
        start_time=export.start_time,
    )
