"""The one in-memory form of every ECG: :class:`Record`.

A Record holds a signal as ``leads × samples`` float32 in mV, its sampling rate
``fs`` in Hz, canonical lead names, the modality it came from, record-level
labels and, for annotated recordings, rhythm intervals and beats. An
annotation-only recording (beats but no waveform) has a signal of shape
``(0, n_samples)``: zero leads, the true length, and no memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "MODALITIES",
    "LABELS",
    "Record",
    "RhythmInterval",
    "Beats",
    "rhythm_to_label",
    "label_fractions",
    "intervals_from_changes",
]

#: Recording modalities: resting 12-lead, telemedical handheld, Holter.
MODALITIES = ("recg", "tecg", "hecg", "unknown")
#: Harmonized labels: atrial fibrillation, (normal) sinus rhythm, any other rhythm, too noisy to label.
LABELS = ("AF", "SR", "other", "noisy")

_RHYTHM_LABEL = {"AFIB": "AF", "AF": "AF", "N": "SR", "SR": "SR", "NOISE": "noisy", "~": "noisy"}


def rhythm_to_label(rhythm: str) -> str:
    """Map a rhythm code ('AFIB', 'N', 'AFL', ...) to a harmonized label.

    Only atrial fibrillation is AF and only normal sinus rhythm ('N') is SR;
    flutter, sinus bradycardia and every other rhythm are 'other'.

    >>> [rhythm_to_label(r) for r in ["AFIB", "N", "AFL", "SBR"]]
    ['AF', 'SR', 'other', 'other']
    """
    return _RHYTHM_LABEL.get(rhythm.strip().upper(), "other")


@dataclass(frozen=True)
class RhythmInterval:
    """A stretch of one rhythm, in seconds from the start of the recording."""

    start_s: float
    end_s: float
    rhythm: str

    @property
    def label(self) -> str:
        return rhythm_to_label(self.rhythm)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, eq=False)
class Beats:
    """Beat annotations: sample indices (at ``fs``) and their symbols ('N', 'V', ...)."""

    sample: np.ndarray
    symbol: np.ndarray
    fs: float

    @property
    def time_s(self) -> np.ndarray:
        return self.sample / self.fs

    def __len__(self) -> int:
        return int(self.sample.size)


@dataclass(frozen=True, eq=False)
class Record:
    """One ECG recording (or a chunk of one: ``start_s`` is its offset in the whole).

    ``notes``: what the reader did that a user should know, one line each (non-ECG channels ignored,
    leads derived, a header checksum …); not errors. ``start_time``: the clock time of the whole
    recording's first sample as the file states it (time-zone aware only when the file gives a zone),
    or None when the format stores none; a chunk's first sample is at ``start_time + start_s``.
    """

    signal: np.ndarray
    fs: float
    leads: tuple[str, ...]
    record_id: str
    modality: str = "unknown"
    patient_id: str | None = None
    label: str | None = None
    labels: tuple[str, ...] = ()
    rhythms: tuple[RhythmInterval, ...] = ()
    beats: Beats | None = None
    source: str | None = None
    start_s: float = 0.0
    meta: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    start_time: datetime | None = None

    def __post_init__(self) -> None:
        if self.signal.ndim != 2:
            raise ValueError(f"{self.record_id}: signal must be leads × samples, got shape {self.signal.shape}")
        if self.signal.shape[0] != len(self.leads):
            raise ValueError(f"{self.record_id}: {self.signal.shape[0]} signal rows but {len(self.leads)} lead names")
        if self.modality not in MODALITIES:
            raise ValueError(f"{self.record_id}: modality {self.modality!r} is not one of {MODALITIES}")
        if self.label is not None and self.label not in LABELS:
            raise ValueError(f"{self.record_id}: label {self.label!r} is not one of {LABELS}")
        if not self.fs > 0:
            raise ValueError(f"{self.record_id}: fs must be positive, got {self.fs}")

    @property
    def n_leads(self) -> int:
        return int(self.signal.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    @property
    def has_signal(self) -> bool:
        return self.n_leads > 0

    def replace(self, **changes) -> "Record":
        """A copy with some fields changed (records are immutable)."""
        return replace(self, **changes)


def intervals_from_changes(
    times_s: Sequence[float], rhythms: Sequence[str], *, end_s: float
) -> tuple[RhythmInterval, ...]:
    """Rhythm-change annotations → intervals: each rhythm runs until the next change (the last until ``end_s``)."""
    out: list[RhythmInterval] = []
    for i, (start, rhythm) in enumerate(zip(times_s, rhythms)):
        stop = times_s[i + 1] if i + 1 < len(times_s) else end_s
        if stop > start:
            out.append(RhythmInterval(float(start), float(stop), rhythm))
    return tuple(out)


def label_fractions(
    rhythms: Iterable[RhythmInterval], start_s: float, end_s: float
) -> dict[str, float]:
    """Fraction of ``[start_s, end_s)`` covered by each harmonized label (unannotated time counts for none)."""
    length = end_s - start_s
    out = {label: 0.0 for label in LABELS}
    if length <= 0:
        return out
    for interval in rhythms:
        overlap = min(end_s, interval.end_s) - max(start_s, interval.start_s)
        if overlap > 0:
            out[interval.label] += overlap / length
    return out
