"""PhysioNet/CinC Challenge 2017: patient-recorded handheld single-lead ECGs (tECG).

Labels from ``REFERENCE-v3.csv`` (the final relabelled version; no header,
``record,label``): N → SR, A → AF, O → other, ~ → noisy. There are no patient
identifiers, so records are the split groups (stratified by label, 70/15/15).

Clifford GD, Liu C, Moody B, et al. AF Classification from a Short Single Lead
ECG Recording: the PhysioNet/Computing in Cardiology Challenge 2017. CinC 2017.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift.datasets.base import Dataset, header_row, register_dataset
from ecgshift.errors import BadInputError
from ecgshift.splits import group_split

__all__ = ["CinC2017", "CINC_LABELS"]

CINC_LABELS = {"N": "SR", "A": "AF", "O": "other", "~": "noisy"}


@register_dataset
class CinC2017(Dataset):
    name = "cinc2017"
    modality = "tecg"
    folder = "tecg/cinc2017"
    citation = "Clifford GD et al. AF classification from a short single lead ECG recording: the PhysioNet/Computing in Cardiology Challenge 2017. CinC 2017;44. doi:10.22489/CinC.2017.065-469"
    reference_file = "REFERENCE-v3.csv"

    @classmethod
    def looks_like(cls, folder: Path) -> bool:
        return (folder / cls.reference_file).exists() or (folder / "REFERENCE.csv").exists()

    def references(self) -> pd.DataFrame:
        path = self.root / self.reference_file
        if not path.exists():
            path = self.root / "REFERENCE.csv"
        table = pd.read_csv(path, header=None, names=["record_id", "raw_label"], dtype=str)
        unknown = sorted(set(table.raw_label) - set(CINC_LABELS))
        if unknown:
            raise BadInputError(path, f"unknown labels {unknown} (expected {sorted(CINC_LABELS)})")
        return table

    def describe(self) -> pd.DataFrame:
        table = self.references()
        rows = []
        for record_id, raw in zip(table.record_id, table.raw_label):
            row = header_row(self.root / f"{record_id}.hea", self.root)
            rows.append({"record_id": record_id, "patient_id": None, "modality": self.modality, "label": CINC_LABELS[raw], "raw_label": raw, **row})
        return pd.DataFrame(rows)

    def splits(self, description: pd.DataFrame) -> np.ndarray:
        return group_split(description.record_id, description.label, fractions=(0.7, 0.15, 0.15), seed=2017)
