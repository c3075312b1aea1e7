"""WFDB annotation files → beats and rhythm intervals (read by ``wfdb.rdann``).

Rhythm changes are the annotations whose ``aux_note`` starts with '(' (symbol
'+' in MIT-BIH and LTAFDB): each rhythm runs until the next change, the last
one until the end of the record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb

from ecgshift.errors import BadInputError
from ecgshift.record import Beats, RhythmInterval, intervals_from_changes

__all__ = ["BEAT_SYMBOLS", "read_annotations"]

#: PhysioNet beat annotation codes (everything else is a rhythm, noise or comment annotation).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")


def read_annotations(
    base: str | Path, extension: str, *, fs: float, end_s: float | None = None
) -> tuple[Beats, tuple[RhythmInterval, ...], int]:
    """Beats, rhythm intervals and the last annotated sample + 1 of one annotation file."""
    path = Path(f"{base}.{extension}")
    try:
        ann = wfdb.rdann(str(base), extension)
    except Exception as exc:
        raise BadInputError(path, f"unreadable annotation file ({type(exc).__name__}: {exc})") from None
    sample = np.asarray(ann.sample, dtype=np.int64)
    symbol = np.asarray(ann.symbol, dtype=str)
    aux = [(note or "").replace("\x00", "").strip() for note in (ann.aux_note or [""] * sample.size)]
    is_beat = np.isin(symbol, list(BEAT_SYMBOLS))
    beats = Beats(sample=sample[is_beat], symbol=symbol[is_beat], fs=fs)
    last = int(sample.max()) + 1 if sample.size else 0
    stop_s = end_s if end_s else last / fs
    changes = [(s / fs, note[1:]) for s, note in zip(sample, aux) if note.startswith("(")]
    rhythms = intervals_from_changes([t for t, _ in changes], [r for _, r in changes], end_s=stop_s)
    return beats, rhythms, last
