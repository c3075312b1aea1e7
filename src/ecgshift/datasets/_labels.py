"""The label files of the shared collection's Holter sets (``labels.csv``, ``label_details.csv``), checked on read.

Every problem is a one-line :class:`~ecgshift.errors.BadInputError` naming the file: missing, unreadable,
a required column absent, a record listed twice, a number that is not a finite number ≥ 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import pandas as pd

from ecgshift.errors import BadInputError

__all__ = ["read_label_file"]


def read_label_file(path: Path, *, columns: Sequence[str], numeric: Sequence[str] = ()) -> pd.DataFrame:
    """The CSV at ``path`` (one row per ``record``) with at least ``columns``; ``numeric`` ones as floats ≥ 0."""
    if not path.is_file():
        raise BadInputError(path, "label file not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises several kinds (ParserError, UnicodeDecodeError, EmptyDataError)
        raise BadInputError(path, f"unreadable CSV ({type(exc).__name__}: {exc})") from None
    missing = [c for c in ("record", *columns) if c not in table.columns]
    if missing:
        raise BadInputError(path, f"missing columns {missing} (found {list(table.columns)})")
    if table.empty:
        raise BadInputError(path, "no rows")
    duplicated = sorted(set(table.record[table.record.duplicated()]))
    if duplicated:
        raise BadInputError(path, f"records listed more than once: {duplicated[:5]}")
    for column in numeric:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if bad.size:
            i = int(bad[0])
            raise BadInputError(path, f"row {i + 2}: {column} {table[column].iloc[i]!r} is not a number >= 0")
        table[column] = values
    return table


class LabelledExcerpts:
    """Mixin of the Holter excerpt sets labelled by ``labels.csv`` (record, duration_s, af_seconds) and
    ``label_details.csv`` (record + the columns in ``details``, renamed to their values).

    The description is one row per record of ``labels.csv``; ``af_s`` is its ``af_seconds``, ``sr_s`` the rest
    of the labelled duration (no AF, by the database's definition: the rhythm itself is not annotated), ``other_s``
    0; a record with AF is labelled 'AF', one without 'SR' (= no AF). Records on disk but not in ``labels.csv``
    are not part of the dataset (the collection holds some back).
    """

    labels_file: ClassVar[str] = "labels.csv"
    details_file: ClassVar[str] = "label_details.csv"
    details: ClassVar[dict[str, str]] = {}

    def files(self) -> list[Path]:
        """The two label files and every listed record's header, signal and ``.qrs`` beats that exist."""
        table = self.label_table()
        records = [f for r in table.record for f in (self.root / f"{r}.hea", self.root / f"{r}.dat", self.root / f"{r}.qrs") if f.exists()]
        return sorted([self.root / self.labels_file, self.root / self.details_file, *records])

    def label_table(self) -> pd.DataFrame:
        labels = read_label_file(self.root / self.labels_file, columns=("duration_s", "af_seconds"), numeric=("duration_s", "af_seconds"))
        details = read_label_file(self.root / self.details_file, columns=tuple(self.details))
        unknown = sorted(set(details.record) - set(labels.record))
        if unknown:
            raise BadInputError(self.root / self.details_file, f"records not in {self.labels_file}: {unknown[:5]}")
        missing = sorted(set(labels.record) - set(details.record))
        if missing:
            raise BadInputError(self.root / self.details_file, f"no row for records {missing[:5]} of {self.labels_file}")
        over = labels.af_seconds > labels.duration_s + 1e-6
        if over.any():
            i = int(np.flatnonzero(over.to_numpy())[0])
            raise BadInputError(self.root / self.labels_file, f"row {i + 2}: af_seconds exceeds duration_s")
        details = details[["record", *self.details]].rename(columns=self.details)
        return labels.merge(details, on="record", how="left", validate="one_to_one")
