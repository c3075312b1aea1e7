"""HL7 v3 annotated ECG (aECG) XML, the FDA's format for ECG waveforms, parsed with ``defusedxml``.

What is read (everything else — annotations, median beats, subject and
trial data — is left alone):

* the first ``component/series`` whose ``code`` is RHYTHM (else the first
  series), and in it the first ``sequenceSet``;
* its time sequence (code ``TIME_ABSOLUTE`` or ``TIME_RELATIVE``, value
  ``GLIST_TS`` or ``GLIST_PQ``): fs = 1 / ``increment`` (unit s or ms);
* every lead sequence (value ``SLIST_PQ``): physical value = ``origin`` +
  ``scale`` × each integer of ``digits``, in the units of ``origin`` and
  ``scale`` (uV, mV …), converted to mV; its ``code`` ``MDC_ECG_LEAD_*`` gives
  the lead name (``MDC_ECG_LEAD_AVR`` → 'aVR');
* start time: the series' ``effectiveTime/low``, else the document's, else the
  ``GLIST_TS`` head (HL7 TS: ``YYYYMMDDHHMMSS[.ffff][+ZZZZ]``, time-zone aware when
  the offset is given).

Leads with different numbers of samples, missing ``origin``/``scale``/``digits``,
non-integer digits, an increment that is not a positive time, and a
document whose root is not ``AnnotatedECG`` are refused with one line.
``aecg_info`` parses the XML but does not convert the digits.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element

import numpy as np

from ecgshift.errors import BadInputError
from ecgshift.io.channels import ChannelSelection, ecg_channels, is_voltage_unit, unit_scale
from ecgshift.io.checks import check_fs, check_signal, sample_range
from ecgshift.io.info import RecordInfo
from ecgshift.io.xmlsafe import child, children, parse
from ecgshift.record import Record

__all__ = ["read_aecg", "aecg_info", "parse_hl7_time", "HL7_NAMESPACE"]

HL7_NAMESPACE = "urn:hl7-org:v3"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_TIME_CODES = {"TIME_ABSOLUTE", "TIME_RELATIVE"}
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6})\d*)?(?:([+-])(\d{2})(\d{2}))?$")
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def parse_hl7_time(text: str) -> _dt.datetime | None:
    """An HL7 TS value → datetime (``'20021122091000.000'``, ``'20210304101500+0100'``); None if malformed."""
    match = _TS.match((text or "").strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, sign, zh, zm = match.groups()
    try:
        tz = None
        if sign:
            offset = _dt.timedelta(hours=int(zh), minutes=int(zm))
            tz = _dt.timezone(offset if sign == "+" else -offset)
        return _dt.datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                            int(second or 0), int((fraction or "0").ljust(6, "0")), tzinfo=tz)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Layout:
    fs: float
    n_samples: int
    names: tuple[str, ...]
    sequences: tuple[Element, ...]
    selection: ChannelSelection
    start_time: _dt.datetime | None
    notes: tuple[str, ...]


def _code(element: Element) -> str:
    code = child(element, "code")
    return (code.get("code") or "").strip() if code is not None else ""


def _number(element: Element | None, what: str, path: Path) -> tuple[float, str]:
    if element is None or element.get("value") is None:
        raise BadInputError(path, f"aECG {what} is missing")
    try:
        value = float(element.get("value"))
    except ValueError:
        raise BadInputError(path, f"aECG {what} {element.get('value')!r} is not a number") from None
    if not np.isfinite(value):
        raise BadInputError(path, f"aECG {what} is not finite")
    return value, (element.get("unit") or "").strip()


def _layout(root: Element, path: Path, channel: str | None) -> _Layout:
    series = [s for c in children(root, "component") for s in children(c, "series")]
    if not series:
        raise BadInputError(path, "aECG without a component/series: no waveform")
    rhythm = [s for s in series if _code(s).upper() == "RHYTHM"]
    chosen = (rhythm or series)[0]
    notes = (f"{len(series) - 1} more aECG series not read",) if len(series) > 1 else ()
    sets = [q for c in children(chosen, "component") for q in children(c, "sequenceSet")]
    if not sets:
        raise BadInputError(path, "aECG series without a sequenceSet: no waveform")
    sequences = [q for c in children(sets[0], "component") for q in children(c, "sequence")]
    times = [q for q in sequences if _code(q).upper() in _TIME_CODES]
    leads = [q for q in sequences if _code(q).upper() not in _TIME_CODES]
    if not times:
        raise BadInputError(path, "aECG sequenceSet without a TIME_ABSOLUTE or TIME_RELATIVE sequence")
    if not leads:
        raise BadInputError(path, "aECG sequenceSet without lead sequences")
    value = child(times[0], "value")
    increment, unit = _number(child(value, "increment"), "time increment", path)
    if unit not in _SECONDS or increment <= 0:
        raise BadInputError(path, f"aECG time increment {increment:g} {unit!r} is not a positive time in s or ms")
    fs = check_fs(1.0 / (increment * _SECONDS[unit]), path)
    names = tuple(_code(q) or f"sequence {i + 1}" for i, q in enumerate(leads))
    units = []
    for name, q in zip(names, leads):
        scale_unit = _number(child(q, "value", "scale"), f"scale of {name}", path)[1]
        units.append(scale_unit)
    selection = ecg_channels(names, units, channel=channel, path=path)
    counts = {names[i]: _count(leads[i], names[i], path) for i in selection.indices}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{k} {v}" for k, v in counts.items())
        raise BadInputError(path, f"aECG leads have different numbers of samples ({detail})")
    n_samples = next(iter(counts.values()))
    if n_samples == 0:
        raise BadInputError(path, "aECG leads have no samples (empty digits)")
    start = None
    for low in (child(chosen, "effectiveTime", "low"), child(root, "effectiveTime", "low"), child(value, "head")):
        if low is not None and (start := parse_hl7_time(low.get("value") or "")) is not None:
            break
    return _Layout(fs, n_samples, names, tuple(leads), selection, start, selection.notes + notes)


def _digits(sequence: Element) -> Element | None:
    return child(sequence, "value", "digits")


def _count(sequence: Element, name: str, path: Path) -> int:
    digits = _digits(sequence)
    if digits is None:
        raise BadInputError(path, f"aECG lead {name} has no digits")
    return len((digits.text or "").split())


def aecg_info(path: str | Path, *, channel: str | None = None) -> RecordInfo:
    """fs, length and ECG leads of the rhythm series (the digits are counted, not converted)."""
    path = Path(path)
    layout = _layout(parse(path, root="AnnotatedECG"), path, channel)
    return RecordInfo(path=str(path), record_id=path.stem, fs=layout.fs, n_samples=layout.n_samples,
                      leads=layout.selection.leads, reader="aecg", notes=layout.notes, start_time=layout.start_time)


def read_aecg(
    path: str | Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    modality: str = "unknown",
    allow_nan: bool = False,
    channel: str | None = None,
) -> Record:
    """Read the rhythm leads of an HL7 aECG file (or ``[start_s, end_s)`` of them) into a :class:`Record`."""
    path = Path(path)
    layout = _layout(parse(path, root="AnnotatedECG"), path, channel)
    sampfrom, sampto = sample_range(start_s, end_s, layout.fs, layout.n_samples, path)
    rows = []
    for i in layout.selection.indices:
        name, sequence = layout.names[i], layout.sequences[i]
        origin, origin_unit = _number(child(sequence, "value", "origin"), f"origin of {name}", path)
        scale, scale_unit = _number(child(sequence, "value", "scale"), f"scale of {name}", path)
        if not is_voltage_unit(origin_unit):
            raise BadInputError(path, f"aECG origin unit {origin_unit!r} of {name} is not a voltage")
        try:
            digits = np.array(_digits(sequence).text.split()[sampfrom:sampto], dtype=np.int64)
        except (ValueError, OverflowError):
            raise BadInputError(path, f"aECG digits of {name} are not all integers") from None
        rows.append(origin * unit_scale(origin_unit) + scale * unit_scale(scale_unit) * digits.astype(np.float64))
    signal = np.asarray(np.stack(rows), dtype=np.float32)
    check_signal(signal, path, allow_nan=allow_nan)
    return Record(
        signal=signal,
        fs=layout.fs,
        leads=layout.selection.leads,
        record_id=path.stem,
        modality=modality,
        source=str(path),
        start_s=sampfrom / layout.fs,
        meta={"n_samples_total": layout.n_samples},
        notes=layout.notes,
        start_time=layout.start_time,
    )
