"""ISHNE Holter ECG files (``.ecg``, magic ``ISHNE1.0``), read with numpy (memory-mapped).

The ISHNE standard (Badilini et al., ISHNE Holter output standard, 1998) file:

* bytes 0–7 the magic ``ISHNE1.0`` (``ANN  1.0`` is the annotation file,
  which is not an ECG and is refused); bytes 8–9 a CRC-16/CCITT (polynomial
  0x1021, initial 0xFFFF) of the header from byte 10 to the start of the ECG data;
* a fixed 512-byte little-endian header: variable-block size, samples per lead,
  variable-block offset (522), ECG-data offset, version, patient fields,
  record date (day, month, year), start time (hour, minute, second), number of
  leads, 12 lead codes, 12 lead qualities, 12 resolutions in nV per unit,
  pacemaker code, recorder, sampling rate (Hz), proprietary text;
* the variable block (free text), then the samples: int16, interleaved by
  sample (lead 1, lead 2, … of sample 1, then of sample 2 …).

Lead codes → names: 5–16 are I, II, III, aVR, aVL, aVF, V1–V6; 0 (unknown) and
1 (generic bipolar) are 'ECG1', 'ECG2' … by position; 2–4 are Frank X, Y, Z and
17–19 the EASI leads ES, AS, AI (as 'ECG X' …). Values × resolution (nV) → mV.
Start time: the record date and start time.

A **bad CRC is refused** (one line): the header holds the sampling rate and
the resolution, and a corrupt one would be read silently as a wrong signal.
Also refused: a wrong magic, a header shorter than 522 bytes, offsets that do not
fit the file, implausible leads / rate / resolution, and ECG data shorter than
the header declares ("truncated"). Where the sample count is the total over all
leads instead of per lead (some writers do so) and the file size shows it, the
record is read and a note says so. Partial reads map only the requested rows.
"""

from __future__ import annotations

import binascii
import datetime as _dt
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgshift.errors import BadInputError
from ecgshift.io.channels import ChannelSelection, ecg_channels
from ecgshift.io.checks import check_fs, check_signal, sample_range
from ecgshift.io.info import RecordInfo
from ecgshift.record import Record

__all__ = ["read_ishne", "ishne_info", "ishne_crc", "LEAD_CODES", "MAGIC", "HEADER_FORMAT"]

MAGIC = b"ISHNE1.0"
ANNOTATION_MAGIC = b"ANN  1.0"
#: The fixed header, bytes 10–521 (little endian).
HEADER_FORMAT = "<iiiih40s40s20shh3h3h3h3hh12h12h12hh40sh80s80s88s"
_PREAMBLE = 10
_FIXED_END = _PREAMBLE + struct.calcsize(HEADER_FORMAT)  # 522
LEAD_CODES = {
    2: "ECG X", 3: "ECG Y", 4: "ECG Z", 5: "I", 6: "II", 7: "III", 8: "aVR", 9: "aVL", 10: "aVF",
    11: "V1", 12: "V2", 13: "V3", 14: "V4", 15: "V5", 16: "V6", 17: "ECG ES", 18: "ECG AS", 19: "ECG AI",
}


