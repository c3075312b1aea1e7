"""MIT-BIH Arrhythmia Database: 48 half-hour 2-lead ambulatory (Holter) excerpts (hECG).

Rhythm intervals come from the reference ``.atr`` annotations (``aux_note``
'(AFIB', '(N', '(AFL', …). Records 201 and 202 come from the same subject, so
they share a patient id and always fall in the same split; splits are by
patient, stratified by whether the record contains AF (50/20/30, so that the
test split holds more than one AF patient; with seed 0, validation holds 29 min and
test 44 min of AF).

Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database.
IEEE Eng Med Biol 20(3):45-50 (2001).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift.datasets._annotated import annotated_row
from ecgshift.datasets.base import Dataset, parallel_map, register_dataset
from ecgshift.splits import group_split

__all__ = ["MITDB", "MITDB_SAME_SUBJECT"]

#: Records known to come from one subject (MIT-BIH directory: 201 and 202).
MITDB_SAME_SUBJECT = {"202": "201"}


@register_dataset
class MITDB(Dataset):
    name = "mitdb"
    modality = "hecg"
    folder = "hecg/mitdb"
    citation = "Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng Med Biol 20(3):45-50 (2001)"

    @classmethod
    def looks_like(cls, folder: Path) -> bool:
        return (folder / "100.hea").exists() or (folder / "RECORDS").exists() and any(folder.glob("*.atr"))

    def record_paths(self) -> list[Path]:
        return sorted(p for p in self.root.glob("*.hea") if p.with_suffix(".atr").exists())

    def files(self) -> list[Path]:
        return sorted(f for p in self.record_paths() for f in p.parent.glob(f"{p.stem}.*") if f.suffix in {".hea", ".dat", ".atr"})

    def describe(self) -> pd.DataFrame:
        paths = self.record_paths()
        rows = parallel_map(annotated_row, [(p, self.root, "atr") for p in paths])
        out = pd.DataFrame(rows)
        out.insert(0, "record_id", [p.stem for p in paths])
        out.insert(1, "patient_id", [MITDB_SAME_SUBJECT.get(p.stem, p.stem) for p in paths])
        out.insert(2, "modality", self.modality)
        out.insert(3, "label", ["AF" if s > 0 else ("SR" if n > 0 else "other") for s, n in zip(out.af_s, out.sr_s)])
        return out

    def splits(self, description: pd.DataFrame) -> np.ndarray:
        return group_split(description.patient_id, description.label == "AF", fractions=(0.5, 0.2, 0.3), seed=0)
