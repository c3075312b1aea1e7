"""PTB-XL: resting clinical 12-lead ECGs, 10 s (rECG).

Labels from ``scp_codes``: AF when 'AFIB' is among them, else SR when 'SR' is,
else other. Splits follow the authors' ``strat_fold`` (patient-disjoint):
folds 1–8 train, 9 validation, 10 test. ``rate=100`` reads ``records100``
(``filename_lr``), ``rate=500`` reads ``records500`` (``filename_hr``).

Wagner P, Strodthoff N, Bousseljot RD, et al. PTB-XL, a large publicly
available electrocardiography dataset. Scientific Data 7, 154 (2020).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift.datasets.base import Dataset, header_row, register_dataset
from ecgshift.errors import BadInputError
from ecgshift.splits import fold_split

__all__ = ["PTBXL", "scp_label"]


def scp_label(codes: dict) -> str:
    """AF / SR / other from a PTB-XL ``scp_codes`` dict."""
    if "AFIB" in codes:
        return "AF"
    if "SR" in codes:
        return "SR"
    return "other"


@register_dataset
class PTBXL(Dataset):
    name = "ptbxl"
    modality = "recg"
    folder = "recg/ptbxl"
    citation = "Wagner P et al. PTB-XL, a large publicly available electrocardiography dataset. Sci Data 7, 154 (2020). doi:10.1038/s41597-020-0495-6"

    def __init__(self, root: str | Path, *, rate: int = 100) -> None:
        super().__init__(root)
        if rate not in (100, 500):
            raise ValueError(f"rate must be 100 or 500, got {rate}")
        self.rate = rate

    @classmethod
    def looks_like(cls, folder: Path) -> bool:
        return any((folder / name).exists() for name in ("ptbxl_database.csv", "ptbxl_database_subset.csv"))

    def database(self) -> pd.DataFrame:
        for name in ("ptbxl_database.csv", "ptbxl_database_subset.csv"):
            path = self.root / name
            if path.exists():
                table = pd.read_csv(path)
                missing = {"ecg_id", "patient_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr"} - set(table.columns)
                if missing:
                    raise BadInputError(path, f"missing columns {sorted(missing)}")
                return table
        raise BadInputError(self.root, "no ptbxl_database.csv")

    def files(self) -> list[Path]:
        sub = "records100" if self.rate == 100 else "records500"
        return sorted(p for p in [*self.root.glob("*.csv"), *(self.root / sub).rglob("*")] if p.is_file())

    def describe(self) -> pd.DataFrame:
        table = self.database()
        column = "filename_lr" if self.rate == 100 else "filename_hr"
        rows = []
        for rec in table.itertuples(index=False):
            codes = ast.literal_eval(rec.scp_codes)
            path = self.root / f"{getattr(rec, column)}.hea"
            if self.rate == 500 and not path.exists():
                continue  # the 500 Hz subset is smaller: only records that have it
            rows.append({
                "record_id": str(rec.ecg_id),
                "patient_id": str(int(rec.patient_id)),
                "modality": self.modality,
                "label": scp_label(codes),
                "scp_codes": ";".join(sorted(codes)),
                "strat_fold": int(rec.strat_fold),
                **header_row(path, self.root),
            })
        return pd.DataFrame(rows)

    def splits(self, description: pd.DataFrame) -> np.ndarray:
        return fold_split(description.strat_fold)
