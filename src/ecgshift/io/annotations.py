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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb

from ecgshift.errors import AnnotationError
from ecgshift.record import Beats, RhythmInterval, intervals_from_changes

__all__ = ["BEAT_SYMBOLS", "read_annotations"]

#: PhysioNet beat annotation codes (everything else is a rhythm, noise or comment annotation).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")


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