def ishne_crc(header: bytes) -> int:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) of header bytes 10 … ECG offset."""
    return binascii.crc_hqx(header, 0xFFFF)


@dataclass(frozen=True)
class _Header:
    n_samples: int
    n_leads: int
    offset: int
    fs: float
    names: tuple[str, ...]
    resolution_nv: tuple[int, ...]
    selection: ChannelSelection
    start_time: _dt.datetime | None
    notes: tuple[str, ...]


def _start_time(date: tuple[int, int, int], time: tuple[int, int, int]) -> _dt.datetime | None:
    try:
        return _dt.datetime(date[2], date[1], date[0], time[0], time[1], time[2])
    except (ValueError, OverflowError):
        return None


def _header(path: Path, channel: str | None) -> _Header:
    if not path.is_file():
        raise BadInputError(path, "file not found")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(_FIXED_END)
        magic = head[:8]
        if magic == ANNOTATION_MAGIC:
            raise BadInputError(path, "an ISHNE annotation file (ANN 1.0), not an ECG: read the .ecg file beside it")
        if magic != MAGIC:
            raise BadInputError(path, f"not an ISHNE Holter file: magic {magic[:8]!r}, expected {MAGIC!r}")
        if len(head) < _FIXED_END:
            raise BadInputError(path, f"truncated ISHNE header: {len(head)} bytes, the fixed header needs {_FIXED_END}")
        fields = struct.unpack(HEADER_FORMAT, head[_PREAMBLE:_FIXED_END])
        var_size, ecg_size, var_offset, ecg_offset = fields[:4]
        if var_size < 0 or var_offset != _FIXED_END or ecg_offset != _FIXED_END + var_size or ecg_offset > size:
            raise BadInputError(
                path, f"corrupt ISHNE header: offsets (variable block {var_offset}, {var_size} bytes; ECG at {ecg_offset}) "
                f"do not fit a {size}-byte file",
            )
        f.seek(_PREAMBLE)
        stored = struct.unpack("<H", head[8:10])[0]
        computed = ishne_crc(f.read(ecg_offset - _PREAMBLE))
    if stored != computed:
        raise BadInputError(path, f"ISHNE header checksum mismatch (stored {stored:#06x}, computed {computed:#06x}): corrupt header")
    record_date, start = fields[13:16], fields[19:22]
    n_leads = fields[22]
    specs, resolutions, fs = fields[23:35], fields[47:59], fields[61]
    if not 1 <= n_leads <= 12:
        raise BadInputError(path, f"ISHNE header gives {n_leads} leads (1–12 possible)")
    fs = check_fs(fs, path)
    if ecg_size <= 0:
        raise BadInputError(path, f"ISHNE header gives {ecg_size} samples per lead")
    resolution = tuple(int(r) for r in resolutions[:n_leads])
    if any(r <= 0 for r in resolution):
        raise BadInputError(path, f"ISHNE lead resolutions {list(resolution)} nV: each must be positive")
    names = tuple(LEAD_CODES.get(int(code), f"ECG{i + 1}") for i, code in enumerate(specs[:n_leads]))
    notes: list[str] = []
    available = (size - ecg_offset) // (2 * n_leads)
    if available < ecg_size:
        if n_leads > 1 and ecg_size % n_leads == 0 and available == ecg_size // n_leads:
            ecg_size //= n_leads
            notes.append("the ISHNE header's sample count is the total over all leads, not per lead (read as such)")
        else:
            raise BadInputError(
                path, f"truncated ISHNE file: {available} samples per lead after the header, it declares {ecg_size}"
            )
    selection = ecg_channels(names, ["nV"] * n_leads, channel=channel, path=path)
    return _Header(ecg_size, n_leads, ecg_offset, fs, names, resolution, selection,
                   _start_time(record_date, start), selection.notes + tuple(notes))


def ishne_info(path: str | Path, *, channel: str | None = None) -> RecordInfo:
    """fs, samples per lead, leads and start time from the header (checksum verified; no samples read)."""
    path = Path(path)
    header = _header(path, channel)
    return RecordInfo(path=str(path), record_id=path.stem, fs=header.fs, n_samples=header.n_samples,
                      leads=header.selection.leads, reader="ishne", notes=header.notes, start_time=header.start_time)


def read_ishne(
    path: str | Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    modality: str = "unknown",
    allow_nan: bool = False,
    channel: str | None = None,
) -> Record:
    """Read an ISHNE Holter file (or ``[start_s, end_s)`` of it) into a :class:`Record`; see the module."""
    path = Path(path)
    header = _header(path, channel)
    sampfrom, sampto = sample_range(start_s, end_s, header.fs, header.n_samples, path)
    columns = list(header.selection.indices)
    data = np.memmap(path, dtype="<i2", mode="r", offset=header.offset + 2 * header.n_leads * sampfrom,
                     shape=(sampto - sampfrom, header.n_leads))
    try:
        scale = np.asarray([header.resolution_nv[i] * 1e-6 for i in columns], dtype=np.float64)[:, None]
        signal = (np.asarray(data[:, columns], dtype=np.float64).T * scale).astype(np.float32)
    finally:
        del data
    check_signal(signal, path, allow_nan=allow_nan)
    return Record(
        signal=signal,
        fs=header.fs,
        leads=header.selection.leads,
        record_id=path.stem,
        modality=modality,
        source=str(path),
        start_s=sampfrom / header.fs,
        meta={"n_samples_total": header.n_samples, "resolution_nv": [header.resolution_nv[i] for i in columns]},
        notes=header.notes,
        start_time=header.start_time,
    )
