"""DICOM ECG waveforms (12-lead, General and Ambulatory ECG IODs), read with ``pydicom``.

A DICOM ECG holds one or more *multiplex groups* in its Waveform Sequence
(typically a 10-s RHYTHM group and a MEDIAN BEAT group). The reader takes the
group labelled RHYTHM, else the longest group that is not a median beat
(the group read is named in ``meta['multiplex_group']``).

* Lead names: each channel's Channel Source code meaning ("Lead I (Einthoven)"
  → 'I', "Lead aVR" → 'aVR'), else its Channel Label, else its code value
  (SCP-ECG ``5.6.3-9-N`` and MDC codes share one numbering: 1 I, 2 II, 3–8
  V1–V6, 61 III, 62 aVR, 63 aVL, 64 aVF).
* Units and values: pydicom's ``waveform_array`` applies each channel's
  sensitivity, correction factor and baseline; the Channel Sensitivity Units
  code (UCUM 'uV', 'mV') gives the unit, converted to mV.
* fs: the group's Sampling Frequency. Start time: Acquisition DateTime, else
  Acquisition Date + Time, else Content Date + Time.
* Non-ECG channels are chosen out by :func:`ecgshift.io.channels.ecg_channels`.

``dicom_info`` does not decode the samples (pydicom defers the waveform data).
"""

from __future__ import annotations

import datetime as _dt
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.valuerep import DA, DT, TM

from ecgshift.errors import BadInputError
from ecgshift.io.channels import ChannelSelection, ecg_channels
from ecgshift.io.checks import check_fs, check_signal, sample_range, to_millivolts
from ecgshift.io.info import RecordInfo
from ecgshift.record import Record

__all__ = ["read_dicom", "dicom_info", "MDC_LEADS"]

#: SCP-ECG / ISO 11073 MDC lead codes (the number after '5.6.3-9-' or in 'MDC_ECG_LEAD' tables).
MDC_LEADS = {1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF"}


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"


def _open(path: Path):
    if not path.is_file():
        raise BadInputError(path, "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, defer_size="16 KB")
            waveforms = ds.get("WaveformSequence")
    except Exception as exc:  # pydicom raises many types for malformed files
        raise BadInputError(path, f"not a readable DICOM file ({_short(exc)})") from None
    if not waveforms:
        modality = ds.get("Modality", "unknown")
        raise BadInputError(path, f"no ECG waveform in this DICOM file (modality {modality}, no Waveform Sequence)")
    return ds


def _group(ds, path: Path) -> int:
    """Index of the multiplex group to read: RHYTHM, else the longest non-median group."""
    scored = []
    for i, item in enumerate(ds.WaveformSequence):
        try:
            label = str(item.get("MultiplexGroupLabel", "") or "").upper()
            fs = float(item.get("SamplingFrequency") or 0)
            n = int(item.get("NumberOfWaveformSamples") or 0)
        except Exception as exc:
            raise BadInputError(path, f"malformed waveform group {i} ({_short(exc)})") from None
        scored.append(("RHYTHM" in label, "MEDIAN" not in label, n / fs if fs > 0 else 0.0, -i))
    return -max(scored)[3]


def _channel(item, j: int) -> tuple[str, str]:
    """(name, unit) of one Channel Definition item."""
    name = ""
    source = item.get("ChannelSourceSequence")
    if source:
        code = source[0]
        name = str(code.get("CodeMeaning", "") or "").strip()
        if not name:
            value = str(code.get("CodeValue", "") or "")
            number = value.rsplit("-", 1)[-1] if value.startswith("5.6.3-9-") else value.split(":")[-1]
            name = MDC_LEADS.get(int(number), value) if number.isdigit() else value
    if not name:
        name = str(item.get("ChannelLabel", "") or "").strip() or f"channel {j + 1}"
    units = item.get("ChannelSensitivityUnitsSequence")
    unit = str(units[0].get("CodeValue", "") or "").strip() if units else ""
    return name, unit


def _layout(ds, path: Path, channel: str | None) -> tuple[int, float, int, ChannelSelection]:
    index = _group(ds, path)
    item = ds.WaveformSequence[index]
    try:
        fs = check_fs(item.get("SamplingFrequency"), path)
        n_samples = int(item.NumberOfWaveformSamples)
        definitions = list(item.ChannelDefinitionSequence)
        n_channels = int(item.NumberOfWaveformChannels)
        names, units = zip(*(_channel(c, j) for j, c in enumerate(definitions))) if definitions else ((), ())
    except BadInputError:
        raise
    except Exception as exc:
        raise BadInputError(path, f"malformed waveform group ({_short(exc)})") from None
    if len(definitions) != n_channels:
        raise BadInputError(path, f"the waveform group declares {n_channels} channels but defines {len(definitions)}")
    if n_samples <= 0:
        raise BadInputError(path, "zero-length waveform (0 samples)")
    return index, fs, n_samples, ecg_channels(names, units, channel=channel, path=path)


def _start_time(ds) -> _dt.datetime | None:
    try:
        if ds.get("AcquisitionDateTime"):
            return _plain(DT(str(ds.AcquisitionDateTime)))
        for date, time in (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime")):
            if ds.get(date) and ds.get(time):
                return _dt.datetime.combine(DA(str(ds.get(date))), TM(str(ds.get(time))))
    except Exception:  # a malformed date is no clock time, not a reason to refuse the ECG
        return None
    return None


def _plain(value: _dt.datetime) -> _dt.datetime:
    """pydicom's DT as a plain datetime (same fields and zone)."""
    return _dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                        value.microsecond, tzinfo=value.tzinfo)


def dicom_info(path: str | Path, *, channel: str | None = None) -> RecordInfo:
    """fs, length and ECG leads of the waveform group ``read_dicom`` reads, without decoding samples."""
    path = Path(path)
    ds = _open(path)
    _, fs, n_samples, selection = _layout(ds, path, channel)
    return RecordInfo(path=str(path), record_id=path.stem, fs=fs, n_samples=n_samples, leads=selection.leads,
                      reader="dicom", notes=selection.notes, start_time=_start_time(ds))


def read_dicom(
    path: str | Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    modality: str = "unknown",
    allow_nan: bool = False,
    channel: str | None = None,
) -> Record:
    """Read the ECG leads of a DICOM waveform file (or ``[start_s, end_s)`` of them) into a :class:`Record`."""
    path = Path(path)
    ds = _open(path)
    index, fs, n_samples, selection = _layout(ds, path, channel)
    sampfrom, sampto = sample_range(start_s, end_s, fs, n_samples, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = ds.waveform_array(index)  # samples × channels, sensitivity and baseline applied
    except Exception as exc:
        raise BadInputError(path, f"waveform data could not be decoded ({_short(exc)})") from None
    if values.shape[0] != n_samples:
        raise BadInputError(path, f"waveform data hold {values.shape[0]} samples, the header declares {n_samples}")
    signal = np.ascontiguousarray(values[sampfrom:sampto, list(selection.indices)].T, dtype=np.float32)
    signal = to_millivolts(signal, list(selection.units), path).astype(np.float32, copy=False)
    check_signal(signal, path, allow_nan=allow_nan)
    group = str(ds.WaveformSequence[index].get("MultiplexGroupLabel", "") or "")
    return Record(
        signal=signal,
        fs=fs,
        leads=selection.leads,
        record_id=path.stem,
        modality=modality,
        source=str(path),
        start_s=sampfrom / fs,
        meta={"n_samples_total": n_samples, "multiplex_group": group, "units": list(selection.units)},
        notes=selection.notes,
        start_time=_start_time(ds),
    )
