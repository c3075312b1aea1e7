"""Apple Watch ECG exports (Apple Health → "Export All Health Data" → ``electrocardiograms/*.csv``).

Layout (English export)::

    Name,Jane Doe
    Date of Birth,"Jan 1, 1980"
    Recorded Date,2023-05-01 10:12:33 +0200
    Classification,Sinus Rhythm
    Symptoms,
    Software Version,2.0
    Device,"Watch6,2"
    Sample Rate,512 hertz
    Lead,Lead I
    Unit,µV

    -12.345
    -11.982
    …

Metadata lines are ``key,value`` (CSV quoting) until the first line that is a
number; from there on every non-blank line is one sample (one field; a comma
decimal mark is accepted inside quotes, ``"-12,345"``, and an unquoted one is
refused rather than guessed). ``Sample Rate`` gives fs (so no ``fs``
is needed), ``Unit`` the unit (µV → mV), ``Lead`` the lead name ('Lead I' → 'I'),
``Recorded Date`` the start time (with its UTC offset when given). The watch's own
``Classification`` and ``Symptoms`` are kept in ``meta`` (they are the device's
output, not a reference label). A missing Sample Rate or Unit, or a value that is
not a number, is refused with one line naming the line.
"""

from __future__ import annotations

import csv as _csv
import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgshift.errors import BadInputError
from ecgshift.io.channels import ChannelSelection, ecg_channels
from ecgshift.io.checks import check_fs, check_signal, sample_range, to_millivolts
from ecgshift.io.info import RecordInfo
from ecgshift.record import Record

__all__ = ["read_apple", "apple_info"]

_RATE = re.compile(r"(\d+(?:[.,]\d+)?)\s*(hertz|hz)?", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class _Export:
    fs: float
    selection: ChannelSelection
    metadata: dict[str, str]
    first_line: int  # 1-based line number of the first sample
    values: list[str]
    start_time: _dt.datetime | None


def _recorded(text: str) -> _dt.datetime | None:
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S"):
        try:
            return _dt.datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


def _cell(line: str) -> str:
    cells = next(_csv.reader([line]), [""])
    return (cells[0] if cells else "").strip()


def _sample(line: str, number: int, path: Path) -> float:
    """One sample line → its value; a second non-empty field (``-12,345`` unquoted) is refused, not guessed."""
    cells = [c.strip() for c in next(_csv.reader([line]), [""])]
    cell = cells[0] if cells else ""
    if any(cells[1:]):
        raise BadInputError(path, f"sample {number} ({line.strip()[:40]!r}) has more than one field: "
                                  "quote a comma decimal mark")
    if not _NUMBER.match(cell):
        raise BadInputError(path, f"sample {number} ({cell[:40]!r}) is not a number")
    return float(cell.replace(",", "."))


def _parse(path: Path, channel: str | None) -> _Export:
    if not path.is_file():
        raise BadInputError(path, "file not found")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"unreadable text file ({type(exc).__name__})") from None
    metadata: dict[str, str] = {}
    first = len(lines)
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        if _NUMBER.match(_cell(line)):
            first = number
            break
        cells = next(_csv.reader([line]), [])
        if cells:
            metadata[cells[0].strip()] = ",".join(cells[1:]).strip()
    keys = {k.lower(): v for k, v in metadata.items()}
    if "sample rate" not in keys:
        raise BadInputError(path, "Apple ECG export without a 'Sample Rate' line")
    rate = _RATE.match(keys["sample rate"].strip())
    if not rate:
        raise BadInputError(path, f"Apple ECG export: sample rate {keys['sample rate'][:40]!r} is not a number of hertz")
    fs = check_fs(float(rate.group(1).replace(",", ".")), path)
    if "unit" not in keys:
        raise BadInputError(path, "Apple ECG export without a 'Unit' line (µV in Apple's exports)")
    lead = keys.get("lead") or "Lead I"
    selection = ecg_channels([lead], [keys["unit"]], channel=channel, path=path)
    values = [line for line in lines[first:] if line.strip()]
    if not values:
        raise BadInputError(path, "Apple ECG export without samples after its header lines")
    return _Export(fs, selection, metadata, first + 1, values, _recorded(keys.get("recorded date", "")))


def apple_info(path: str | Path, *, channel: str | None = None) -> RecordInfo:
    """fs, sample count, lead and start time from the header lines (values counted, not parsed)."""
    path = Path(path)
    export = _parse(path, channel)
    return RecordInfo(path=str(path), record_id=path.stem, fs=export.fs, n_samples=len(export.values),
                      leads=export.selection.leads, reader="apple_csv", notes=export.selection.notes,
                      start_time=export.start_time)


def read_apple(
    path: str | Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    modality: str = "unknown",
    allow_nan: bool = False,
    channel: str | None = None,
) -> Record:
    """Read an Apple Watch ECG export (or ``[start_s, end_s)`` of it) into a one-lead :class:`Record`."""
    path = Path(path)
    export = _parse(path, channel)
    sampfrom, sampto = sample_range(start_s, end_s, export.fs, len(export.values), path)
    out = np.empty(sampto - sampfrom, dtype=np.float64)
    for i, line in enumerate(export.values[sampfrom:sampto]):
        out[i] = _sample(line, sampfrom + i + 1, path)
    signal = to_millivolts(out[None, :].astype(np.float32), list(export.selection.units), path).astype(np.float32)
    check_signal(signal, path, allow_nan=allow_nan)
    keys = {k.lower(): v for k, v in export.metadata.items()}
    return Record(
        signal=signal,
        fs=export.fs,
        leads=export.selection.leads,
        record_id=path.stem,
        modality=modality,
        source=str(path),
        start_s=sampfrom / export.fs,
        meta={
            "n_samples_total": len(export.values),
            "device": keys.get("device", ""),
            "software_version": keys.get("software version", ""),
            "classification": keys.get("classification", ""),
            "symptoms": keys.get("symptoms", ""),
        },
        notes=export.selection.notes,
        start_time=export.start_time,
    )
