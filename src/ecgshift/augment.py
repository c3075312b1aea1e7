"""Augmentations for robustness across devices: pure functions on window batches, and a composer.

Each function takes windows ``x`` of shape (n, leads, samples), the sampling
rate ``fs`` in Hz and a ``numpy.random.Generator``, and returns new windows;
amplitudes are in the units of ``x`` (normalized windows: standard deviations).
:class:`Augmenter` applies each enabled step to a random share of a batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal as sps

__all__ = [
    "AugmentConfig",
    "Augmenter",
    "add_noise",
    "baseline_wander",
    "amplitude_scale",
    "time_shift",
    "invert",
    "beat_resample",
    "band_limit",
    "emg_noise",
    "quantize",
]


def add_noise(x: np.ndarray, fs: float, rng: np.random.Generator, *, std: float = 0.1) -> np.ndarray:
    """White noise with a random level in [0, ``std``] per window, plus 50/60 Hz mains hum where fs allows."""
    n, _, length = x.shape
    level = rng.uniform(0, std, size=(n, 1, 1))
    out = x + level * rng.standard_normal(x.shape)
    mains = rng.choice([50.0, 60.0], size=(n, 1, 1))
    if fs > 2 * 60:
        t = np.arange(length) / fs
        out = out + rng.uniform(0, std / 2, size=(n, 1, 1)) * np.sin(2 * np.pi * mains * t + rng.uniform(0, 2 * np.pi, size=(n, 1, 1)))
    return out.astype(np.float32)


def baseline_wander(x: np.ndarray, fs: float, rng: np.random.Generator, *, amplitude: float = 0.5, max_hz: float = 0.5) -> np.ndarray:
    """A slow sinusoid (0.05–``max_hz`` Hz, random phase) of up to ``amplitude`` added to each window."""
    n, _, length = x.shape
    t = np.arange(length) / fs
    freq = rng.uniform(0.05, max_hz, size=(n, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    amp = rng.uniform(0, amplitude, size=(n, 1, 1))
    return (x + amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def amplitude_scale(x: np.ndarray, fs: float, rng: np.random.Generator, *, low: float = 0.6, high: float = 1.6) -> np.ndarray:
    """Multiply each window by a log-uniform factor in [low, high]."""
    factor = np.exp(rng.uniform(np.log(low), np.log(high), size=(x.shape[0], 1, 1)))
    return (x * factor).astype(np.float32)


def time_shift(x: np.ndarray, fs: float, rng: np.random.Generator, *, max_s: float = 2.0) -> np.ndarray:
    """Circularly shift each window by up to ``max_s`` seconds either way."""
    shifts = rng.integers(-int(max_s * fs), int(max_s * fs) + 1, size=x.shape[0])
    return np.stack([np.roll(w, s, axis=-1) for w, s in zip(x, shifts)]).astype(np.float32)


def invert(x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Flip polarity (handheld recordings are often taken with the device reversed)."""
    return (-x).astype(np.float32)


def _rpeaks(signal: np.ndarray, fs: float) -> np.ndarray:
    from scipy.signal import find_peaks

    energy = np.abs(np.gradient(signal))
    height = np.quantile(energy, 0.98) * 0.4
    peaks, _ = find_peaks(energy, height=height, distance=max(1, int(0.25 * fs)))
    return peaks


def beat_resample(x: np.ndarray, fs: float, rng: np.random.Generator, *, max_stretch: float = 0.1, max_scale: float = 0.15) -> np.ndarray:
    """STAR-style beat-wise augmentation: each segment between R-peaks is time-stretched by up to
    ``max_stretch`` and amplitude-scaled by up to ``max_scale`` independently, then the window is
    cropped or edge-padded back to its length. R-peaks are taken with ``wfdb.processing.xqrs_detect``
    on the first lead (falling back to a slope-energy peak picker when xqrs finds fewer than 3).
    (Ref.: STAR — sinus-representative augmentation of ECG, beat-level resampling between R-peaks.)
    """
    import wfdb.processing

    out = np.empty_like(x)
    length = x.shape[-1]
    for i, window in enumerate(x):
        try:
            peaks = wfdb.processing.xqrs_detect(window[0].astype(np.float64), fs=fs, verbose=False)
        except Exception:
            peaks = np.zeros(0, dtype=int)
        if len(peaks) < 3:
            peaks = _rpeaks(window[0], fs)
        if len(peaks) < 3:
            out[i] = window
            continue
        bounds = np.concatenate([[0], peaks, [length]])
        pieces = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            if hi <= lo:
                continue
            new_len = max(1, int(round((hi - lo) * (1 + rng.uniform(-max_stretch, max_stretch)))))
            src = np.linspace(lo, hi - 1, new_len)
            seg = np.stack([np.interp(src, np.arange(lo, hi), lead[lo:hi]) for lead in window])
            pieces.append(seg * (1 + rng.uniform(-max_scale, max_scale)))
        joined = np.concatenate(pieces, axis=-1)
        out[i] = joined[:, :length] if joined.shape[-1] >= length else np.pad(joined, ((0, 0), (0, length - joined.shape[-1])), mode="edge")
    return out


