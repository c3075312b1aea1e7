"""ECG strips a person checks: the signal as recorded, on standard ECG paper.

:func:`draw_strip` draws ``[start_s, end_s)`` of one lead in mV, unfiltered, at the paper's scale — 25 mm/s and
10 mm/mV on a 1-mm (pink) / 5-mm (red) grid, so one small square is 0.04 s × 0.1 mV and one large square
0.2 s × 0.5 mV — with the time axis in seconds from the recording's start and, when the file states a start time,
the strip's clock time in its title. The trace is drawn about the strip's median (the baseline offset of the
recording is not shown), clipped to ±3 mV; NaN samples (gaps) are left blank. :func:`signal_envelope` gives the
minimum and maximum of a whole recording in bins, read chunk by chunk, for an overview of a long recording.

Figures are matplotlib ``Figure`` objects on an Agg canvas (no pyplot state); every text is drawn with mathtext
and TeX off, so a record named ``odd$^$name`` is drawn as written.
"""

from __future__ import annotations

import io as _io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ecgshift import io
from ecgshift.clock import clock_text
from ecgshift.record import Record

__all__ = ["MM_PER_S", "MM_PER_MV", "GRID_MINOR", "GRID_MAJOR", "TRACE", "StripSignal", "strip_signal", "draw_strip",
           "strip_png", "figure_png", "signal_envelope", "PLAIN_TEXT", "hms"]

#: Paper speed (mm per second) and gain (mm per mV) of a standard ECG.
MM_PER_S = 25.0
MM_PER_MV = 10.0
#: Grid colours: 1-mm lines pink, 5-mm lines red; the trace near-black.
GRID_MINOR = "#f5b7b7"
GRID_MAJOR = "#e05a5a"
TRACE = "#101010"
#: Pixels per inch of a strip (4.7 px per mm: every 1-mm line stays visible).
DPI = 120
#: Half the height of the largest strip (mV about the median).
MAX_MV = 3.0
#: Matplotlib text properties for text that is not ours (record names, paths): no mathtext, no TeX.
PLAIN_TEXT = {"parse_math": False, "usetex": False}
_MARGIN_MM = {"left": 13.0, "right": 4.0, "bottom": 10.0, "top": 8.0}


def hms(seconds: float) -> str:
    """``h:mm:ss`` (``hh:mm:ss`` from 10 h) of elapsed seconds."""
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass(frozen=True, eq=False)
class StripSignal:
    """One lead's samples (mV) from ``start_s`` (seconds from the recording's start) at ``fs``."""

    signal: np.ndarray
    fs: float
    start_s: float
    lead: str
    record_id: str
    start_time: datetime | None

    @property
    def end_s(self) -> float:
        return self.start_s + self.signal.size / self.fs


def strip_signal(source: Record | str | Path, start_s: float, end_s: float, *, lead: str | None = None,
                 fs: float | None = None) -> StripSignal:
    """``[start_s, end_s)`` of one lead as recorded. ``source``: a file (only that span and that lead are read;
    ``fs`` for formats that do not store it) or a :class:`Record`. ``lead``: its name (default: the model's rule,
    lead I where present, else the first ECG channel). A file that cannot be read raises
    :class:`~ecgshift.errors.BadInputError`."""
    from ecgshift.preprocess import choose_lead

    start_s = max(0.0, float(start_s))
    if isinstance(source, Record):
        record = source
        a = int(round((start_s - record.start_s) * record.fs))
        b = int(round((end_s - record.start_s) * record.fs))
        a, b = max(0, a), min(record.n_samples, max(b, 0))
        offset = record.start_s + a / record.fs
        signal_rows = record.signal[:, a:b]
    else:
        from ecgshift.errors import BadInputError

        try:
            record = io.read(source, fs=fs, start_s=start_s, end_s=end_s, channel=lead, annotations=False, allow_nan=True)
        except BadInputError:
            if lead is None:
                raise
            # a lead the reader derives (e.g. MUSE's III) is no channel of the file: read the ECG channels, pick it there
            record = io.read(source, fs=fs, start_s=start_s, end_s=end_s, annotations=False, allow_nan=True)
        offset, signal_rows = start_s, record.signal
    index = choose_lead(record.leads, lead=lead if lead is not None and lead in record.leads else "auto")
    return StripSignal(signal=np.asarray(signal_rows[index], np.float64), fs=float(record.fs), start_s=float(offset),
                       lead=record.leads[index], record_id=record.record_id, start_time=record.start_time)


def _mv_range(x: np.ndarray) -> tuple[float, float]:
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return -1.5, 1.5
    lo, hi = np.percentile(finite, [0.2, 99.8])
    lo = max(-MAX_MV, np.floor(min(lo, -1.0) / 0.5) * 0.5)
    hi = min(MAX_MV, np.ceil(max(hi, 1.0) / 0.5) * 0.5)
    return float(lo), float(hi)


def _grid(ax, t0: float, t1: float, y0: float, y1: float) -> None:
    """The paper: 1-mm lines (pink) and 5-mm lines (red) from the strip's start and from 0 mV."""
    from matplotlib.collections import LineCollection

    step_t, step_v = 1.0 / MM_PER_S, 1.0 / MM_PER_MV
    kt = np.arange(0, int(np.floor((t1 - t0) / step_t + 1e-9)) + 1)
    kv = np.arange(int(np.ceil(y0 / step_v - 1e-9)), int(np.floor(y1 / step_v + 1e-9)) + 1)
    for major, colour, width in ((False, GRID_MINOR, 0.5), (True, GRID_MAJOR, 0.9)):
        vt = kt[(kt % 5 == 0) == major]
        vv = kv[(kv % 5 == 0) == major]
        segments = [[(t0 + k * step_t, y0), (t0 + k * step_t, y1)] for k in vt] + [[(t0, k * step_v), (t1, k * step_v)] for k in vv]
        ax.add_collection(LineCollection(segments, colors=colour, linewidths=width, zorder=1 + major))


