"""Which channels of a recording are ECG: one rule for every reader.

A recording may carry other signals beside the ECG (a Holter's respiration, a
monitor's PPG and blood pressure, a polysomnograph's EEG, an EDF+ event
channel). :func:`ecg_channels` takes the channel names and units a reader found
and decides, for each channel, whether it is an ECG lead to analyse.

The rule, in order:

1. **Named non-ECG → ignored.** A name that says it is another signal is never
   ECG, whatever its unit: PPG/PLETH/pulse, RESP/thoracic/abdominal/airflow,
   ABP/ART/BP/CVP/PAP/pressure, SpO2/SaO2/O2/CO2, EEG (also bare 10-20 electrode
   names such as ``Fp1``, ``C3-A2``), EOG, EMG/chin/leg, event/marker/annotation/
   trigger/status channels, temperature, position/accelerometer/activity,
   snore, light, heart rate/HR/pulse rate. Checked first, so 'ECG HR' and
   'Resp (ECG-derived)' are not ECG leads.
2. **Unit not a voltage → ignored.** A unit that is neither a voltage (mV, uV,
   µV, V, nV) nor unspecified (empty, ``NU`` for "no unit") is another
   quantity: ``pm`` (per minute), ``%``, ``mmHg``, ``degC``, ``bpm``, ``l/min`` …
3. **Named ECG → ECG.** ECG/EKG in the name (``ECG``, ``ECG1``, ``EKG II``,
   ``ECG lead II``), a standard lead (I, II, III, aVR, aVL, aVF, V1–V6, also as
   ``Lead I``, ``Lead I (Einthoven)``, ``MDC_ECG_LEAD_II``) or a modified limb /
   chest lead (MLI, MLII, MLIII, ML5, MV1 …, CM5, CC5, D1-D3 (DI-DIII)).
4. **Otherwise (an unknown name such as ``ch1``) → ECG only as a fallback:** when
   no channel is ECG by name (3), the unknown-named channels with a voltage or
   unspecified unit are taken as ECG, and a note says so. When some channel is
   ECG by name, unknown-named channels are ignored and named in the note.

A record is refused (:class:`~ecgshift.errors.BadInputError`, one line) only
when no channel is left ("no ECG channel among: 'PLETH' (NU), 'RESP' (pm)").

Every ignored channel is named in one note, for ``Record.notes``, e.g.
``"ignored non-ECG channels: PLETH (NU), RESP (pm)"``.

The override ``channel="II"`` chooses one channel by its exact name as the file
writes it (or its canonical lead name: ``channel="II"`` finds ``"ECG II"``),
bypassing rules 1, 3 and 4; its unit must still be a voltage (rule 2), since the
signal is scaled to mV. An absent name is refused with the list of names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ecgshift.errors import BadInputError
from ecgshift.leads import STANDARD_LEADS, normalize_lead_name

__all__ = ["ChannelSelection", "ecg_channels", "lead_name", "is_voltage_unit", "unit_scale", "VOLTAGE_UNITS"]

#: Unit spellings (lower case) → factor to mV. Empty and 'NU' (WFDB's "no unit") are taken as mV.
VOLTAGE_UNITS = {
    "mv": 1.0, "millivolt": 1.0, "millivolts": 1.0,
    "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3,
    "nv": 1e-6, "nanovolt": 1e-6, "nanovolts": 1e-6,
    "v": 1e3, "volt": 1e3, "volts": 1e3,
}
_UNSPECIFIED = {"", "nu"}

_NON_ECG = re.compile(
    r"""(
      ppg|pleth|pulse|resp|thor|abdo|abd\b|airflow|flow|nasal|cannula|breath|
      \babp\b|\bart\b|\bbp\b|nbp|\bcvp\b|\bpap\b|press|
      spo2|sao2|\bo2\b|co2|sat\b|
      eeg|eog|emg|chin|\bleg|\bloc\b|\broc\b|
      event|marker|annot|trigger|status|button|
      temp|position|\bpos\b|accel|\bacc|activity|motion|
      snore|light|\bhr\b|heart\s*rate|rate
    )""",
    re.IGNORECASE | re.VERBOSE,
)
#: Bare 10-20 EEG electrode names and derivations: Fp1, C3, O2, Cz, C3-A2, F4-M1 …
_EEG_ELECTRODE = re.compile(r"^(fp|af|f|fc|ft|c|cp|t|tp|p|po|o|a|m)(z|\d{1,2})([\s\-:/]+(fp|af|f|fc|ft|c|cp|t|tp|p|po|o|a|m)(z|\d{1,2}))?$", re.IGNORECASE)
_ECG_WORD = re.compile(r"ecg|ekg", re.IGNORECASE)
_LEAD_PREFIX = re.compile(r"^(mdc_ecg_lead_|ecg\s*lead\s*|ekg\s*lead\s*|lead\s*)", re.IGNORECASE)
_PARENTHESIS = re.compile(r"\s*\([^)]*\)\s*$")
_ROMAN_D = {"d1": "I", "d2": "II", "d3": "III", "di": "I", "dii": "II", "diii": "III"}
_OTHER_LEADS = re.compile(r"^(ml\d|ml(avr|avl|avf)|cm\d|cc\d|v[7-9]|v[3-6]r)$", re.IGNORECASE)
_KNOWN = {*STANDARD_LEADS, "MLI", "MLII", "MLIII", "ECG"}


def lead_name(label: str) -> str:
    """A channel label → its canonical lead name: ``'Lead I (Einthoven)'`` → ``'I'``,
    ``'MDC_ECG_LEAD_AVR'`` → ``'aVR'``, ``'ECG lead II'`` → ``'II'``, ``'DII'`` → ``'II'``, ``'ml5'`` → ``'ML5'``;
    any other label is returned as :func:`~ecgshift.leads.normalize_lead_name` gives it.

    >>> [lead_name(n) for n in ["Lead I (Einthoven)", "MDC_ECG_LEAD_AVR", "ECG lead II", "ECG1", "Resp"]]
    ['I', 'aVR', 'II', 'ECG1', 'Resp']
    """
    text = " ".join(str(label).replace("\x00", "").split())
    bare = _PARENTHESIS.sub("", _LEAD_PREFIX.sub("", text)).strip()
    if text.lower() == "ekg":
        return "ECG"
    for candidate in (text, bare):
        canonical = normalize_lead_name(candidate)
        if canonical in _KNOWN:
            return canonical
        if candidate.lower() in _ROMAN_D:
            return _ROMAN_D[candidate.lower()]
        if _OTHER_LEADS.match(candidate):
            return candidate.upper()
    return normalize_lead_name(text)


def _is_lead(name: str) -> bool:
    canonical = lead_name(name)
    return canonical in _KNOWN or bool(_OTHER_LEADS.match(canonical))


def is_voltage_unit(unit: str | None) -> bool:
    """Whether a unit is a voltage (mV, uV, µV, V, nV) or unspecified (empty, 'NU')."""
    key = (unit or "").strip().lower()
    return key in VOLTAGE_UNITS or key in _UNSPECIFIED


def unit_scale(unit: str | None) -> float:
    """Factor from the unit to mV (unspecified units are taken as mV); KeyError for a non-voltage."""
    key = (unit or "").strip().lower()
    return 1.0 if key in _UNSPECIFIED else VOLTAGE_UNITS[key]


def _kind(name: str) -> str:
    """'ecg', 'other' (named non-ECG) or 'unknown', from the name alone."""
    text = " ".join(str(name).split())
    if _NON_ECG.search(text) or _EEG_ELECTRODE.match(text):
        return "other"  # first: 'ECG HR', 'Resp (ECG-derived)' are not ECG leads
    if _ECG_WORD.search(text) or _is_lead(text):
        return "ecg"
    return "unknown"


def _describe(name: str, unit: str | None) -> str:
    unit = (unit or "").strip()
    return f"{name} ({unit})" if unit else str(name)


@dataclass(frozen=True)
class ChannelSelection:
    """The ECG channels of a recording: their indices (in file order), canonical lead names and units,
    and one note naming what was ignored or assumed (empty when nothing was)."""

    indices: tuple[int, ...]
    leads: tuple[str, ...]
    units: tuple[str, ...]
    ignored: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def ecg_channels(
    names: Sequence[str],
    units: Sequence[str | None] | None = None,
    *,
    channel: str | None = None,
    path: str | Path | None = None,
) -> ChannelSelection:
    """Choose the ECG channels among ``names`` (with their ``units``), by the rule of this module's docstring.

    ``channel``: one channel by exact name (or canonical lead name) instead of the rule.
    ``path`` names the file in the one-line :class:`BadInputError` raised when nothing is usable.

    >>> ecg_channels(["MLII", "V1", "RESP", "PLETH"], ["mV", "mV", "pm", "NU"]).leads
    ('MLII', 'V1')
    >>> ecg_channels(["MLII", "V1", "RESP", "PLETH"], ["mV", "mV", "pm", "NU"]).notes
    ('ignored non-ECG channels: RESP (pm), PLETH (NU)',)
    """
    names = [str(n).strip() for n in names]
    units = [("" if u is None else str(u).strip()) for u in (units if units is not None else [""] * len(names))]
    if len(units) != len(names):
        raise ValueError(f"{len(names)} channel names but {len(units)} units")
    if not names:
        raise BadInputError(path, "no channels in the file")
    if channel is not None:
        return _override(names, units, channel, path)

    kinds = [_kind(n) if is_voltage_unit(u) else "not-voltage" for n, u in zip(names, units)]
    named = [i for i, k in enumerate(kinds) if k == "ecg"]
    notes: list[str] = []
    if named:
        keep = named
    else:
        keep = [i for i, k in enumerate(kinds) if k == "unknown"]
        if keep:
            notes.append(
                "no channel is named as an ECG lead: taken as ECG by their voltage unit: "
                + ", ".join(_describe(names[i], units[i]) for i in keep)
            )
    if not keep:
        raise BadInputError(path, "no ECG channel among: " + ", ".join(_describe(repr(n), u) for n, u in zip(names, units)))
    ignored = tuple(_describe(names[i], units[i]) for i in range(len(names)) if i not in keep)
    if ignored:
        notes.insert(0, "ignored non-ECG channels: " + ", ".join(ignored))
    return ChannelSelection(
        indices=tuple(keep),
        leads=tuple(lead_name(names[i]) for i in keep),
        units=tuple(units[i] for i in keep),
        ignored=ignored,
        notes=tuple(notes),
    )


def _override(names: list[str], units: list[str], channel: str, path: str | Path | None) -> ChannelSelection:
    wanted = str(channel).strip()
    matches = [i for i, n in enumerate(names) if n == wanted]
    if not matches:
        matches = [i for i, n in enumerate(names) if lead_name(n) == wanted]
    if not matches:
        raise BadInputError(path, f"no channel named {wanted!r} (channels: {', '.join(names)})")
    if len(matches) > 1:
        raise BadInputError(path, f"{len(matches)} channels are named {wanted!r}: the choice is ambiguous")
    i = matches[0]
    if not is_voltage_unit(units[i]):
        raise BadInputError(path, f"channel {names[i]!r} has unit {units[i]!r}, not a voltage: it is no ECG")
    ignored = tuple(_describe(names[j], units[j]) for j in range(len(names)) if j != i)
    notes = (f"channel {names[i]!r} chosen by name ({len(ignored)} other channels not read)",) if ignored else ()
    return ChannelSelection(indices=(i,), leads=(lead_name(names[i]),), units=(units[i],), ignored=ignored, notes=notes)
