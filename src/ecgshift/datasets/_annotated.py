"""Description rows for records with beat and rhythm annotations (MIT-BIH, LTAFDB, NSR2DB)."""

from __future__ import annotations

from pathlib import Path

from ecgshift.datasets.base import header_row
from ecgshift.errors import BadInputError
from ecgshift.io.annotations import read_annotations
from ecgshift.io.wfdb import wfdb_info

__all__ = ["annotated_row"]


def annotated_row(args: tuple[Path, Path, str] | tuple[Path, Path, str, str]) -> dict:
    """Header facts plus rhythm totals (seconds of AF, sinus, other), beat count and AF episodes.

    Takes one tuple (header path, dataset root, annotation extension[, beat annotation extension]) so it
    can run in a process pool; the beat extension, when given, is read for the beats (MIT-BIH AFDB keeps
    rhythms in ``.atr`` and beats in ``.qrs``).
    """
    path, root, extension, *beat_extension = args
    row = header_row(path, root)
    try:
        fs = wfdb_info(path).fs
        beats, rhythms, last = read_annotations(path.with_suffix(""), extension, fs=fs, end_s=None)
        if beat_extension:
            beats, _, last_beat = read_annotations(path.with_suffix(""), beat_extension[0], fs=fs, end_s=None)
            last = max(last, last_beat)
    except BadInputError as exc:
        return {**row, "annotation_error": str(exc)}
    end_s = max(row["duration_s"] if row["duration_s"] == row["duration_s"] else 0.0, last / fs)
    if rhythms and rhythms[-1].end_s < end_s:  # the last rhythm runs to the record end
        from ecgshift.record import RhythmInterval

        rhythms = rhythms[:-1] + (RhythmInterval(rhythms[-1].start_s, end_s, rhythms[-1].rhythm),)
    seconds = {"AF": 0.0, "SR": 0.0, "other": 0.0, "noisy": 0.0}
    for interval in rhythms:
        seconds[interval.label] += interval.duration_s
    return {
        **row,
        "duration_s": end_s,
        "af_s": seconds["AF"],
        "sr_s": seconds["SR"],
        "other_s": seconds["other"] + seconds["noisy"],
        "n_beats": len(beats),
        "af_episodes": sum(1 for r in rhythms if r.label == "AF"),
        "rhythms": ";".join(sorted({r.rhythm for r in rhythms})),
    }
