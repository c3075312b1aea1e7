"""A user's own recordings: a folder plus a CSV manifest.

Manifest (default ``manifest.csv`` in the folder), one row per recording:

============  =========  ====================================================
column        required   meaning
============  =========  ====================================================
path          yes        file path relative to the folder (any readable format)
modality      yes        recg, tecg, hecg or unknown
label         yes        AF, SR, other, noisy, or empty when unknown
patient_id    no         groups recordings of one patient in one split
fs            no         sampling rate in Hz (required for CSV signals)
============  =========  ====================================================

Splits: grouped by patient (by recording when absent), stratified by label, 70/15/15.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift import io
from ecgshift.datasets.base import Dataset, header_row, register_dataset
from ecgshift.errors import BadInputError
from ecgshift.record import LABELS, MODALITIES, Record
from ecgshift.splits import group_split

__all__ = ["Folder", "MANIFEST_COLUMNS"]

MANIFEST_COLUMNS = ("path", "modality", "label")


@register_dataset
class Folder(Dataset):
    name = "folder"
    modality = "unknown"
    folder = "."

    def __init__(self, root: str | Path, *, manifest: str | Path = "manifest.csv") -> None:
        super().__init__(root)
        self.manifest = Path(manifest) if Path(manifest).is_absolute() else self.root / manifest

    @classmethod
    def looks_like(cls, folder: Path) -> bool:
        return (folder / "manifest.csv").exists()

    def files(self) -> list[Path]:
        table = self.table()
        return sorted({self.manifest, *(self.root / p for p in table.path)} | {p for p in self.root.rglob("*") if p.is_file()})

    def table(self) -> pd.DataFrame:
        if not self.manifest.exists():
            raise BadInputError(self.manifest, "manifest not found")
        try:
            table = pd.read_csv(self.manifest, dtype=str, keep_default_na=False)
        except Exception as exc:
            raise BadInputError(self.manifest, f"unreadable CSV ({exc})") from None
        missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
        if missing:
            raise BadInputError(self.manifest, f"missing columns {missing} (required: {list(MANIFEST_COLUMNS)})")
        for i, row in table.iterrows():
            if row.modality not in MODALITIES:
                raise BadInputError(self.manifest, f"row {i + 2}: modality {row.modality!r} is not one of {list(MODALITIES)}")
            if row.label not in (*LABELS, ""):
                raise BadInputError(self.manifest, f"row {i + 2}: label {row.label!r} is not one of {list(LABELS)} or empty")
        return table

    def describe(self) -> pd.DataFrame:
        table = self.table()
        rows = []
        for i, row in table.iterrows():
            path = self.root / row.path
            fs = float(row["fs"]) if "fs" in table.columns and row["fs"] else None
            try:
                meta = io.info(path, fs=fs)
                facts = {"fs": meta.fs, "duration_s": meta.duration_s, "n_leads": len(meta.leads), "leads": "|".join(meta.leads), "path": row.path}
            except BadInputError:
                facts = {**header_row(path, self.root), "path": row.path}
            patient = row.get("patient_id") or None
            rows.append({"record_id": Path(row.path).stem, "patient_id": patient, "modality": row.modality, "label": row.label, "fs_given": fs, **facts})
        return pd.DataFrame(rows)

    def splits(self, description: pd.DataFrame) -> np.ndarray:
        groups = [p if p else f"record:{r}" for p, r in zip(description.patient_id.fillna(""), description.path)]
        return group_split(groups, description.label.fillna(""), seed=0)

    def read(self, row: pd.Series, *, start_s: float = 0.0, end_s: float | None = None) -> Record:
        fs = row.get("fs_given")
        fs = None if fs is None or pd.isna(fs) else float(fs)
        record = io.read(self.root / row["path"], fs=fs, modality=row["modality"], start_s=start_s, end_s=end_s)
        patient = row.get("patient_id")
        return record.replace(
            patient_id=None if patient is None or pd.isna(patient) else str(patient),
            label=(row["label"] or None) if not record.rhythms else record.label,
        )
