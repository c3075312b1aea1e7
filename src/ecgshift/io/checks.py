"""Checks every reader applies, so bad input fails the same way whatever the format."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ecgshift.errors import FLAT, GAP, BadInputError
from ecgshift.io.channels import is_voltage_unit, unit_scale

__all__ = ["MIN_FS", "MAX_FS", "check_fs", "check_signal", "to_millivolts", "sample_range", "plain_reason"]

#: Sampling rates outside this range (Hz) are not plausible for a diagnostic ECG.
MIN_FS, MAX_FS = 50.0, 20_000.0


def check_fs(fs: float | None, path: str | Path) -> float:
    """A sampling rate in Hz that an ECG can have, or a one-line error."""
    try:
        value = float(fs)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadInputError(path, f"sampling rate {fs!r} is not a number") from None
    if not np.isfinite(value) or not MIN_FS <= value <= MAX_FS:
        raise BadInputError(path, f"sampling rate {fs!r} Hz is outside the plausible ECG range {MIN_FS:g}–{MAX_FS:g} Hz")
    return value


def to_millivolts(signal: np.ndarray, units: Sequence[str] | None, path: str | Path) -> np.ndarray:
    """Scale each lead to mV from its unit ('mV', 'uV', 'µV', 'nV', 'V'; empty or 'NU' are taken as mV)."""
    if not units:
        return signal
    scales = []
    for unit in units:
        if not is_voltage_unit(unit):
            raise BadInputError(path, f"signal unit {unit!r} is not a voltage (expected mV, uV or V)")
        scales.append(unit_scale(unit))
    if all(s == 1.0 for s in scales):
        return signal
    return (signal * np.asarray(scales, dtype=np.float32)[:, None]).astype(np.float32)


def check_signal(signal: np.ndarray, path: str | Path, *, allow_nan: bool = False) -> None:
    """Reject empty, non-finite and entirely flat signals with a one-line reason.

    ``allow_nan`` accepts NaN gaps (long recordings with dropouts: they are then
    marked unanalysable downstream) but never infinities or an all-NaN signal.
    """
    if signal.size == 0 or signal.shape[-1] == 0:
        raise BadInputError(path, "zero-length signal")
    if signal.shape[-1] == 1:
        raise BadInputError(path, "a single sample: too short to be a recording")
    if np.isinf(signal).any():
        raise BadInputError(path, "signal contains infinite values")
    nan = np.isnan(signal)
    if nan.any():
        if not allow_nan:
            raise BadInputError(path, f"signal contains NaN values ({int(nan.sum())} of {signal.size} samples)")
        if nan.all():
            raise BadInputError(path, "signal is entirely NaN", code=GAP)
    spread = np.nanmax(signal, axis=-1) - np.nanmin(signal, axis=-1)
    if np.all(spread <= 1e-6):
        raise BadInputError(path, "flat signal: every lead is constant", code=FLAT)


def sample_range(start_s: float, end_s: float | None, fs: float, total: int, path: str | Path) -> tuple[int, int]:
    """Sample indices ``[round(start_s·fs), round(end_s·fs))`` clipped to the record, or a one-line error
    when that leaves nothing."""
    sampfrom = max(0, int(round(start_s * fs)))
    sampto = total if end_s is None else min(total, int(round(end_s * fs)))
    if sampfrom >= sampto:
        end_text = "end" if end_s is None else f"{end_s:g} s"
        raise BadInputError(path, f"requested range {start_s:g} s to {end_text} is outside the record ({total / fs:g} s)")
    return sampfrom, sampto


#: Exceptions (and ValueError texts) that only make sense to a Python programmer ('list index out of range', "'999'").
_PYTHON_VALUE_ERROR = re.compile(r"invalid literal|could not convert|cannot reshape|not enough values|too many values|out of bounds")
_INTERNAL = (IndexError, KeyError, TypeError, AttributeError, NameError, ZeroDivisionError, AssertionError, UnboundLocalError)


def plain_reason(exc: BaseException) -> str:
    """An exception's message without its class name, for a user; "" for Python-internal errors whose text
    says nothing about the file (``IndexError: list index out of range``)."""
    if isinstance(exc, _INTERNAL) or (isinstance(exc, ValueError) and _PYTHON_VALUE_ERROR.search(str(exc))):
        return ""
    if isinstance(exc, OSError) and exc.strerror:  # "[Errno 13] Permission denied: '/a/b.dat'" → "permission denied"
        return exc.strerror.lower()
    return re.sub(r"^Error\s*:\s*", "", " ".join(str(exc).split()))[:160]  # soundfile's "Error : flac decoder lost sync."
