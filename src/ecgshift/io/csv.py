"""Plain CSV recordings: one row per sample, one column per lead.

Rules:

* The first line is a header row naming the columns (required). The separator
  is ',' (or ';' or a tab, detected from the header line); the decimal mark is '.'.
* An optional column ``time_s`` holds the sample times in seconds. CSV does
  not store the sampling rate, so ``fs`` is always given by the caller; when
  ``time_s`` is present, the rate it implies (1 / median step) must agree with
  ``fs`` within 1 %, otherwise the file is refused ("wrong fs").
* Every other column is a channel, named by its header (normalized: 'ECG II'
  → 'II'). Values are mV unless the header carries a unit: ``II [uV]``,
  ``II (uV)`` or ``II_uV`` (mV, uV, µV, V). The ECG channels among them are
  chosen by :func:`ecgshift.io.channels.ecg_channels` (``Resp [pm]``, ``PPG``,
  ``SpO2 [%]`` … are ignored, not parsed, and named in ``Record.notes``);
  ``channel=`` picks one column by name.
  Columns named ``time``, ``t``, ``timestamp``, ``sample`` or ``index`` are
  refused rather than taken for leads: name the time column ``time_s``.
* Every cell must be a number; empty cells and NaN are refused unless
  ``allow_nan``, and then they are NaN (a gap), whatever the number of
  columns: a blank line is a row of empty cells (in a one-column file, one
  empty cell), never skipped; only blank lines at the very end of the file are
  not rows. Rows are counted from 1 after the header in error messages.
* ``start_s``/``end_s`` select rows ``round(start_s·fs)`` to ``round(end_s·fs)``
  (only those rows are parsed).
"""

from __future__ import annotations

import csv as _csv
import re
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift.errors import BadInputError
from ecgshift.io.channels import ChannelSelection, ecg_channels, lead_name
from ecgshift.io.checks import check_fs, check_signal, to_millivolts
from ecgshift.io.info import RecordInfo
from ecgshift.record import Record

__all__ = ["TIME_COLUMN", "read_csv", "csv_info", "parse_column"]

TIME_COLUMN = "time_s"
_FS_TOLERANCE = 0.01
_NOT_LEADS = {"time", "t", "timestamp", "sample", "samples", "index"}
_UNIT_BRACKETS = re.compile(r"^(.*?)\s*[\[(]\s*([^\])]*?)\s*[\])]$")
_UNIT_SUFFIX = re.compile(r"^(.+?)_(mv|uv|µv|μv|v)$", re.IGNORECASE)


def parse_column(name: str) -> tuple[str, str]:
    """A header cell → (lead name, unit): ``'II [uV]'`` → ``('II', 'uV')``, ``'V1'`` → ``('V1', 'mV')``."""
    label, unit = _split_unit(name)
    return lead_name(label), unit


def _split_unit(name: str) -> tuple[str, str]:
    """A header cell → (label as written, unit)."""
    for pattern in (_UNIT_BRACKETS, _UNIT_SUFFIX):
        match = pattern.match(name.strip())
        if match:
            return match.group(1).strip(), match.group(2)
    return name.strip(), "mV"


def _selection(names: list[str], path: Path, channel: str | None) -> ChannelSelection:
    """The ECG columns among the header's (the time column excluded)."""
    columns = [n for n in names if n != TIME_COLUMN]
    labels, units = zip(*(_split_unit(n) for n in columns))
    selection = ecg_channels(labels, units, channel=channel, path=path)
    return selection


def _header(path: Path) -> tuple[list[str], str]:
    """Column names and separator, from the first line."""
    if not path.is_file():
        raise BadInputError(path, "a folder, not a recording file" if path.is_dir() else "file not found")
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as f:
            first = f.readline()
    except UnicodeDecodeError:
        raise BadInputError(path, "not a text file: its first line is not UTF-8 text") from None
    except OSError as exc:
        raise BadInputError(path, f"file cannot be read ({exc.strerror or 'input/output error'})") from None
    if not first.strip():
        raise BadInputError(path, "empty file (no header row)")
    sep = ";" if ";" in first and "," not in first else "\t" if "\t" in first and "," not in first else ","
    names = [n.strip() for n in next(_csv.reader([first], delimiter=sep))]
    if all(_is_number(n) for n in names):
        raise BadInputError(path, "no header row: the first line holds numbers, not column names (e.g. time_s,II,V1)")
    for i, name in enumerate(names, 1):
        if not name:
            raise BadInputError(path, f"column {i} has no name in the header row")
        if name.lower() in _NOT_LEADS:
            raise BadInputError(path, f"column {name!r} is not a lead: name the time column {TIME_COLUMN!r} (seconds)")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BadInputError(path, f"duplicate column names: {', '.join(map(repr, duplicates))}")
    if not [n for n in names if n != TIME_COLUMN]:
        raise BadInputError(path, f"no lead column (only {TIME_COLUMN!r}): add one column per lead, e.g. II")
    return names, sep


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _count_rows(path: Path) -> int:
    """Lines after the header, but blank lines at the end of the file (a blank line elsewhere is a row of
    empty cells)."""
    rows = last = 0
    with path.open("rb") as f:
        for line in f:
            rows += 1
            if line.strip():
                last = rows
    return max(0, last - 1)


