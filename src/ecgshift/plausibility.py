"""Is the sampling rate plausible? A check for recordings read at the wrong ``fs``.

A CSV's ``--fs`` or an array's ``fs=`` that is wrong by a factor k stretches time by k: the record is
still read, harmonized and predicted, but the network sees a rhythm no heart has. Two physiological
bounds give it away when the error is gross (about 5×):

* ``fs`` too high: every QRS looks k× narrower. The median width at half height of the tallest
  deflections (R waves) of the raw lead, high-passed at 0.5 Hz, is never below 12 ms in the real records
  measured (CinC 2017, PTB-XL lead I, MIT-BIH; 1st percentile 17.5-22 ms) and 3-7 ms at 5× too high a rate;
* ``fs`` too low: the heart rate looks k× slower. neurokit2's R-peaks on the harmonized lead give a
  median rate below 25 bpm in 0.3 % of real CinC records (mostly irregular 'other' rhythms) and in none
  of PTB-XL's or MIT-BIH's (when the detector finds no beats at all, the tallest deflections of the raw
  lead give the rate).

Thresholds chosen on a random sample of 1,148 records (800 CinC, 300 PTB-XL, 48 MIT-BIH);
``python benchmarks/wrong_fs.py`` measures the rule on all 9,557 (docs/results.md → Wrong sampling rate):
at a fifth of the true rate it flags 94 % of CinC and 75 % of MIT-BIH records, but 3 % of PTB-XL's
500-Hz files (neurokit2 takes their slowed high-frequency noise for beats); at 5× it flags 81 % of CinC
and 88 % of MIT-BIH records (PTB-XL's 10 s become 2 s, too short to predict). An error of 2× is mostly
not caught (the bounds overlap real variation). A flagged recording is still predicted: the check
explains, it does not reject. ``ecgshift predict`` and ``model.predict`` check the rates callers give (a
CSV's ``fs``, an array's); a WFDB or EDF header's rate is the device's and is not second-guessed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from ecgshift import io
from ecgshift.record import Record
from ecgshift.rhythm.rr import detect_rpeaks

__all__ = ["RateCheckConfig", "RateCheck", "r_wave_width_s", "heart_rate_bpm", "check_sampling_rate", "caller_rate_problem"]


@dataclass(frozen=True)
class RateCheckConfig:
    """Bounds of a plausible ECG (see the module docstring); ``max_s``: seconds read from the start."""

    min_r_width_s: float = 0.012
    min_heart_rate_bpm: float = 25.0
    max_s: float = 120.0


@dataclass(frozen=True)
class RateCheck:
    """What the check measured at the given ``fs`` (NaN: too few beats to tell) and its verdict
    (``problem`` is empty when the rate is plausible)."""

    fs: float
    r_width_s: float
    heart_rate_bpm: float
    problem: str = ""


def _tallest_peaks(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """One raw lead high-passed at 0.5 Hz (turned so its QRS points up), and its deflections of at least half
    the 99th percentile, 0.25 s apart or more (R waves, when ``fs`` is right)."""
    x = np.asarray(x, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN
        x = np.nan_to_num(x - np.nanmedian(x))
    if x.size < 3 * fs or not np.any(x):
        return x, np.zeros(0, dtype=np.int64)
    y = sps.sosfiltfilt(sps.butter(2, 0.5, "highpass", fs=fs, output="sos"), x)
    if abs(np.percentile(y, 1)) > abs(np.percentile(y, 99)):
        y = -y  # QRS mainly negative in this lead
    peaks, _ = sps.find_peaks(y, height=0.5 * np.percentile(y, 99), distance=max(1, int(0.25 * fs)))
    return y, peaks


def r_wave_width_s(x: np.ndarray, fs: float) -> float:
    """Median width (s) at half height of the tallest deflections of one raw lead (mV) at ``fs`` Hz."""
    y, peaks = _tallest_peaks(x, fs)
    if peaks.size < 3:
        return float("nan")
    return float(np.median(sps.peak_widths(y, peaks, rel_height=0.5)[0]) / fs)


def heart_rate_bpm(harmonized: np.ndarray, fs: float, *, raw: np.ndarray | None = None, raw_fs: float | None = None) -> float:
    """Median heart rate (bpm) from neurokit2's R-peaks in one harmonized lead at ``fs`` Hz. When they find fewer
    than 3 beats — never in the real records measured, but in 6 % of CinC records read at a fifth of their rate,
    whose QRS is then too slow for the detector — from the tallest deflections of ``raw`` (at ``raw_fs``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # neurokit2's warnings on signals without beats
            peaks = detect_rpeaks(harmonized, fs, method="neurokit")
    except Exception:  # noqa: BLE001 - a detector failure means no verdict from it, not a crash
        peaks = np.zeros(0, dtype=np.int64)
    if peaks.size < 3 and raw is not None:
        _, peaks = _tallest_peaks(raw, raw_fs)
        fs = raw_fs
    if peaks.size < 3:
        return float("nan")
    return float(60.0 / np.median(np.diff(peaks) / fs))


def check_sampling_rate(raw: Record, harmonized: Record, *, lead: int, config: RateCheckConfig = RateCheckConfig()) -> RateCheck:
    """Measure the first ``config.max_s`` of ``raw`` (its lead ``lead``) and of ``harmonized`` (the harmonized
    ``raw``) and say whether ``raw.fs`` looks too high or too low."""
    x = raw.signal[lead, : int(config.max_s * raw.fs)]
    width = r_wave_width_s(x, raw.fs)
    rate = heart_rate_bpm(harmonized.signal[0, : int(config.max_s * harmonized.fs)], harmonized.fs, raw=x, raw_fs=raw.fs)
    problem = ""
    if width < config.min_r_width_s:
        problem = (f"sampling rate {raw.fs:g} Hz may be too high: R waves {width * 1e3:.0f} ms wide "
                   f"(real ECGs: {config.min_r_width_s * 1e3:g} ms or more); check fs")
    elif rate < config.min_heart_rate_bpm:
        problem = (f"sampling rate {raw.fs:g} Hz may be too low: heart rate {rate:.1f} bpm "
                   f"(real ECGs: {config.min_heart_rate_bpm:g} bpm or more); check fs")
    return RateCheck(fs=raw.fs, r_width_s=width, heart_rate_bpm=rate, problem=problem)


def caller_rate_problem(raw: Record, harmonized: Record, *, lead: int, config: RateCheckConfig = RateCheckConfig()) -> str:
    """:func:`check_sampling_rate`'s problem ('' when plausible) for a rate the caller gave (an array's, a CSV's
    ``fs``); always '' for a record read from a file whose header stores its rate (WFDB, EDF: the device's)."""
    if raw.source and io.stores_fs(raw.source):
        return ""
    return check_sampling_rate(raw, harmonized, lead=lead, config=config).problem
