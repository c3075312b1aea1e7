"""WFDB records: formats 16, 212, FLAC 516 …, CinC-style ``.mat`` signals, annotation-only records.

All reading is done by the ``wfdb`` package; this module only checks the files
first (so a broken record gives a one-line reason, not a traceback) and turns
the result into a :class:`~ecgshift.record.Record`. Partial reads
(``start_s``/``end_s``) use wfdb's ``sampfrom``/``sampto``, so a long record is
never read whole.

Only the ECG channels are read (:func:`ecgshift.io.channels.ecg_channels` on the
header's names and units); the others (RESP in 'pm', PLETH in 'NU', ABP …) are
named in ``Record.notes``. ``start_time`` is the header's base date and time
(None without a base time; a base time without a date is not a clock time
either, and is left out).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from pathlib import Path

import numpy as np
import wfdb

from ecgshift.errors import AnnotationError, BadInputError
from ecgshift.io.annotations import read_annotations
from ecgshift.io.channels import ChannelSelection, ecg_channels
from ecgshift.io.checks import check_fs, check_signal, plain_reason, to_millivolts
from ecgshift.io.info import RecordInfo
from ecgshift.io.wfdb_checks import check_header_text
from ecgshift.record import Record

__all__ = ["read_wfdb", "wfdb_info", "record_base", "labels_from_comments", "annotation_extension"]

_BITS = {"8": 8, "16": 16, "61": 16, "80": 8, "160": 16, "212": 12, "24": 24, "32": 32, "310": 32 / 3, "311": 32 / 3}
#: SNOMED-CT codes used by CinC 2020/2021 ``# Dx:`` header lines.
SNOMED_AF = "164889003"
SNOMED_SR = "426783006"


def record_base(path: str | Path) -> Path:
    """``a/b/A00001.hea`` / ``.dat`` / ``.mat`` / ``A00001`` → ``a/b/A00001`` (the name wfdb wants)."""
    path = Path(path)
    if path.suffix.lower() in {".hea", ".dat", ".mat", ".atr", ".ecg", ".qrs"}:
        return path.with_suffix("")
    return path


def _header(base: Path) -> wfdb.Record:
    hea = base.with_suffix(".hea")
    if not hea.exists():
        raise BadInputError(hea, "header file not found")
    check_header_text(hea)  # what wfdb would misread (fs -1 as 250 Hz, non-ASCII file names) or fail on
    try:
        header = wfdb.rdheader(str(base))
    except Exception as exc:  # wfdb raises many types for malformed headers
        raise BadInputError(hea, f"unreadable WFDB header ({plain_reason(exc) or 'not in the WFDB header format'})") from None
    check_fs(header.fs, hea)
    return header


def _check_signal_files(base: Path, header: wfdb.Record) -> None:
    """Missing or truncated signal files, caught before wfdb sees them."""
    if not header.n_sig:
        return
    byte_offsets = header.byte_offset or [None] * header.n_sig
    per_file: dict[str, list[int]] = {}
    for i, name in enumerate(header.file_name):
        per_file.setdefault(name, []).append(i)
    for name, channels in per_file.items():
        path = base.parent / name
        if not path.exists():
            raise BadInputError(base.with_suffix(".hea"), f"names signal file {name}, which is missing")
        fmt = str(header.fmt[channels[0]])
        if fmt not in _BITS:
            continue  # compressed formats (FLAC 508/516/524): sizes are not predictable
        offset = byte_offsets[channels[0]] or 0
        samples_per_frame = sum((header.samps_per_frame or [1] * header.n_sig)[c] for c in channels)
        expected = offset + math.ceil(header.sig_len * samples_per_frame * _BITS[fmt] / 8)
        actual = path.stat().st_size
        if actual < expected:
            raise BadInputError(path, f"signal file is truncated: {actual} bytes, the header implies {expected}")


def labels_from_comments(comments: list[str]) -> tuple[tuple[str, ...], str | None]:
    """Raw diagnosis codes and a harmonized label from ``# Dx:`` header comments (SNOMED-CT)."""
    for line in comments:
        match = re.match(r"\s*Dx\s*:\s*(.*)", line)
        if match:
            codes = tuple(c.strip() for c in match.group(1).split(",") if c.strip())
            if SNOMED_AF in codes:
                return codes, "AF"
            if SNOMED_SR in codes:
                return codes, "SR"
            return codes, "other"
    return (), None


def _selection(header: wfdb.Record, hea: Path, channel: str | None) -> ChannelSelection | None:
    """The ECG channels of the header (None for an annotation-only header, which lists none)."""
    if not header.n_sig:
        return None
    return ecg_channels(header.sig_name or [], header.units or None, channel=channel, path=hea)


def _rate_notes(header: wfdb.Record, selection: ChannelSelection | None) -> tuple[str, ...]:
    """A note for each chosen channel recorded faster than the frame rate (a multi-frequency record): wfdb reads it at
    the frame rate, its samples of each frame averaged."""
    if selection is None or not header.samps_per_frame:
        return ()
    fs = float(header.fs)
    return tuple(f"channel {header.sig_name[i]} recorded at {fs * header.samps_per_frame[i]:g} Hz, the others at {fs:g} Hz: "
                 f"read at {fs:g} Hz (its {header.samps_per_frame[i]} samples per frame averaged)"
                 for i in selection.indices if header.samps_per_frame[i] and header.samps_per_frame[i] > 1)


