"""PAF Prediction Challenge Database (CinC 2001): 30-minute 2-channel Holter excerpts without AF, 128 Hz (hECG).

In the shared collection: the learning records n01–n50 (subjects without documented AF) and p01–p50 (subjects
with paroxysmal AF, excerpts away from or just before an onset), 100 records, 50 h; the test records t01–t100
and the 5-minute continuations are held back. No record contains AF by the database's definition
(``labels.csv``: af_seconds = 0), so every record is labelled 'SR' here in the sense of *no AF*: the rhythm is
not annotated, and several records are RR-irregular from ectopy (``rr_irregularity``, from the unaudited
``.qrs`` beats: hard negatives). PhysioNet warns that a few p records may hold very short bursts of PAF that
escaped notice. The set measures false AF calls only.

Groups and splits: records come in same-subject pairs (n01/n02, n03/n04, …, p49/p50: two excerpts of one
24-h Holter), so ``patient_id`` is the pair ('n01-n02') and a pair never spans two splits. PhysioNet says the
50 learning pairs come from 48 subjects (which two subjects give two pairs is not documented). Pairs are
split 60/20/20, stratified by group (n / p), seed 2001.

Moody GB, Goldberger AL, McClennen S, Swiryn SP. Predicting the onset of paroxysmal atrial fibrillation:
the Computers in Cardiology Challenge 2001. Computers in Cardiology 28:113-116 (2001).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ecgshift.datasets._labels import LabelledExcerpts
from ecgshift.datasets.base import Dataset, header_row, register_dataset
from ecgshift.errors import BadInputError
from ecgshift.splits import group_split

__all__ = ["AFPDB", "afpdb_pair"]

_RECORD = re.compile(r"^([np])(\d{2})$")


def afpdb_pair(record_id: str) -> str:
    """The same-subject pair of a learning record: 'n01' and 'n02' → 'n01-n02'."""
    match = _RECORD.match(record_id)
    if match is None:
        raise ValueError(f"{record_id!r} is not an afpdb learning record (n01–n50, p01–p50)")
    prefix, number = match.group(1), int(match.group(2))
    first = number if number % 2 else number - 1
    return f"{prefix}{first:02d}-{prefix}{first + 1:02d}"


@register_dataset
class AFPDB(LabelledExcerpts, Dataset):
    name = "afpdb"
    modality = "hecg"
    folder = "hecg/afpdb"
    citation = ("Moody GB, Goldberger AL, McClennen S, Swiryn SP. Predicting the onset of paroxysmal atrial fibrillation: "
                "the Computers in Cardiology Challenge 2001. Computers in Cardiology 28:113-116 (2001)")
    details: ClassVar[dict[str, str]] = {"group": "db_group", "rr_irregularity_frac_gt10pct": "rr_irregularity"}

    @classmethod
    def looks_like(cls, folder: Path) -> bool:
        return (folder / "p01.hea").exists() or (folder / "n01.hea").exists() and not (folder / "s01.hea").exists()

    def describe(self) -> pd.DataFrame:
        table = self.label_table()
        rows = []
        for i, rec in enumerate(table.itertuples(index=False)):
            try:
                pair = afpdb_pair(rec.record)
            except ValueError as exc:
                raise BadInputError(self.root / self.labels_file, f"row {i + 2}: {exc}") from None
            rows.append({
                "record_id": rec.record, "patient_id": pair, "modality": self.modality,
                "label": "AF" if rec.af_seconds > 0 else "SR", "group": rec.record[0], "db_group": rec.db_group,
                "rr_irregularity": pd.to_numeric(rec.rr_irregularity, errors="coerce"),
                **header_row(self.root / f"{rec.record}.hea", self.root),
                "af_s": rec.af_seconds, "sr_s": rec.duration_s - rec.af_seconds, "other_s": 0.0,
            })
        return pd.DataFrame(rows)

    def splits(self, description: pd.DataFrame) -> np.ndarray:
        return group_split(description.patient_id, description.group, fractions=(0.6, 0.2, 0.2), seed=2001)
