"""MIT-BIH Atrial Fibrillation Database: 25 ~10-h two-lead Holters, rhythm and beat annotations only (hECG).

The waveforms are not in the shared collection (23 records' signal files are absent; 00735 and 03665 have
none in the database itself), so like LTAFDB this set serves RR-interval detectors only. Rhythm intervals
come from the reference ``.atr`` ('(AFIB', '(AFL', '(J', '(N': rhythm changes only, no beats); beats from the
unaudited ``.qrs`` (every beat 'N': there are no beat labels). ``labels.csv`` (record, duration_s,
af_seconds) is the collection's label file; its ``af_seconds`` are kept as ``af_s_labels`` beside the ``af_s``
summed here from ``.atr``. Every record contains AF (label 'AF'); 07162 and 07859 are AF throughout.

Splits are by record (one subject each), stratified by label, 60/20/20 (as LTAFDB and NSR2DB).

Moody GB, Mark RG. A new method for detecting atrial fibrillation using R-R intervals.
Computers in Cardiology 10:227-230 (1983).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ecgshift.datasets._annotated import annotated_row
from ecgshift.datasets._labels import read_label_file
from ecgshift.datasets.base import parallel_map, register_dataset
from ecgshift.datasets.rr_only import _AnnotationOnly
from ecgshift.errors import BadInputError
from ecgshift.io.annotations import read_annotations
from ecgshift.record import Record

__all__ = ["AFDB"]


@register_dataset
class AFDB(_AnnotationOnly):
    name = "afdb"
    folder = "hecg-rr/afdb"
    annotation = "atr"
    beat_annotation = "qrs"
    labels_file = "labels.csv"
    citation = "Moody GB, Mark RG. A new method for detecting atrial fibrillation using R-R intervals. Computers in Cardiology 10:227-230 (1983)"

    @classmethod
    def looks_like(cls, folder: Path) -> bool:
        return any(folder.glob("*.atr")) and any(folder.glob("*.qrs")) and not any(folder.glob("*.dat"))

    def labels(self, description: pd.DataFrame) -> list[str]:
        return ["AF" if s > 0 else "SR" for s in description.af_s]

    def label_table(self) -> pd.DataFrame:
        return read_label_file(self.root / self.labels_file, columns=("duration_s", "af_seconds"), numeric=("duration_s", "af_seconds"))

    def record_paths(self) -> list[Path]:
        listed = set(self.label_table().record)
        return sorted(p for p in super().record_paths() if p.stem in listed)

    def files(self) -> list[Path]:
        paths = self.record_paths()
        return sorted([self.root / self.labels_file, *(f for p in paths for f in (p, p.with_suffix(".atr"), p.with_suffix(".qrs")))])

    def describe(self) -> pd.DataFrame:
        labels = self.label_table().set_index("record")
        paths = self.record_paths()
        missing = sorted(set(labels.index) - {p.stem for p in paths})
        if missing:
            raise BadInputError(self.root / self.labels_file, f"records without .hea/.atr files: {missing[:5]}")
        out = pd.DataFrame(parallel_map(annotated_row, [(p, self.root, self.annotation, self.beat_annotation) for p in paths]))
        out.insert(0, "record_id", [p.stem for p in paths])
        out.insert(1, "patient_id", [p.stem for p in paths])
        out.insert(2, "modality", self.modality)
        out.insert(3, "label", self.labels(out))
        out["af_s_labels"] = labels.af_seconds.reindex(out.record_id).to_numpy()
        return out

    def read(self, row: pd.Series, *, start_s: float = 0.0, end_s: float | None = None) -> Record:
        """Rhythms from ``.atr`` (the reader's choice) and the beats of ``.qrs`` (``.atr`` holds none)."""
        record = super().read(row, start_s=start_s, end_s=end_s)
        base = self.root / Path(str(row["path"])).with_suffix("")
        beats, _, _ = read_annotations(base, self.beat_annotation, fs=record.fs, end_s=None)
        return record.replace(beats=beats)
