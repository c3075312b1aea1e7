"""Fixed-length windows with rhythm labels, in memory or streamed from long recordings.

Label rule (documented in :class:`~ecgshift.preprocess.HarmonizeConfig`):

- records with rhythm annotations (MIT-BIH, Holter): a window is ``AF`` when at
  least ``af_threshold`` (default 90 %) of it is annotated AF, ``SR`` when at
  least that fraction is normal sinus rhythm, otherwise ``other``; the exact AF
  fraction is kept in ``af_fraction``;
- records with one record-level label (CinC 2017, PTB-XL): every window takes
  that label, ``af_fraction`` is 1 for AF and 0 otherwise; unlabelled → ``""``.

Windows start at multiples of ``stride_s`` from the record start; a trailing
remainder shorter than a window is not used. A record shorter than one window
but at least ``min_s`` long gives one window, zero-padded at the end after
normalization. A window containing NaN (a gap in the recording) keeps the
non-NaN fraction in ``valid_fraction``; its NaN samples are set to 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ecgshift import io
from ecgshift.errors import BadInputError
from ecgshift.io.checks import check_signal
from ecgshift.preprocess import HarmonizeConfig, Harmonizer, normalize
from ecgshift.record import Record, label_fractions

__all__ = ["Windows", "Chunk", "ChunkFailure", "window_record", "rhythm_labels", "read_span", "stream_chunks", "concat_windows"]


@dataclass(frozen=True, eq=False)
class Windows:
    """Windows of one record (or many, after :func:`concat_windows`)."""

    x: np.ndarray  # (n, 1, window_samples) float32, normalized per window
    start_s: np.ndarray  # (n,) float64: window start in seconds from the record start
    label: np.ndarray  # (n,) str: 'AF', 'SR', 'other', 'noisy' or '' (unlabelled)
    af_fraction: np.ndarray  # (n,) float32, NaN when unknown
    valid_fraction: np.ndarray  # (n,) float32: share of samples that are not gaps
    fs: float
    window_s: float

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def end_s(self) -> np.ndarray:
        return self.start_s + self.window_s


def _empty(config: HarmonizeConfig) -> Windows:
    return Windows(
        x=np.zeros((0, 1, config.window_samples), np.float32),
        start_s=np.zeros(0),
        label=np.zeros(0, dtype="<U5"),
        af_fraction=np.zeros(0, np.float32),
        valid_fraction=np.zeros(0, np.float32),
        fs=config.fs,
        window_s=config.window_s,
    )


def window_record(
    record: Record, *, config: HarmonizeConfig = HarmonizeConfig(), harmonized: bool = False, span_s: tuple[float, float] | None = None
) -> Windows:
    """Harmonize (unless ``harmonized``) and cut a record into labelled windows.

    ``span_s`` restricts the window starts to ``[lo, hi)`` seconds of the record
    (used when streaming chunks that carry filter margins).
    """
    rec = record if harmonized else Harmonizer(config)(record)
    n_win = config.window_samples
    n = rec.n_samples
    where = rec.source or rec.record_id
    if n < int(round(config.min_s * config.fs)):
        raise BadInputError(where, f"shorter than {config.min_s:g} s ({n / config.fs:.1f} s)")
    if n < n_win:
        offsets = np.array([0])
    else:  # starts on the absolute grid k * stride_s, whatever the chunk's own start
        step = config.stride
        first = np.ceil(rec.start_s / step - 1e-9) * step
        grid = np.arange(first, rec.start_s + (n - n_win) / config.fs + 1e-9, step)
        offsets = np.round((grid - rec.start_s) * config.fs).astype(np.int64)
    starts = rec.start_s + offsets / config.fs
    if span_s is not None:
        keep = (starts >= span_s[0] - 1e-9) & (starts < span_s[1] - 1e-9)
        offsets, starts = offsets[keep], starts[keep]
    if offsets.size == 0:
        return _empty(config)
    signal = rec.signal[0]
    if n < n_win:
        raw = signal[None, :]
    else:
        raw = np.lib.stride_tricks.sliding_window_view(signal, n_win)[offsets]
    gaps = np.isnan(raw)
    valid = 1.0 - gaps.mean(axis=-1)
    x = normalize(np.where(gaps, 0.0, raw))
    if n < n_win:
        x = np.pad(x, ((0, 0), (0, n_win - n)))
    labels, af = _labels(rec, starts, config)
    return Windows(
        x=x[:, None, :].astype(np.float32),
        start_s=starts.astype(np.float64),
        label=labels,
        af_fraction=af,
        valid_fraction=valid.astype(np.float32),
        fs=config.fs,
        window_s=config.window_s,
    )


def rhythm_labels(rhythms, starts: np.ndarray, *, config: HarmonizeConfig) -> tuple[np.ndarray, np.ndarray]:
    """The label of each window starting at ``starts`` from rhythm intervals (the rule of the module docstring:
    ``AF`` / ``SR`` when at least ``af_threshold`` of it is, else ``other``) and its annotated AF fraction."""
    labels = np.empty(starts.size, dtype="<U5")
    af = np.empty(starts.size, dtype=np.float32)
    for i, start in enumerate(starts):
        fractions = label_fractions(rhythms, start, start + config.window_s)
        af[i] = fractions["AF"]
        if fractions["AF"] >= config.af_threshold:
            labels[i] = "AF"
        elif fractions["SR"] >= config.af_threshold:
            labels[i] = "SR"
        else:
            labels[i] = "other"
    return labels, af


def _labels(rec: Record, starts: np.ndarray, config: HarmonizeConfig) -> tuple[np.ndarray, np.ndarray]:
    if rec.rhythms:
        return rhythm_labels(rec.rhythms, starts, config=config)
    label = rec.label or ""
    value = np.nan if not label else float(label == "AF")
    return np.full(starts.size, label, dtype="<U5"), np.full(starts.size, value, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class Chunk:
    """A span of a long recording as read (``raw``: un-harmonized, with filter margins), as harmonized, and its
    windows (those starting in ``span_s``, seconds of the recording)."""

    raw: Record
    harmonized: Record
    windows: Windows
    span_s: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True, eq=False)
class ChunkFailure:
    """A span of the recording that could not be read: ``code`` (:mod:`ecgshift.errors`: ``flat`` and ``gap`` are
    unanalysable time, ``unreadable`` a read failure) and the reader's one-line ``problem``."""

    span_s: tuple[float, float]
    code: str
    problem: str