def start_time(header: wfdb.Record) -> _dt.datetime | None:
    """The header's base date and time as one clock time, or None when either is absent."""
    if header.base_date is None or header.base_time is None:
        return None
    return _dt.datetime.combine(header.base_date, header.base_time)


def wfdb_info(path: str | Path, *, channel: str | None = None) -> RecordInfo:
    """Length, fs and ECG leads from the header alone (nothing is read from the signal files)."""
    base = record_base(path)
    header = _header(base)
    hea = base.with_suffix(".hea")
    selection = _selection(header, hea, channel)
    return RecordInfo(
        path=str(hea),
        record_id=base.name,
        fs=float(header.fs),
        n_samples=int(header.sig_len or 0),
        leads=selection.leads if selection else (),
        reader="wfdb",
        notes=(selection.notes if selection else ()) + _rate_notes(header, selection),
        start_time=start_time(header),
    )


def read_wfdb(
    path: str | Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    annotation: str | None = "auto",
    modality: str = "unknown",
    allow_nan: bool = False,
    channel: str | None = None,
) -> Record:
    """Read the ECG channels of a WFDB record (or ``[start_s, end_s)`` of them) into a :class:`Record`.

    ``annotation``: the annotation file extension to read beats and rhythm
    changes from ('atr', 'ecg', 'qrs'), ``"auto"`` for the first of those that
    exists, or ``None`` for none. A record with a header but no signal
    (annotation-only) gets a ``(0, n_samples)`` signal. ``channel``: read only the
    channel of that name (see :func:`~ecgshift.io.channels.ecg_channels`).
    """
    base = record_base(path)
    header = _header(base)
    hea = base.with_suffix(".hea")
    codes, label = labels_from_comments(header.comments or [])
    ann = annotation_extension(base, annotation)
    annotation_only = not header.n_sig or all(not (base.parent / f).exists() for f in header.file_name)
    if annotation_only and ann is None:
        if header.n_sig:
            _check_signal_files(base, header)
        raise BadInputError(hea, "record has no signal file and no annotation file")

    fs = float(header.fs)
    total = int(header.sig_len or 0)
    notes: tuple[str, ...] = ()
    if annotation_only:
        signal = np.zeros((0, 0), dtype=np.float32)
        leads: tuple[str, ...] = ()
    else:
        selection = _selection(header, hea, channel)
        notes = selection.notes + _rate_notes(header, selection)
        _check_signal_files(base, header)
        if total == 0:
            raise BadInputError(hea, "zero-length record (the header gives 0 samples)")
        sampfrom, sampto = _sample_range(start_s, end_s, fs, total, hea)
        try:
            rec = wfdb.rdrecord(
                str(base), sampfrom=sampfrom, sampto=sampto, channels=list(selection.indices),
                return_res=32, physical=True,
            )
        except Exception as exc:
            raise BadInputError(hea, f"signal could not be decoded ({plain_reason(exc) or 'the signal file does not match its header'})") from None
        signal = np.ascontiguousarray(rec.p_signal.T, dtype=np.float32)
        leads = selection.leads
        signal = to_millivolts(signal, list(selection.units), hea)
        check_signal(signal, hea, allow_nan=allow_nan)

    beats, rhythms, ann_end = (None, (), 0)
    if ann is not None:
        try:
            beats, rhythms, ann_end = read_annotations(base, ann, fs=fs, end_s=(total / fs) or None)
        except AnnotationError as exc:
            if annotation_only:  # the annotations are all there is
                raise BadInputError(exc.path, exc.problem) from None
            without = read_wfdb(path, start_s=start_s, end_s=end_s, annotation=None, modality=modality, allow_nan=allow_nan)
            raise AnnotationError(exc.path, exc.problem, record=without) from None
    if annotation_only:
        total = max(total, ann_end)
        if total == 0:
            raise BadInputError(hea, "zero-length record: no samples and no annotations")
        signal = np.zeros((0, 0), dtype=np.float32)
        sampfrom, sampto = _sample_range(start_s, end_s, fs, total, hea)
        signal = np.empty((0, sampto - sampfrom), dtype=np.float32)
    return Record(
        signal=signal,
        fs=fs,
        leads=leads,
        record_id=base.name,
        modality=modality,
        label=label,
        labels=codes,
        rhythms=rhythms,
        beats=beats,
        source=str(hea),
        start_s=sampfrom / fs,
        meta={"comments": list(header.comments or []), "n_samples_total": total},
        notes=notes,
        start_time=start_time(header),
    )


def annotation_extension(base: Path, annotation: str | None) -> str | None:
    if annotation is None:
        return None
    if annotation != "auto":
        if not base.with_suffix(f".{annotation}").exists():
            raise BadInputError(base.with_suffix(f".{annotation}"), "annotation file not found")
        return annotation
    for ext in ("atr", "ecg", "qrs"):
        if base.with_suffix(f".{ext}").exists():
            return ext
    return None


def _sample_range(start_s: float, end_s: float | None, fs: float, total: int, path: Path) -> tuple[int, int]:
    sampfrom = max(0, int(round(start_s * fs)))
    sampto = total if end_s is None else min(total, int(round(end_s * fs)))
    if sampfrom >= sampto:
        raise BadInputError(path, f"requested range {start_s:g}–{end_s} s is outside the record ({total / fs:g} s)")
    return sampfrom, sampto