def band_limit(x: np.ndarray, fs: float, rng: np.random.Generator, *, high_pass_hz: tuple[float, float] = (0.3, 2.0),
               low_pass_hz: tuple[float, float] = (12.0, 40.0)) -> np.ndarray:
    """A device's pass band: each window through its own Butterworth band-pass (order 2, zero phase), the corners drawn
    log-uniform from ``high_pass_hz`` and ``low_pass_hz`` (capped below Nyquist). Mimics recorders with a narrower band
    than the one the windows were harmonized to (handhelds and Holters often stop near 15–25 Hz)."""
    nyquist = fs / 2
    out = np.empty_like(x, dtype=np.float32)
    lows = np.exp(rng.uniform(np.log(high_pass_hz[0]), np.log(high_pass_hz[1]), size=x.shape[0]))
    highs = np.exp(rng.uniform(np.log(low_pass_hz[0]), np.log(low_pass_hz[1]), size=x.shape[0]))
    for i, (lo, hi) in enumerate(zip(lows, np.minimum(highs, 0.95 * nyquist))):
        sos = sps.butter(2, [lo, hi], btype="bandpass", fs=fs, output="sos")
        out[i] = sps.sosfiltfilt(sos, x[i], axis=-1)
    return out


def emg_noise(x: np.ndarray, fs: float, rng: np.random.Generator, *, std: float = 0.25, low_hz: float = 15.0) -> np.ndarray:
    """Muscle (electrode) noise: white noise high-passed at ``low_hz``, its level in [0, ``std``], switched on for one
    random stretch of each window (a patient moving while recording)."""
    n, _, length = x.shape
    sos = sps.butter(2, min(low_hz, 0.4 * fs), btype="highpass", fs=fs, output="sos")
    noise = sps.sosfilt(sos, rng.standard_normal(x.shape), axis=-1)
    noise /= np.maximum(noise.std(axis=-1, keepdims=True), 1e-6)
    starts = rng.integers(0, length // 2, size=n)
    stops = starts + rng.integers(length // 4, length + 1, size=n)
    t = np.arange(length)
    on = ((t >= starts[:, None]) & (t < stops[:, None]))[:, None, :]
    return (x + rng.uniform(0, std, size=(n, 1, 1)) * noise * on).astype(np.float32)


def quantize(x: np.ndarray, fs: float, rng: np.random.Generator, *, max_step: float = 0.08) -> np.ndarray:
    """A coarse analogue-to-digital converter: round each window to a step in [0.01, ``max_step``] (standard deviations)."""
    step = rng.uniform(0.01, max_step, size=(x.shape[0], 1, 1))
    return (np.round(x / step) * step).astype(np.float32)


_STEPS = {
    "noise": add_noise,
    "baseline": baseline_wander,
    "scale": amplitude_scale,
    "shift": time_shift,
    "invert": invert,
    "beats": beat_resample,
    "band": band_limit,
    "emg": emg_noise,
    "quantize": quantize,
}


@dataclass(frozen=True)
class AugmentConfig:
    """Probability that each step is applied to a window (0 disables it). ``beats`` is the STAR-style option (slower);
    ``band``, ``emg`` and ``quantize`` mimic other devices (pass band, electrode noise, converter resolution)."""

    noise: float = 0.5
    baseline: float = 0.5
    scale: float = 0.5
    shift: float = 0.5
    invert: float = 0.3
    beats: float = 0.0
    band: float = 0.0
    emg: float = 0.0
    quantize: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Augmenter:
    """Applies each step of an :class:`AugmentConfig` to a random subset of a batch, then re-normalizes."""

    config: AugmentConfig = AugmentConfig()

    def __call__(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        out = np.array(x, dtype=np.float32, copy=True)
        for name, step in _STEPS.items():
            p = getattr(self.config, name)
            if p <= 0:
                continue
            chosen = np.flatnonzero(rng.random(out.shape[0]) < p)
            if chosen.size:
                out[chosen] = step(out[chosen], fs, rng)
        mean = out.mean(axis=-1, keepdims=True)
        std = out.std(axis=-1, keepdims=True)
        return ((out - mean) / np.maximum(std, 1e-3)).astype(np.float32)