def draw_strip(source: Record | str | Path | StripSignal, start_s: float = 0.0, end_s: float | None = None, *,
               lead: str | None = None, fs: float | None = None, title: str = "", mark_s: float | None = None):
    """A matplotlib ``Figure`` of ``[start_s, end_s)`` of one lead on ECG paper (see the module docstring); its size is
    the paper's: 25 mm per second, 10 mm per mV, plus margins. ``title`` (any text: drawn as written) is followed by
    the lead, the strip's elapsed time and its clock time when known; ``mark_s`` draws a blue dashed line at that
    moment (e.g. an episode onset). ``source`` as in :func:`strip_signal`, or a :class:`StripSignal` already read."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(source, StripSignal):
        strip = source
    else:
        if end_s is None:
            raise ValueError("end_s is needed to read a strip from a file or a Record")
        strip = strip_signal(source, start_s, end_s, lead=lead, fs=fs)
    t0 = strip.start_s
    t1 = max(strip.end_s, t0 + 1.0)  # the samples read (a span past the end is cut there); at least 1 s of paper
    x = strip.signal
    finite = np.isfinite(x)
    centred = x - (np.median(x[finite]) if finite.any() else 0.0)
    y0, y1 = _mv_range(centred)
    width_mm, height_mm = (t1 - t0) * MM_PER_S, (y1 - y0) * MM_PER_MV
    m = _MARGIN_MM
    fig_w, fig_h = width_mm + m["left"] + m["right"], height_mm + m["bottom"] + m["top"]
    fig = Figure(figsize=(fig_w / 25.4, fig_h / 25.4), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((m["left"] / fig_w, m["bottom"] / fig_h, width_mm / fig_w, height_mm / fig_h))
    _grid(ax, t0, t1, y0, y1)
    t = t0 + np.arange(x.size) / strip.fs
    ax.plot(t, np.clip(centred, y0 - 0.5, y1 + 0.5), color=TRACE, lw=0.8, zorder=4, solid_joinstyle="round")
    if mark_s is not None and t0 <= mark_s <= t1:
        ax.axvline(mark_s, color="#1565c0", lw=1.0, ls="--", zorder=5)
    ax.set_xlim(t0, t1)
    ax.set_ylim(y0, y1)
    ax.set_xticks(np.arange(np.ceil(t0), np.floor(t1) + 1e-9, 1.0))
    ax.set_xticklabels([f"{v:g}" for v in ax.get_xticks()], fontsize=6.5)
    ax.set_yticks(np.arange(y0, y1 + 1e-9, 0.5))
    ax.set_yticklabels([f"{v:g}" for v in ax.get_yticks()], fontsize=6.5)
    ax.tick_params(length=2, pad=1.5, colors="#555555")
    for spine in ax.spines.values():
        spine.set_color(GRID_MAJOR)
    ax.set_xlabel("time from the start of the recording (s)", fontsize=7, labelpad=1)
    ax.set_ylabel("mV", fontsize=7, labelpad=1)
    clock = clock_text(strip.start_time, t0)
    detail = f"lead {strip.lead} · {hms(t0)}–{hms(t1)} from start" + (f" · starts {clock}" if clock else "")
    ax.set_title(f"{title} · {detail}" if title else detail, loc="left", fontsize=7.5, pad=3, **PLAIN_TEXT)
    ax.set_title("25 mm/s · 10 mm/mV", loc="right", fontsize=6.5, pad=3, color="#777777", **PLAIN_TEXT)
    return fig


def figure_png(fig) -> bytes:
    """A Figure as PNG bytes (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def strip_png(source: Record | str | Path, start_s: float, end_s: float, *, lead: str | None = None, fs: float | None = None,
              title: str = "", mark_s: float | None = None) -> bytes:
    """:func:`draw_strip` as PNG bytes."""
    return figure_png(draw_strip(source, start_s, end_s, lead=lead, fs=fs, title=title, mark_s=mark_s))


def signal_envelope(source: Record | str | Path, *, duration_s: float, lead: str | None = None, fs: float | None = None,
                    bins: int = 1500, chunk_s: float = 600.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin start times in s, minimum, maximum) of one lead in ``bins`` equal bins over ``duration_s``, read
    ``chunk_s`` at a time (NaN for a bin without samples or one that could not be read): the overview of a long
    recording, in bounded memory."""
    from ecgshift.errors import BadInputError

    edges = np.linspace(0.0, duration_s, bins + 1)
    lo, hi = np.full(bins, np.inf), np.full(bins, -np.inf)
    for a in np.arange(0.0, duration_s, chunk_s):
        b = min(duration_s, a + chunk_s)
        try:
            part = strip_signal(source, a, b, lead=lead, fs=fs)
        except BadInputError:
            continue
        t = part.start_s + np.arange(part.signal.size) / part.fs
        ok = np.isfinite(part.signal)
        which = np.clip(np.searchsorted(edges, t[ok], side="right") - 1, 0, bins - 1)
        np.minimum.at(lo, which, part.signal[ok])
        np.maximum.at(hi, which, part.signal[ok])
    empty = ~np.isfinite(lo)
    lo[empty], hi[empty] = np.nan, np.nan
    return edges[:-1], lo, hi
