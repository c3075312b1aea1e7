"""EDF / EDF+ recordings (typical Holter exports), read lazily with ``edfio``.

Only ECG channels are returned, chosen by :func:`ecgshift.io.channels.ecg_channels`
on the labels and physical dimensions ('ECG I', 'EKG', 'II', 'V1', 'MLII', ...);
other channels (Resp, SpO2, EEG, ...) are named in ``Record.notes`` and listed in
``meta['non_ecg_channels']``; the EDF+ annotation signal is not a channel (edfio
reads it as annotations). ECG channels at different sampling rates: the
channels sharing the most common rate are kept (ties: the higher rate) and the
others are listed in ``meta['dropped_channels']`` as ``"label (fs Hz)"`` and
in a note. ``start_time`` is the header's start date and time.
Partial reads (``start_s``/``end_s``) read only the data records they need.

EDF+ annotations become rhythm intervals (in seconds from the start of the
whole recording, as for WFDB) when their text is a rhythm label; case and
surrounding spaces are ignored:

* atrial fibrillation: ``AFIB``, ``AF``, ``A-FIB``, ``ATRIAL FIBRILLATION`` (rhythm 'AFIB');
* sinus rhythm: ``N``, ``NSR``, ``SR``, ``SINUS RHYTHM``, ``NORMAL SINUS RHYTHM`` (rhythm 'N');
* flutter: ``AFL``, ``ATRIAL FLUTTER`` (rhythm 'AFL');
* any of these, or any other MIT-BIH style code, after '(' (``(AFIB``, ``(N``, ``(SBR``, ``(VT)``).

An annotation with a duration lasts that long; one without lasts until the
next rhythm annotation or the end of the recording. Discontinuous EDF+D files
are refused (edfio would silently join their segments).
"""

from __future__ import annotations

import datetime as _dt
import re
import warnings
from collections import Counter
from pathlib import Path

import edfio
import numpy as np

from ecgshift.errors import BadInputError
from ecgshift.io.channels import ecg_channels
from ecgshift.io.checks import check_fs, check_signal, plain_reason, to_millivolts
from ecgshift.io.info import RecordInfo
from ecgshift.record import Record, RhythmInterval

__all__ = ["read_edf", "edf_info", "rhythm_code"]

_RHYTHM_WORDS = {
    "AFIB": "AFIB", "AF": "AFIB", "A-FIB": "AFIB", "ATRIAL FIBRILLATION": "AFIB",
    "N": "N", "NSR": "N", "SR": "N", "SINUS RHYTHM": "N", "NORMAL SINUS RHYTHM": "N",
    "AFL": "AFL", "ATRIAL FLUTTER": "AFL",
}
_MIT_CODE = re.compile(r"[A-Z][A-Z0-9+_\-]{0,9}")


def rhythm_code(text: str) -> str | None:
    """The rhythm code of an annotation text ('(AFIB' → 'AFIB', 'NSR' → 'N'), or None if it is no rhythm label."""
    key = " ".join(str(text).upper().split())
    parenthesised = key.startswith("(")
    key = key.strip("()").strip()
    if key in _RHYTHM_WORDS:
        return _RHYTHM_WORDS[key]
    if parenthesised and _MIT_CODE.fullmatch(key):
        return key
    return None


def _short(exc: Exception) -> str:
    return plain_reason(exc) or "a field does not follow the EDF format"


