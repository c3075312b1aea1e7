"""Harmonization: pure functions on signals, and a small pipeline object.

Every recording, whatever its modality, goes through the same steps before a
model sees it: :func:`select_lead` → :func:`resample` → :func:`bandpass`; then
``windows.py`` cuts fixed windows and :func:`normalize` scales each one.
:class:`HarmonizeConfig` holds every choice, and is hashed into cache keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy import signal as sps

from ecgshift.errors import NO_ECG_SIGNAL, BadInputError
from ecgshift.leads import is_ecg_lead
from ecgshift.record import Record
from ecgshift.errors import UnknownNameError

__all__ = [
    "HarmonizeConfig",
    "Harmonizer",
    "choose_lead",
    "select_lead",
    "resample",
    "bandpass",
    "normalize",
]


@dataclass(frozen=True)
class HarmonizeConfig:
    """Every harmonization choice. Durations in seconds, rates in Hz.

    - ``lead``: ``"auto"`` applies the documented rule of :func:`choose_lead`;
      any other value is an exact lead name that must exist.
    - ``fs``: the common sampling rate every record is resampled to.
    - ``band_hz``: zero-phase Butterworth band-pass (order ``filter_order``).
    - ``window_s`` / ``stride_s``: window length and step (``stride_s=None`` → non-overlapping).
    - ``min_s``: records shorter than this are rejected; between ``min_s`` and
      ``window_s`` they are zero-padded at the end to one window (after normalization).
    - ``af_threshold``: a window of an annotated record is AF (or SR) when at
      least this fraction of it is annotated AF (or normal sinus rhythm); else 'other'.
    """

    fs: float = 100.0
    lead: str = "auto"
    band_hz: tuple[float, float] = (0.5, 40.0)
    filter_order: int = 3
    window_s: float = 10.0
    stride_s: float | None = None
    min_s: float = 5.0
    af_threshold: float = 0.9

    def __post_init__(self) -> None:
        low, high = self.band_hz
        if not 0 <= low < high < self.fs / 2:
            raise ValueError(f"band_hz {self.band_hz} must satisfy 0 <= low < high < fs/2 = {self.fs / 2}")
        if not 0 < self.min_s <= self.window_s:
            raise ValueError(f"min_s must be in (0, window_s], got {self.min_s}")
        if not 0.5 <= self.af_threshold <= 1.0:
            raise ValueError(f"af_threshold must be in [0.5, 1], got {self.af_threshold}")

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.fs))

    @property
    def stride(self) -> float:
        return self.window_s if self.stride_s is None else self.stride_s

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "HarmonizeConfig":
        data = dict(data)
        if "band_hz" in data:
            data["band_hz"] = tuple(data["band_hz"])
        return cls(**data)

    def digest(self) -> str:
        """A short stable hash of the configuration (part of cache keys)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def choose_lead(leads: tuple[str, ...], *, lead: str = "auto") -> int:
    """Index of the lead to analyse.

    Rule for ``lead="auto"``: lead I where present (rECG 12-lead; the CinC 2017
    handheld 'ECG' is lead-I equivalent), else the first ECG channel (Holter:
    usually MLII), else the first channel.
    """
    if not leads:
        raise ValueError(NO_ECG_SIGNAL)
    if lead != "auto":
        if lead not in leads:
            raise UnknownNameError("lead", lead, leads)
        return leads.index(lead)
    if "I" in leads:
        return leads.index("I")
    for i, name in enumerate(leads):
        if is_ecg_lead(name):
            return i
    return 0


def select_lead(record: Record, *, lead: str = "auto") -> Record:
    """A one-lead copy of the record, chosen by :func:`choose_lead`."""
    try:
        index = choose_lead(record.leads, lead=lead)
    except (KeyError, ValueError) as exc:
        raise BadInputError(record.source or record.record_id, str(exc).strip("'\"")) from None
    return record.replace(signal=record.signal[index : index + 1], leads=(record.leads[index],))


def resample(signal: np.ndarray, fs: float, target_fs: float) -> np.ndarray:
    """Polyphase resampling along the last axis (``scipy.signal.resample_poly``, anti-aliased)."""
    if fs == target_fs:
        return signal.astype(np.float32, copy=False)
    ratio = Fraction(target_fs / fs).limit_denominator(1000)
    out = sps.resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)
    return out.astype(np.float32, copy=False)


def bandpass(signal: np.ndarray, fs: float, *, band_hz: tuple[float, float] = (0.5, 40.0), order: int = 3) -> np.ndarray:
    """Zero-phase Butterworth band-pass (``sosfiltfilt``); NaN gaps are filled with 0 first."""
    sos = _butter(order, tuple(band_hz), float(fs))
    data = np.nan_to_num(signal.astype(np.float64, copy=False))
    padlen = min(3 * (2 * len(sos) + 1), data.shape[-1] - 1)
    return sps.sosfiltfilt(sos, data, axis=-1, padlen=max(padlen, 0)).astype(np.float32)


@lru_cache(maxsize=32)
def _butter(order: int, band_hz: tuple[float, float], fs: float) -> np.ndarray:
    return sps.butter(order, list(band_hz), btype="bandpass", fs=fs, output="sos")


def normalize(windows: np.ndarray, *, eps: float = 1e-3) -> np.ndarray:
    """Per-window z-score along the last axis (mean 0, std 1; std floored at ``eps`` mV)."""
    mean = windows.mean(axis=-1, keepdims=True)
    std = windows.std(axis=-1, keepdims=True)
    return ((windows - mean) / np.maximum(std, eps)).astype(np.float32)


@dataclass(frozen=True)
class Harmonizer:
    """The pipeline ``select_lead → resample → bandpass`` with one config; call it on a Record."""

    config: HarmonizeConfig = HarmonizeConfig()

    def __call__(self, record: Record) -> Record:
        cfg = self.config
        one = select_lead(record, lead=cfg.lead)
        gaps = np.isnan(one.signal[0])
        x = resample(np.nan_to_num(one.signal) if gaps.any() else one.signal, one.fs, cfg.fs)
        x = bandpass(x, cfg.fs, band_hz=cfg.band_hz, order=cfg.filter_order)
        if gaps.any():  # keep NaN where the source had gaps, so windows there are marked unanalysable
            source_index = np.minimum((np.arange(x.shape[-1]) * one.fs / cfg.fs).astype(np.int64), gaps.size - 1)
            x[:, gaps[source_index]] = np.nan
        return one.replace(signal=x, fs=cfg.fs)
