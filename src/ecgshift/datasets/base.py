"""What every dataset provides: a description table (one row per record), Records, and splits.

A dataset module defines a :class:`Dataset` subclass and registers it with
:func:`register_dataset` under an exact name. The description table has at least
the columns in :data:`DESCRIPTION_COLUMNS`; splitting by patient is a groupby on it.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, ClassVar, Iterator

import numpy as np
import pandas as pd

from ecgshift import io
from ecgshift.errors import BadInputError
from ecgshift.record import Record
from ecgshift.errors import UnknownNameError

__all__ = ["DESCRIPTION_COLUMNS", "Dataset", "DATASETS", "register_dataset", "dataset_class", "find_root", "header_row"]

DESCRIPTION_COLUMNS = ("record_id", "patient_id", "modality", "label", "fs", "duration_s", "n_leads", "leads", "path", "split")
DATASETS: dict[str, type["Dataset"]] = {}


def register_dataset(cls: type["Dataset"]) -> type["Dataset"]:
    """Class decorator: register a dataset under its ``name``."""
    DATASETS[cls.name] = cls
    return cls


def dataset_class(name: str) -> type["Dataset"]:
    """The dataset class registered under exactly ``name``."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownNameError("dataset", name, sorted(DATASETS)) from None


def find_root(data_root: str | Path, name: str) -> Path:
    """A dataset's folder under a data root: ``<root>/<modality>/<name>`` (this repo's layout) or ``<root>/<name>``."""
    cls = dataset_class(name)
    data_root = Path(data_root)
    for candidate in (data_root / cls.folder, data_root / name, data_root):
        if candidate.is_dir() and cls.looks_like(candidate):
            return candidate
    raise BadInputError(data_root, f"no {name} dataset found (looked for {cls.folder}/ and {name}/)")


def header_row(path: Path, root: Path) -> dict:
    """Description columns that the header alone gives (no samples read)."""
    try:
        meta = io.info(path)
    except BadInputError:
        return {"fs": float("nan"), "duration_s": float("nan"), "n_leads": 0, "leads": "", "path": _rel(path, root)}
    return {
        "fs": meta.fs,
        "duration_s": meta.duration_s,
        "n_leads": len(meta.leads),
        "leads": "|".join(meta.leads),
        "path": _rel(path, root),
    }


def _rel(path: Path, root: Path) -> str:
    return str(Path(os.path.relpath(path, root)))


def parallel_map(fn: Callable, items: list, *, workers: int | None = None) -> list:
    """``map`` over processes for slow per-record work (annotation parsing); order kept."""
    workers = workers or min(len(items), os.cpu_count() or 1)
    if workers <= 1 or len(items) < 4:
        return [fn(item) for item in items]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items, chunksize=max(1, len(items) // (4 * workers))))


class Dataset:
    """A public (or user) dataset in a folder. ``__init__`` only stores; ``describe`` reads headers and labels."""

    name: ClassVar[str]
    modality: ClassVar[str]
    folder: ClassVar[str]
    has_waveforms: ClassVar[bool] = True
    citation: ClassVar[str] = ""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @classmethod
    def looks_like(cls, folder: Path) -> bool:
        """Whether a folder holds this dataset (checked by a marker file)."""
        raise NotImplementedError

    def describe(self) -> pd.DataFrame:
        """One row per record with :data:`DESCRIPTION_COLUMNS` but ``split`` (and dataset-specific extras)."""
        raise NotImplementedError

    def splits(self, description: pd.DataFrame) -> np.ndarray:
        """'train' / 'val' / 'test' per description row (deterministic, group-aware)."""
        raise NotImplementedError

    def description(self) -> pd.DataFrame:
        """:meth:`describe` with the ``split`` column."""
        out = self.describe()
        out["split"] = self.splits(out)
        return out

    def notes(self) -> list[str]:
        """What the user should know about the dataset's listing that rejects no record (e.g. a recording
        listed twice, prepared once); one line each."""
        return []

    def files(self) -> list[Path]:
        """Every file the description and windows depend on (for cache keys)."""
        return sorted(p for p in self.root.rglob("*") if p.is_file())

    def read(self, row: pd.Series, *, start_s: float = 0.0, end_s: float | None = None) -> Record:
        """The Record of one description row, with the dataset's labels and ids attached."""
        record = io.read(self.root / row["path"], modality=self.modality, start_s=start_s, end_s=end_s)
        label = row.get("label")
        return record.replace(
            record_id=str(row["record_id"]),
            patient_id=None if pd.isna(row.get("patient_id")) else str(row["patient_id"]),
            label=record.label if record.rhythms or pd.isna(label) or label == "" else label,
        )

    def records(self, description: pd.DataFrame | None = None) -> Iterator[Record]:
        """Records in description order (unreadable ones raise BadInputError)."""
        description = self.description() if description is None else description
        for _, row in description.iterrows():
            yield self.read(row)