def read_span(source: str | Path | Record, lo_s: float, hi_s: float, *, fs: float | None = None, annotations: bool = True,
              channel: str | None = None) -> Record:
    """``[lo_s, hi_s)`` (seconds from the recording's start, NaN gaps allowed) of a file — ``annotations=False``: without
    its annotation file, for a caller that reads it once — or of a Record in memory."""
    if isinstance(source, Record):
        i0, i1 = int(round(lo_s * source.fs)), int(round(hi_s * source.fs))
        signal = source.signal[:, i0:i1]
        check_signal(signal, source.source or source.record_id, allow_nan=True)
        return source.replace(signal=signal, start_s=source.start_s + i0 / source.fs, beats=None)
    return io.read(source, fs=fs, start_s=lo_s, end_s=hi_s, allow_nan=True, annotations=annotations, channel=channel)


def stream_chunks(
    source: str | Path | Record,
    *,
    config: HarmonizeConfig = HarmonizeConfig(),
    chunk_s: float = 600.0,
    margin_s: float = 5.0,
    fs: float | None = None,
    duration_s: float | None = None,
    annotations: bool = True,
    channel: str | None = None,
) -> Iterator[Chunk | ChunkFailure]:
    """A recording ``chunk_s`` at a time (memory stays bounded): a :class:`Chunk` with its windows, or a
    :class:`ChunkFailure` for a span the reader refused — the iteration goes on.

    Each chunk is read with ``margin_s`` extra on both sides so the band-pass filter has no edge transients inside
    the windows; windows belong to the chunk holding their start, so none is lost or repeated. ``duration_s``: the
    recording's length when the caller knows it already (else from :func:`ecgshift.io.info`); ``annotations``: read
    a WFDB record's annotation file with every chunk (window labels), or not (:func:`ecgshift.pipeline.analyse` reads it once). A Record in memory is
    sliced; its windows start at multiples of the stride from its ``start_s``.
    """
    if duration_s is None:
        duration_s = source.duration_s if isinstance(source, Record) else io.info(source, fs=fs, channel=channel).duration_s
    offset = source.start_s if isinstance(source, Record) else 0.0
    step_s = config.stride
    chunk_s = max(step_s, np.floor(chunk_s / step_s) * step_s)  # chunk edges on the window grid
    lo = 0.0
    while lo < duration_s - 1e-9:
        hi = min(duration_s, lo + chunk_s)
        read_hi = duration_s if hi >= duration_s - 1e-9 else min(duration_s, hi + config.window_s + margin_s)
        span = (offset + lo, offset + hi)
        try:
            raw = read_span(source, max(0.0, lo - margin_s), read_hi, fs=fs, annotations=annotations, channel=channel)
        except BadInputError as exc:
            yield ChunkFailure(span, exc.code, exc.problem)
        else:
            harmonized = Harmonizer(config)(raw)
            yield Chunk(raw, harmonized, window_record(harmonized, config=config, harmonized=True, span_s=span), span)
        lo = hi


def concat_windows(parts: list[Windows], *, config: HarmonizeConfig) -> Windows:
    """One Windows from many (same config)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty(config)
    return Windows(
        x=np.concatenate([p.x for p in parts]),
        start_s=np.concatenate([p.start_s for p in parts]),
        label=np.concatenate([p.label for p in parts]),
        af_fraction=np.concatenate([p.af_fraction for p in parts]),
        valid_fraction=np.concatenate([p.valid_fraction for p in parts]),
        fs=config.fs,
        window_s=config.window_s,
    )
