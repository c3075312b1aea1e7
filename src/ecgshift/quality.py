"""Signal quality of each window: is it analysable, and if not, why (one reason per window).

The gate ``ecgshift holter`` and ``ecgshift predict`` apply before a window reaches the network. For each
window, the first rule that fires:

* ``gap`` — fewer than 90 % of its samples are real (``valid_fraction < 0.9``: NaN dropouts);
* ``saturated`` — ≥ 5 % of its raw samples (0.5 s of 10 s) sit at the recording's (or chunk's) minimum or
  maximum value, i.e. on the ADC rails (a clean ECG touches its extremes for a sample or two);
* ``flat`` — std of the band-passed or of the raw window < 0.01 mV (10 µV: lead off; a clean ECG has
  ≥ 0.06 mV; the raw std catches flat windows next to ECG, where the zero-phase filter rings);
* ``noise`` (only with ``QualityConfig.noise``, on in ``ecgshift holter``) — kurtosis of the band-passed
  window (kSQI of Zhao et al. 2018, Pearson) < 3.4 (Gaussian noise 2.8-3.2, clean ECG mostly > 5), or
  > 50 % of the raw power above 40 Hz (muscle, mains; fs ≥ 100 Hz). Measured: kSQI < 3.4 in 11 % of
  CinC 2017 '~' (noisy) windows and 1.5-1.7 % of its N / AF windows; in MIT-BIH 0.6 % of paced 107,
  1.7 % of noisy 105, 6.7 % of 207 (its ventricular flutter is sinusoidal); the 40-Hz ratio stays < 0.04
  on all of them. neurokit2's ``ecg_quality(method="zhao2018")`` is not used: per 10-s window at 360 Hz
  it rated 12/12 windows of AF record 221 and 12/12 of white noise alike, and costs ~19 ms per window;
* ``ok`` — analysable.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ecgshift.errors import BadInputError
from ecgshift.record import Record
from ecgshift.windows import Windows

__all__ = ["QualityConfig", "SIGNAL_FAULTS", "window_quality", "describe_excluded", "excluded_note", "require_analysable"]

#: Reasons of :func:`window_quality` that are faults of the signal itself (always applied).
SIGNAL_FAULTS = ("gap", "saturated", "flat")


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the quality rules (see the module docstring); ``noise``: apply the noise rule too."""

    min_valid_fraction: float = 0.9
    flat_std_mv: float = 0.01
    saturated_fraction: float = 0.05
    min_kurtosis: float = 3.4
    max_hf_ratio: float = 0.5
    noise: bool = True


def _hf_ratio(raw: np.ndarray, fs: float) -> np.ndarray:
    """Share of each raw window's power (above 0.5 Hz) that lies above 40 Hz."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        x = np.nan_to_num(raw - np.nanmean(raw, axis=1, keepdims=True))
    power = np.abs(np.fft.rfft(x, axis=1)) ** 2
    freq = np.fft.rfftfreq(raw.shape[1], 1.0 / fs)
    total = power[:, freq >= 0.5].sum(axis=1)
    return np.divide(power[:, freq >= 40.0].sum(axis=1), total, out=np.zeros(len(raw)), where=total > 0)


def _segments(signal: np.ndarray, fs: float, start_s: float, starts: np.ndarray, window_s: float) -> np.ndarray:
    """(n, samples) views of ``signal`` (which begins at ``start_s``) at window ``starts``; a recording shorter
    than one window gives its whole length."""
    n = min(int(round(window_s * fs)), signal.size)
    off = np.clip(np.round((starts - start_s) * fs).astype(np.int64), 0, signal.size - n)
    return np.lib.stride_tricks.sliding_window_view(signal, n)[off]


def window_quality(raw: Record, harmonized: Record, windows: Windows, *, lead: int, config: QualityConfig = QualityConfig()) -> np.ndarray:
    """The reason ('ok', or the first rule of the module docstring that fires) for each of ``windows``, cut
    from ``harmonized`` (the harmonized ``raw``; ``lead``: the lead of ``raw`` it was made from)."""
    if len(windows) == 0:
        return np.zeros(0, dtype="<U9")
    seg = _segments(harmonized.signal[0], harmonized.fs, harmonized.start_s, windows.start_s, windows.window_s)
    raw_signal = raw.signal[lead]
    raw_seg = _segments(raw_signal, raw.fs, raw.start_s, windows.start_s, windows.window_s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        std = np.minimum(np.nan_to_num(np.nanstd(seg, axis=1)), np.nan_to_num(np.nanstd(raw_seg, axis=1)))
        low, high = np.nanmin(raw_signal), np.nanmax(raw_signal)
    tol = 1e-6 * max(1.0, abs(low), abs(high))
    at_rail = np.mean((raw_seg <= low + tol) | (raw_seg >= high - tol), axis=1)
    if not high - low > config.flat_std_mv:  # a constant lead has no rails: it is flat
        at_rail = np.zeros(len(raw_seg))
    rules = [windows.valid_fraction < config.min_valid_fraction, at_rail >= config.saturated_fraction, std < config.flat_std_mv]
    names = list(SIGNAL_FAULTS)
    if config.noise:
        noise = np.nan_to_num(stats.kurtosis(np.nan_to_num(seg), axis=1, fisher=False), nan=0.0) < config.min_kurtosis
        if raw.fs >= 100.0:
            noise |= _hf_ratio(raw_seg, raw.fs) > config.max_hf_ratio
        rules.append(noise)
        names.append("noise")
    return np.select(rules, names, "ok").astype("<U9")


def describe_excluded(quality: np.ndarray) -> str:
    """'2 saturated, 1 gap' for the windows whose quality is not 'ok' ('' when all are)."""
    reasons, counts = np.unique(np.asarray(quality)[np.asarray(quality) != "ok"], return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return ", ".join(f"{counts[i]} {reasons[i]}" for i in order)


def excluded_note(quality: np.ndarray) -> str:
    """'3 of 60 windows not analysed: 3 gap' ('' when every window is 'ok')."""
    bad = np.asarray(quality) != "ok"
    return f"{int(bad.sum())} of {bad.size} windows not analysed: {describe_excluded(quality)}" if bad.any() else ""


def require_analysable(quality: np.ndarray, where) -> None:
    """A one-line :class:`BadInputError` naming ``where`` when no window of a recording is 'ok'."""
    if not np.any(np.asarray(quality) == "ok"):
        raise BadInputError(where, f"no analysable window ({describe_excluded(quality)})")