def csv_info(path: str | Path, *, fs: float, channel: str | None = None) -> RecordInfo:
    """fs (as given), row count and ECG leads, from the header and a line count (no values parsed)."""
    path = Path(path)
    fs = check_fs(fs, path)
    names, _ = _header(path)
    selection = _selection(names, path, channel)
    rows = _count_rows(path)
    if rows == 0:
        raise BadInputError(path, "no data rows after the header")
    return RecordInfo(
        path=str(path),
        record_id=path.stem,
        fs=fs,
        n_samples=rows,
        leads=selection.leads,
        reader="csv",
        notes=selection.notes,
    )


def read_csv(
    path: str | Path,
    *,
    fs: float,
    start_s: float = 0.0,
    end_s: float | None = None,
    modality: str = "unknown",
    allow_nan: bool = False,
    channel: str | None = None,
) -> Record:
    """Read a CSV recording (or ``[start_s, end_s)`` of it) into a :class:`Record`; see the module rules."""
    path = Path(path)
    fs = check_fs(fs, path)
    names, sep = _header(path)
    selection = _selection(names, path, channel)
    columns = [n for n in names if n != TIME_COLUMN]
    wanted = [columns[i] for i in selection.indices]
    sampfrom = max(0, int(round(start_s * fs)))
    nrows = None if end_s is None else max(0, int(round(end_s * fs)) - sampfrom)
    try:
        frame = pd.read_csv(
            path, sep=sep, header=None, names=names, skiprows=1 + sampfrom, nrows=nrows,
            skipinitialspace=True, encoding="utf-8-sig", low_memory=False, skip_blank_lines=False,
        )
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=names)
    except UnicodeDecodeError:
        raise BadInputError(path, "not a text file: some rows are not UTF-8 text") from None
    except (pd.errors.ParserError, ValueError) as exc:
        detail = re.sub(r"^Error tokenizing data\. C error: ", "", " ".join(str(exc).split()))
        raise BadInputError(path, f"ragged or malformed rows: {detail} (the header has {len(names)} columns)") from None
    if nrows is None or len(frame) < nrows:  # read to the end of the file: its trailing blank lines are no rows
        frame = frame.iloc[: max(0, _count_rows(path) - sampfrom)]
    if frame.empty:
        total = _count_rows(path)
        if total == 0:
            raise BadInputError(path, "no data rows after the header")
        raise BadInputError(path, f"requested range starts at {start_s:g} s, after the record's end ({total / fs:g} s)")
    used = [n for n in names if n == TIME_COLUMN or n in wanted]
    values = {name: _numeric(frame[name], name, path, first_row=sampfrom + 1) for name in used}
    if any(np.isnan(v).any() for v in values.values()):
        _check_short_rows(path, sep, len(names), skip=1 + sampfrom, rows=len(frame))
    if TIME_COLUMN in values:
        _check_time(values.pop(TIME_COLUMN), fs, path)
    leads, units = selection.leads, list(selection.units)
    signal = np.stack([values[name].astype(np.float32) for name in wanted])
    signal = to_millivolts(signal, units, path).astype(np.float32, copy=False)
    check_signal(signal, path, allow_nan=allow_nan)
    return Record(
        signal=signal,
        fs=fs,
        leads=tuple(leads),
        record_id=path.stem,
        modality=modality,
        source=str(path),
        start_s=sampfrom / fs,
        meta={"units": units},
        notes=selection.notes,
    )


def _numeric(column: pd.Series, name: str, path: Path, *, first_row: int) -> np.ndarray:
    """A column as float64, or the first cell that is not a number."""
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64)
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna() & column.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise BadInputError(path, f"column {name!r} row {first_row + i} is not a number ({str(column.iloc[i])[:40]!r})")
    return numbers.to_numpy(dtype=np.float64)


def _check_short_rows(path: Path, sep: str, width: int, *, skip: int, rows: int) -> None:
    """Missing values may be short rows (pandas pads them with NaN): name the first one among the rows read."""
    with path.open("r", encoding="utf-8-sig", newline="") as f:
        lines = islice(_csv.reader(f, delimiter=sep), skip, skip + rows)
        for line_no, row in enumerate(lines, skip + 1):
            if row and len(row) < width:
                raise BadInputError(path, f"line {line_no} has {len(row)} fields, the header has {width}")


def _check_time(time_s: np.ndarray, fs: float, path: Path) -> None:
    """The rate implied by ``time_s`` must match ``fs`` within 1 %."""
    if np.isnan(time_s).any():
        raise BadInputError(path, f"the {TIME_COLUMN} column has missing values")
    if time_s.size < 2:
        return
    step = float(np.median(np.diff(time_s)))
    if step <= 0:
        raise BadInputError(path, f"the {TIME_COLUMN} column is not increasing")
    implied = 1.0 / step
    if abs(implied - fs) > _FS_TOLERANCE * fs:
        raise BadInputError(path, f"fs={fs:g} Hz disagrees with the {TIME_COLUMN} column ({implied:.4g} Hz)")
