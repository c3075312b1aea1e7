"""GE MUSE XML exports (``<RestingECG>``), parsed with ``defusedxml``.

What is read:

* the ``<Waveform>`` whose ``WaveformType`` is ``Rhythm`` (the full 10 s), else
  the first one (``Median``: one representative beat; a note says so);
* fs = ``SampleBase`` × 10^``SampleExponent``;
* each ``<LeadData>``: ``LeadID`` names the lead, ``WaveFormData`` is base64 of
  little-endian int16 samples, × ``LeadAmplitudeUnitsPerBit`` in
  ``LeadAmplitudeUnits`` (``MICROVOLTS``, ``MILLIVOLTS``) → mV. A declared
  ``LeadSampleCountTotal`` must match the decoded data;
* MUSE stores 8 independent leads (I, II, V1–V6): the limb leads it leaves out
  are derived by Einthoven's and Goldberger's relations, III = II − I,
  aVR = −(I + II)/2, aVL = I − II/2, aVF = II − I/2, and a note names them;
* start time: ``TestDemographics/AcquisitionDate`` (MM-DD-YYYY) and
  ``AcquisitionTime`` (HH:MM:SS).

Leads of different lengths, undecodable base64, an odd byte count and a root
other than ``RestingECG`` are refused with one line. ``muse_info`` parses the
XML but decodes no samples.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element

import numpy as np

from ecgshift.errors import BadInputError
from ecgshift.io.channels import ChannelSelection, ecg_channels
from ecgshift.io.checks import check_fs, check_signal, sample_range, to_millivolts
from ecgshift.io.info import RecordInfo
from ecgshift.io.xmlsafe import children, parse, text_of
from ecgshift.record import Record

__all__ = ["read_muse", "muse_info", "DERIVED_LEADS", "derive_limb_leads"]

#: The limb leads MUSE leaves out, as (coefficient of I, coefficient of II).
DERIVED_LEADS = {"III": (-1.0, 1.0), "aVR": (-0.5, -0.5), "aVL": (1.0, -0.5), "aVF": (-0.5, 1.0)}
_ORDER = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def derive_limb_leads(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
    """III, aVR, aVL and aVF from leads I and II (Einthoven, Goldberger).

    >>> {k: float(v[0]) for k, v in derive_limb_leads(np.array([1.0]), np.array([3.0])).items()}
    {'III': 2.0, 'aVR': -2.0, 'aVL': -0.5, 'aVF': 2.5}
    """
    return {name: a * lead_i + b * lead_ii for name, (a, b) in DERIVED_LEADS.items()}


@dataclass(frozen=True)
class _Layout:
    fs: float
    n_samples: int
    lead_data: tuple[Element, ...]
    names: tuple[str, ...]
    selection: ChannelSelection
    derive: tuple[str, ...]
    waveform_type: str
    start_time: _dt.datetime | None
    notes: tuple[str, ...]


def _float(text: str, what: str, path: Path) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInputError(path, f"MUSE {what} {text[:40]!r} is not a number") from None
    if not np.isfinite(value):
        raise BadInputError(path, f"MUSE {what} is not finite")
    return value


def _start_time(root: Element) -> _dt.datetime | None:
    date, time = text_of(root, "TestDemographics", "AcquisitionDate"), text_of(root, "TestDemographics", "AcquisitionTime")
    for fmt in ("%m-%d-%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return _dt.datetime.strptime(f"{date} {time}", fmt)
        except ValueError:
            continue
    return None


def _count(lead: Element, name: str, path: Path) -> int:
    """Samples in a lead, from its declared count (else the base64 length)."""
    declared = text_of(lead, "LeadSampleCountTotal")
    if declared:
        if not declared.isdigit():
            raise BadInputError(path, f"MUSE LeadSampleCountTotal of {name} {declared[:20]!r} is not a count")
        return int(declared)
    data = "".join(text_of(lead, "WaveFormData").split())
    return (len(data) * 3 // 4 - data[-2:].count("=")) // 2


def _layout(root: Element, path: Path, channel: str | None) -> _Layout:
    waveforms = list(children(root, "Waveform"))
    if not waveforms:
        raise BadInputError(path, "MUSE file without a <Waveform>")
    rhythm = [w for w in waveforms if text_of(w, "WaveformType").lower() == "rhythm"]
    waveform = (rhythm or waveforms)[0]
    kind = text_of(waveform, "WaveformType") or "unnamed"
    notes: list[str] = [] if rhythm else [f"no Rhythm waveform: read the {kind} waveform"]
    base = _float(text_of(waveform, "SampleBase") or "nan", "SampleBase", path)
    exponent = _float(text_of(waveform, "SampleExponent") or "0", "SampleExponent", path)
    if not -3 <= exponent <= 3:
        raise BadInputError(path, f"MUSE SampleExponent {exponent:g} is implausible")
    fs = check_fs(base * 10.0**exponent, path)
    lead_data = tuple(children(waveform, "LeadData"))
    if not lead_data:
        raise BadInputError(path, f"MUSE {kind} waveform without <LeadData>")
    names = tuple(text_of(d, "LeadID") or f"lead {i + 1}" for i, d in enumerate(lead_data))
    units = [text_of(d, "LeadAmplitudeUnits") for d in lead_data]
    selection = ecg_channels(names, units, channel=channel, path=path)
    twice = sorted({lead for lead in selection.leads if selection.leads.count(lead) > 1})
    if twice:
        raise BadInputError(path, f"MUSE waveform holds lead {', '.join(twice)} more than once")
    counts = {names[i]: _count(lead_data[i], names[i], path) for i in selection.indices}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{k} {v}" for k, v in counts.items())
        raise BadInputError(path, f"MUSE leads have different numbers of samples ({detail})")
    n_samples = next(iter(counts.values()))
    if n_samples <= 0:
        raise BadInputError(path, "MUSE leads have no samples")
    present = set(selection.leads)
    derive = ()
    if channel is None and {"I", "II"} <= present:
        derive = tuple(name for name in DERIVED_LEADS if name not in present)
        if derive:
            notes.append(f"leads {', '.join(derive)} derived from I and II (MUSE stores I, II, V1–V6)")
    return _Layout(fs, n_samples, lead_data, names, selection, derive, kind, _start_time(root),
                   selection.notes + tuple(notes))


def _leads_out(layout: _Layout) -> tuple[str, ...]:
    leads = list(layout.selection.leads) + list(layout.derive)
    known = [name for name in _ORDER if name in leads]
    return tuple(known + [name for name in leads if name not in _ORDER])


def muse_info(path: str | Path, *, channel: str | None = None) -> RecordInfo:
    """fs, length and leads (derived ones included) of the waveform ``read_muse`` reads; no samples decoded."""
    path = Path(path)
    layout = _layout(parse(path, root="RestingECG"), path, channel)
    return RecordInfo(path=str(path), record_id=path.stem, fs=layout.fs, n_samples=layout.n_samples,
                      leads=_leads_out(layout), reader="muse", notes=layout.notes, start_time=layout.start_time)


def _decode(lead: Element, name: str, n_samples: int, path: Path) -> np.ndarray:
    text = "".join(text_of(lead, "WaveFormData").split())
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInputError(path, f"MUSE WaveFormData of {name} is not valid base64") from None
    if len(raw) != 2 * n_samples:
        raise BadInputError(path, f"MUSE WaveFormData of {name} holds {len(raw)} bytes, {n_samples} samples need {2 * n_samples}")
    per_bit = _float(text_of(lead, "LeadAmplitudeUnitsPerBit") or "nan", f"LeadAmplitudeUnitsPerBit of {name}", path)
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) * per_bit


def read_muse(
    path: str | Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    modality: str = "unknown",
    allow_nan: bool = False,
    channel: str | None = None,
) -> Record:
    """Read a GE MUSE XML ECG (or ``[start_s, end_s)`` of it) into a 12-lead :class:`Record` (see the module)."""
    path = Path(path)
    layout = _layout(parse(path, root="RestingECG"), path, channel)
    sampfrom, sampto = sample_range(start_s, end_s, layout.fs, layout.n_samples, path)
    values = {}
    for i, lead, unit in zip(layout.selection.indices, layout.selection.leads, layout.selection.units):
        row = _decode(layout.lead_data[i], layout.names[i], layout.n_samples, path)[sampfrom:sampto]
        values[lead] = to_millivolts(row[None, :], [unit], path)[0]
    if layout.derive:
        derived = derive_limb_leads(values["I"], values["II"])
        values.update({name: derived[name] for name in layout.derive})
    leads = _leads_out(layout)
    signal = np.asarray(np.stack([values[name] for name in leads]), dtype=np.float32)
    check_signal(signal, path, allow_nan=allow_nan)
    return Record(
        signal=signal,
        fs=layout.fs,
        leads=leads,
        record_id=path.stem,
        modality=modality,
        source=str(path),
        start_s=sampfrom / layout.fs,
        meta={"n_samples_total": layout.n_samples, "waveform_type": layout.waveform_type},
        notes=layout.notes,
        start_time=layout.start_time,
    )
