"""AF Termination Challenge Database (CinC 2004): one-minute 2-channel Holter excerpts of AF, 128 Hz (hECG).

In the shared collection: the learning set (n01–n10: AF not terminating within an hour; s01–s10: terminating
one minute after the record ends; t01–t10: terminating immediately after) and test set A (a01–a30), 60 records;
test set B is held back. Every record is AF by the database's definition (``labels.csv``: af_seconds = 60);
``label_details.csv`` gives the subset and the learning-set termination group. There are no negatives: the set
measures sensitivity only.

Groups and splits: subjects are not documented. Test set B is known to pair records of one subject, and an S
record and a T record can be consecutive minutes of one episode, so no record-level or termination-group
split can be trusted to keep a subject on one side. The only boundary the database's authors designed is the
challenge's learning / test partition, so the **subset is the group** (``group`` column; ``patient_id`` is
unknown) and the split follows it, as PTB-XL's follows its authors' folds: learning set → train, test set A →
test (no validation records: an AF-only set cannot steer early stopping or calibration anyway). Whether test
set A shares subjects with the learning set is not documented either.

Moody GB. Spontaneous termination of atrial fibrillation: a challenge from PhysioNet and Computers in
Cardiology 2004. Computers in Cardiology 31:101-104 (2004).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ecgshift.datasets._labels import LabelledExcerpts
from ecgshift.datasets.base import Dataset, header_row, register_dataset

__all__ = ["AFTDB", "AFTDB_SPLITS"]

#: Split of each subset (the challenge's own partition; see the module docstring).
AFTDB_SPLITS = {"learning-set": "train", "test-set-a": "test"}


@register_dataset
class AFTDB(LabelledExcerpts, Dataset):
    name = "aftdb"
    modality = "hecg"
    folder = "hecg/aftdb"
    citation = ("Moody GB. Spontaneous termination of atrial fibrillation: a challenge from PhysioNet and Computers in Cardiology 2004. "
                "Computers in Cardiology 31:101-104 (2004)")
    details: ClassVar[dict[str, str]] = {"subset": "subset", "termination_group_learning_set": "termination_group"}

    @classmethod
    def looks_like(cls, folder: Path) -> bool:
        return any((folder / f"{prefix}01.hea").exists() for prefix in ("s", "a")) and not (folder / "p01.hea").exists()

    def describe(self) -> pd.DataFrame:
        table = self.label_table()
        rows = []
        for rec in table.itertuples(index=False):
            rows.append({
                "record_id": rec.record, "patient_id": None, "group": rec.subset, "modality": self.modality,
                "label": "AF" if rec.af_seconds > 0 else "SR", "subset": rec.subset, "termination_group": rec.termination_group,
                **header_row(self.root / f"{rec.record}.hea", self.root),
                "af_s": rec.af_seconds, "sr_s": rec.duration_s - rec.af_seconds, "other_s": 0.0,
            })
        return pd.DataFrame(rows)

    def splits(self, description: pd.DataFrame) -> np.ndarray:
        unknown = sorted(set(description.group) - set(AFTDB_SPLITS))
        if unknown:
            raise ValueError(f"aftdb: no split for subsets {unknown} (known: {sorted(AFTDB_SPLITS)})")
        return description.group.map(AFTDB_SPLITS).to_numpy()
