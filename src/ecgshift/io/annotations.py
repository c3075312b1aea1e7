"""WFDB annotation files → beats and rhythm intervals (read by ``wfdb.rdann``).

Rhythm changes are the annotations whose ``aux_note`` starts with '(' (symbol
'+' in MIT-BIH and LTAFDB): each rhythm runs until the next change, the last
one until the end of the record.

A file that is not a whole MIT-format annotation file is an
:class:`~ecgshift.errors.AnnotationError`: empty, an odd number of bytes, no
end-of-file marker (two zero bytes; every annotation file of shared/data and
every one ``wfdb.wrann`` writes ends with it) or annotation times before the
record's start. ``wfdb.rdann`` itself reads a file cut at an even byte without
complaint and the last rhythm would then stretch to the end of the record.

:func:`write_af_annotations` writes detected AF episodes the other way: rhythm
annotations (symbol '+', ``aux_note`` '(AFIB' at each onset, '(N' at each
offset and at the start when the recording does not start in AF) that
``wfdb.rdann``, PhysioNet's viewers and episode-comparison tools (``epicmp``)
and :func:`read_annotations` read.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Sequence

import numpy as np
import wfdb

from ecgshift.errors import AnnotationError
from ecgshift.record import Beats, RhythmInterval, intervals_from_changes

__all__ = ["BEAT_SYMBOLS", "AF_EXTENSION", "read_annotations", "wfdb_record_name", "write_af_annotations"]

#: PhysioNet beat annotation codes (everything else is a rhythm, noise or comment annotation).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
#: The annotator (file extension) of ecgshift's detected AF episodes.
AF_EXTENSION = "af"


def read_annotations(
    base: str | Path, extension: str, *, fs: float, end_s: float | None = None
) -> tuple[Beats, tuple[RhythmInterval, ...], int]:
    """Beats, rhythm intervals and the last annotated sample + 1 of one annotation file."""
    path = Path(f"{base}.{extension}")
    _check_annotation_file(path)
    try:
        ann = wfdb.rdann(str(base), extension)
    except Exception:  # numpy reshape / index errors from a corrupt byte stream
        raise AnnotationError(path, "corrupt annotation file: not in the WFDB (MIT) annotation format") from None
    sample = np.asarray(ann.sample, dtype=np.int64)
    if sample.size and sample.min() < 0:
        raise AnnotationError(path, "corrupt annotation file: annotation times before the start of the record")
    symbol = np.asarray(ann.symbol, dtype=str)
    aux = [(note or "").replace("\x00", "").strip() for note in (ann.aux_note or [""] * sample.size)]
    is_beat = np.isin(symbol, list(BEAT_SYMBOLS))
    beats = Beats(sample=sample[is_beat], symbol=symbol[is_beat], fs=fs)
    last = int(sample.max()) + 1 if sample.size else 0
    stop_s = end_s if end_s else last / fs
    changes = [(s / fs, note[1:]) for s, note in zip(sample, aux) if note.startswith("(")]
    rhythms = intervals_from_changes([t for t, _ in changes], [r for _, r in changes], end_s=stop_s)
    return beats, rhythms, last


def _check_annotation_file(path: Path) -> None:
    """A whole MIT-format annotation file: 16-bit words ending with the end-of-file word 0."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 2))
            tail = handle.read()
    except OSError as exc:
        raise AnnotationError(path, f"annotation file cannot be read ({exc.strerror or 'input/output error'})") from None
    if size == 0:
        raise AnnotationError(path, "empty annotation file (0 bytes)")
    if size % 2 or tail != b"\x00\x00":
        raise AnnotationError(path, f"truncated or corrupt annotation file: its {size} bytes do not end with the end-of-file marker")


def wfdb_record_name(name: str) -> str:
    """``name`` as a WFDB record name (letters, digits, ``_``; anything else becomes ``_``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return cleaned or "record"


def write_af_annotations(folder: str | Path, record_name: str, episodes: Sequence[tuple[float, float]], *, fs: float,
                         duration_s: float, start_time: datetime | None = None, extension: str = AF_EXTENSION) -> Path:
    """AF episodes (``(start_s, end_s)`` pairs, in order, not overlapping) as the WFDB annotation file
    ``<folder>/<record>.<extension>``, with a signal-less header ``<record>.hea`` beside it (``fs``, length and, when
    known, base time and date: so the file is a readable record of its own). '(N' marks time outside the episodes:
    the detector tells AF from not-AF, not sinus rhythm from other rhythms. Copy ``<record>.<extension>`` next to the
    original record to view or compare it there (``epicmp -r <record> -a atr af``). Returns the annotation file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = wfdb_record_name(record_name)
    n_samples = int(round(duration_s * fs))
    samples, notes = [], []
    for start, end in episodes:
        a, b = int(round(start * fs)), int(round(end * fs))
        if not samples and a > 0:
            samples.append(0)
            notes.append("(N")
        samples.append(min(max(a, 0), max(n_samples - 1, 0)))
        notes.append("(AFIB")
        if b < n_samples:
            samples.append(b)
            notes.append("(N")
    if not samples:
        samples, notes = [0], ["(N"]
    when = "" if start_time is None else f" {start_time.strftime('%H:%M:%S')} {start_time.strftime('%d/%m/%Y')}"
    (folder / f"{name}.hea").write_text(f"{name} 0 {fs:.10g} {n_samples}{when}\n")
    wfdb.wrann(name, extension, np.asarray(samples, dtype=np.int64), symbol=["+"] * len(samples), aux_note=notes, fs=fs,
               write_dir=str(folder))
    return folder / f"{name}.{extension}"
