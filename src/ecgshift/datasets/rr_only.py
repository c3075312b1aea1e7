"""Annotation-only long-term Holter databases (hECG as beats and rhythms, no waveform).

- LTAFDB: 84 recordings of 24–25 h (signals absent here), reference beat and
  rhythm annotations in ``.atr``; a record's label is AF when it contains AF.
  Petrutiu S, Sahakian AV, Swiryn S. Europace 9:466-470 (2007).
- NSR2DB: 54 ~24-h recordings of subjects in normal sinus rhythm, beat
  annotations in ``.ecg``; every record is SR (the database says so; there are
  no rhythm annotations).

Splits are by record (one subject each), stratified by label, 60/20/20.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift.datasets._annotated import annotated_row
from ecgshift.datasets.base import Dataset, parallel_map, register_dataset
from ecgshift.record import Record, RhythmInterval
from ecgshift.splits import group_split

__all__ = ["LTAFDB", "NSR2DB"]


class _AnnotationOnly(Dataset):
    modality = "hecg"
    has_waveforms = False
    annotation = "atr"

    @classmethod
    def looks_like(cls, folder: Path) -> bool:
        return any(folder.glob(f"*.{cls.annotation}"))

    def record_paths(self) -> list[Path]:
        return sorted(p for p in self.root.glob("*.hea") if p.with_suffix(f".{self.annotation}").exists())

    def files(self) -> list[Path]:
        return sorted(f for p in self.record_paths() for f in (p, p.with_suffix(f".{self.annotation}")))

    def describe(self) -> pd.DataFrame:
        paths = self.record_paths()
        out = pd.DataFrame(parallel_map(annotated_row, [(p, self.root, self.annotation) for p in paths]))
        out.insert(0, "record_id", [p.stem for p in paths])
        out.insert(1, "patient_id", [p.stem for p in paths])
        out.insert(2, "modality", self.modality)
        out.insert(3, "label", self.labels(out))
        return out

    def splits(self, description: pd.DataFrame) -> np.ndarray:
        return group_split(description.patient_id, description.label, fractions=(0.6, 0.2, 0.2), seed=128)

    def labels(self, description: pd.DataFrame) -> list[str]:
        return ["AF" if s > 0 else "SR" for s in description.af_s]


@register_dataset
class LTAFDB(_AnnotationOnly):
    name = "ltafdb"
    folder = "hecg-rr/ltafdb"
    citation = "Petrutiu S, Sahakian AV, Swiryn S. Abrupt changes in fibrillatory wave characteristics at the termination of paroxysmal atrial fibrillation in humans. Europace 9:466-470 (2007)"


@register_dataset
class NSR2DB(_AnnotationOnly):
    name = "nsr2db"
    folder = "hecg-rr/nsr2db"
    annotation = "ecg"
    citation = "Normal Sinus Rhythm RR Interval Database (nsr2db), PhysioNet. Goldberger AL et al. Circulation 101(23):e215-e220 (2000)"

    def labels(self, description: pd.DataFrame) -> list[str]:
        return ["SR"] * len(description)

    def describe(self) -> pd.DataFrame:
        out = super().describe()
        out["sr_s"] = out.duration_s  # sinus rhythm throughout, by the database's definition
        return out

    def read(self, row: pd.Series, *, start_s: float = 0.0, end_s: float | None = None) -> Record:
        """Every NSR2DB record is sinus rhythm throughout: one SR interval over the whole record."""
        record = super().read(row, start_s=start_s, end_s=end_s)
        whole = RhythmInterval(0.0, float(row["duration_s"]), "N")
        return record.replace(label="SR", rhythms=(whole,))