def _open(path: Path) -> edfio.Edf:
    """The file's header (data stay on disk), or a one-line reason why it is not a usable EDF."""
    if not path.is_file():
        raise BadInputError(path, "a folder, not a recording file" if path.is_dir() else "file not found")
    with path.open("rb") as f:
        head = f.read(256)
    if len(head) < 256:
        raise BadInputError(path, f"not an EDF file: {len(head)} bytes, shorter than an EDF header (256)")
    if head[:8] != b"0       ":
        raise BadInputError(path, "not an EDF file: the header does not start with version '0'")
    try:
        declared, ns = int(head[236:244].decode("ascii")), int(head[252:256].decode("ascii"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            edf = edfio.read_edf(path, lazy_load_data=True)
    except Exception as exc:  # edfio raises many types for malformed headers
        raise BadInputError(path, f"unreadable EDF header ({_short(exc)})") from None
    if edf.bytes_in_header_record != 256 * (ns + 1):
        raise BadInputError(path, f"corrupt EDF header: {edf.bytes_in_header_record} header bytes for {ns} signals")
    if declared >= 0 and edf.num_data_records < declared:
        raise BadInputError(
            path, f"truncated file: the header declares {declared} data records, the file holds {edf.num_data_records}"
        )
    if edf.num_data_records <= 0 or edf.data_record_duration <= 0:
        raise BadInputError(path, "no signal data (zero data records)")
    if edf.reserved.upper().startswith("EDF+D"):
        raise BadInputError(path, "discontinuous EDF+ (EDF+D) is not supported yet: export it as continuous EDF/EDF+C")
    return edf


def _ecg_signals(
    edf: edfio.Edf, path: Path, channel: str | None
) -> tuple[list[edfio.EdfSignal], list[str], float, list[str], list[str], tuple[str, ...]]:
    """The ECG signals at the most common ECG rate, their lead names, that rate, dropped ECG channels,
    non-ECG channels, and the notes saying so."""
    signals = list(edf.signals)
    selection = ecg_channels([s.label for s in signals], [s.physical_dimension for s in signals], channel=channel, path=path)
    ecg = [(signals[i], lead) for i, lead in zip(selection.indices, selection.leads)]
    other = [s.label for i, s in enumerate(signals) if i not in selection.indices]
    counts = Counter(round(s.sampling_frequency, 6) for s, _ in ecg)
    fs = max(counts, key=lambda f: (counts[f], f))
    keep = [(s, lead) for s, lead in ecg if round(s.sampling_frequency, 6) == fs]
    for s, _ in keep:  # edfio returns raw digital values, silently, when a signal's ranges give no scale
        _check_scale(s, path)
    dropped = [f"{s.label} ({s.sampling_frequency:g} Hz)" for s, _ in ecg if round(s.sampling_frequency, 6) != fs]
    notes = selection.notes
    if dropped:
        notes += (f"ECG channels at another sampling rate than {fs:g} Hz left out: {', '.join(dropped)}",)
    return [s for s, _ in keep], [lead for _, lead in keep], check_fs(fs, path), dropped, other, notes


def _check_scale(signal: edfio.EdfSignal, path: Path) -> None:
    """A signal's physical and digital ranges must give a scale to physical units (mV)."""
    try:
        pmin, pmax, dmin, dmax = (float(getattr(signal, a)) for a in ("physical_min", "physical_max", "digital_min", "digital_max"))
    except ValueError:
        raise BadInputError(path, f"channel {signal.label!r}: its physical or digital range in the header is not a number") from None
    for kind, low, high in (("physical", pmin, pmax), ("digital", dmin, dmax)):
        if low == high:
            raise BadInputError(path, f"channel {signal.label!r}: {kind} minimum equals maximum ({low:g}): the samples cannot be scaled to mV")


def _start_time(edf: edfio.Edf) -> _dt.datetime | None:
    try:
        return _dt.datetime.combine(edf.startdate, edf.starttime)
    except Exception:  # an anonymized or malformed start date ("X", 00.00.00): no clock time
        return None


def edf_info(path: str | Path, *, channel: str | None = None) -> RecordInfo:
    """Length, fs and ECG leads from the header alone (no samples are read)."""
    path = Path(path)
    edf = _open(path)
    keep, leads, fs, _, _, notes = _ecg_signals(edf, path, channel)
    return RecordInfo(
        path=str(path),
        record_id=path.stem,
        fs=fs,
        n_samples=edf.num_data_records * keep[0].samples_per_data_record,
        leads=tuple(leads),
        reader="edf",
        notes=notes,
        start_time=_start_time(edf),
    )


def read_edf(
    path: str | Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    modality: str = "unknown",
    allow_nan: bool = False,
    channel: str | None = None,
) -> Record:
    """Read the ECG channels of an EDF/EDF+ file (or ``[start_s, end_s)`` of them) into a :class:`Record`;
    ``channel``: only the channel of that label."""
    path = Path(path)
    edf = _open(path)
    keep, leads, fs, dropped, other, notes = _ecg_signals(edf, path, channel)
    total = edf.num_data_records * keep[0].samples_per_data_record
    sampfrom = max(0, int(round(start_s * fs)))
    sampto = total if end_s is None else min(total, int(round(end_s * fs)))
    if sampfrom >= sampto:
        end_text = "end" if end_s is None else f"{end_s:g} s"
        raise BadInputError(path, f"requested range {start_s:g} s to {end_text} is outside the record ({total / fs:g} s)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = [s.get_data_slice(sampfrom / s.sampling_frequency, sampto / s.sampling_frequency) for s in keep]
    except Exception as exc:
        raise BadInputError(path, f"signal data could not be read ({_short(exc)})") from None
    signal = np.asarray(np.stack(rows), dtype=np.float32)
    signal = to_millivolts(signal, [s.physical_dimension for s in keep], path).astype(np.float32, copy=False)
    check_signal(signal, path, allow_nan=allow_nan)
    return Record(
        signal=signal,
        fs=fs,
        leads=tuple(leads),
        record_id=path.stem,
        modality=modality,
        rhythms=_rhythms(edf, path, end_s=total / fs),
        source=str(path),
        start_s=sampfrom / fs,
        meta={
            "n_samples_total": total,
            "dropped_channels": dropped,
            "non_ecg_channels": other,
            "edf_type": edf.reserved or "EDF",
        },
        notes=notes,
        start_time=_start_time(edf),
    )


def _rhythms(edf: edfio.Edf, path: Path, *, end_s: float) -> tuple[RhythmInterval, ...]:
    """EDF+ rhythm annotations → intervals over the whole recording (empty for plain EDF)."""
    try:
        annotations = edf.annotations
    except Exception as exc:
        raise BadInputError(path, f"unreadable EDF+ annotations ({_short(exc)})") from None
    changes = [(a.onset, a.duration, code) for a in annotations if (code := rhythm_code(a.text)) is not None]
    changes.sort(key=lambda c: c[0])
    next_onset, following = [end_s] * len(changes), end_s
    for i in range(len(changes) - 1, -1, -1):  # the next strictly later rhythm onset, for each change
        next_onset[i] = following
        if i and changes[i - 1][0] < changes[i][0]:
            following = changes[i][0]
    out: list[RhythmInterval] = []
    for (onset, duration, code), until in zip(changes, next_onset):
        stop = onset + duration if duration else until
        start, stop = max(0.0, onset), min(end_s, stop)
        if stop <= start:
            continue
        if out and out[-1].rhythm == code and abs(out[-1].end_s - start) < 1e-9:
            out[-1] = RhythmInterval(out[-1].start_s, float(stop), code)
        else:
            out.append(RhythmInterval(float(start), float(stop), code))
    return tuple(out)
