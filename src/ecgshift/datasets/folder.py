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

A recording's ``record_id`` is its path relative to the folder, without the
extension (``s01/rec`` for ``s01/rec.hea``), so files of one name in different
subfolders stay apart; two files that differ only by extension keep it
(``a/rec.csv``, ``a/rec.edf``).

Every manifest row is accounted for. A row that cannot be read — an empty,
absolute or outside-the-folder (``../``) path, a missing file, a folder, a
symlink loop, an unreadable file, a bad modality, label or ``fs`` — stays in the
description with its one-line ``problem`` (naming the manifest row) and is
rejected when prepared; the other rows are prepared. A recording listed twice
with the same label, modality, patient and fs is prepared once and
:meth:`Folder.notes` says so; listed twice with different ones, every row of it
is rejected (the manifest contradicts itself).

Splits: grouped by patient (by recording when absent), stratified by label,
70/15/15, over the readable rows (a rejected row moves no other recording).
A record whose signal reads but whose annotation file does not
(:class:`~ecgshift.errors.AnnotationError`) is used without annotations when the
manifest gives its label (the reason is in ``Record.meta['annotation_error']``),
and rejected otherwise.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ecgshift import io
from ecgshift.datasets.base import Dataset, header_row, register_dataset
from ecgshift.errors import AnnotationError, BadInputError
from ecgshift.io.checks import check_fs
from ecgshift.record import LABELS, MODALITIES, Record
from ecgshift.splits import group_split

__all__ = ["Folder", "MANIFEST_COLUMNS"]

MANIFEST_COLUMNS = ("path", "modality", "label")
#: The columns that must agree when one recording is listed twice.
_SAME_RECORDING = ("modality", "label", "patient_id", "fs")


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
        listed = {self.root / p for p, problem in zip(table.path, table.problem) if not problem}
        return sorted({self.manifest, *listed} | {p for p in self.root.rglob("*") if p.is_file()})

    def table(self) -> pd.DataFrame:
        """The manifest, one row per line, with ``row`` (its line number in the file), ``problem`` (why the row
        cannot be read, one line naming the row; empty when it can) and ``duplicate_of`` (the row number of
        an identical earlier listing of the same recording, else 0)."""
        if not self.manifest.exists():
            raise BadInputError(self.manifest, "manifest not found")
        try:
            table = pd.read_csv(self.manifest, dtype=str, keep_default_na=False)
        except Exception as exc:
            raise BadInputError(self.manifest, f"unreadable CSV ({exc})") from None
        missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
        if missing:
            raise BadInputError(self.manifest, f"missing columns {missing} (required: {list(MANIFEST_COLUMNS)})")
        table = table.fillna("")  # cells of short rows
        for column in ("path", "modality", "label"):
            table[column] = table[column].str.strip()
        table["row"] = np.arange(len(table)) + 2  # line 1 is the header
        checked = [self._check_row(row) for row in table.itertuples(index=False)]
        table["problem"] = [problem for problem, _ in checked]
        table["duplicate_of"] = 0
        _mark_duplicates(table, [key for _, key in checked], self.manifest)
        return table

    def notes(self) -> list[str]:
        """Manifest rows that repeat a recording already listed (prepared once)."""
        table = self.table()
        return [
            f"{self.manifest}: row {row.row} ({row.path!r}) repeats row {row.duplicate_of} (same recording, same label): prepared once"
            for row in table.itertuples(index=False) if row.duplicate_of
        ]

    def _check_row(self, row) -> tuple[str, str | None]:
        """(problem, key): why a manifest row cannot be read ("" if it can), and the file it names, resolved
        (a WFDB record by its base name, so ``x``, ``x.hea`` and ``x.dat`` are one recording)."""

        def problem(text: str) -> tuple[str, None]:
            return str(BadInputError(self.manifest, f"row {row.row} ({row.path!r}): {text}")), None

        if not row.path:
            return problem("empty path")
        relative = Path(row.path)
        if relative.is_absolute():
            return problem("absolute path: give the path relative to the folder")
        if os.path.normpath(relative).split(os.sep)[0] == "..":
            return problem("the path leads outside the folder")
        path = self.root / relative
        target = path
        if path.suffix == "" and not path.exists() and Path(f"{path}.hea").exists():
            target = Path(f"{path}.hea")  # a WFDB record by its name
        file_problem = _file_problem(target)
        if file_problem:
            return problem(file_problem)
        if row.modality not in MODALITIES:
            return problem(f"modality {row.modality!r} is not one of {list(MODALITIES)}")
        if row.label not in (*LABELS, ""):
            return problem(f"label {row.label!r} is not one of {list(LABELS)} or empty")
        fs = getattr(row, "fs", "")
        if fs:
            try:
                check_fs(fs, self.manifest)
            except BadInputError as exc:
                return problem(f"fs: {exc.problem}")
        try:
            reader = io.reader_for(target)
        except BadInputError as exc:
            return problem(exc.problem)
        resolved = Path(os.path.realpath(target))
        key = str(resolved.with_suffix("")) if reader.name == "wfdb" else str(resolved)
        return "", key

    def describe(self) -> pd.DataFrame:
        table = self.table()
        table = table[table.duplicate_of == 0]
        ids = _record_ids(table)
        rows = []
        for (_, row), record_id in zip(table.iterrows(), ids):
            patient = row.get("patient_id") or None
            base = {"record_id": record_id, "patient_id": patient, "modality": row.modality, "label": row.label}
            if row.problem:
                rows.append({**base, "fs_given": None, "fs": float("nan"), "duration_s": float("nan"), "n_leads": 0,
                             "leads": "", "path": row.path, "problem": row.problem})
                continue
            path = self.root / row.path
            fs = float(row["fs"]) if "fs" in table.columns and row["fs"] else None
            try:
                meta = io.info(path, fs=fs)
                facts = {"fs": meta.fs, "duration_s": meta.duration_s, "n_leads": len(meta.leads), "leads": "|".join(meta.leads)}
            except BadInputError:
                facts = {k: v for k, v in header_row(path, self.root).items() if k != "path"}
            rows.append({**base, "fs_given": fs, **facts, "path": row.path, "problem": ""})
        return pd.DataFrame(rows, columns=["record_id", "patient_id", "modality", "label", "fs_given", "fs", "duration_s",
                                           "n_leads", "leads", "path", "problem"])

    def splits(self, description: pd.DataFrame) -> np.ndarray:
        readable = ~_has_problem(description)
        out = np.full(len(description), "", dtype="<U5")  # rejected rows: no windows, no split
        part = description[readable]
        if len(part):
            groups = [p if p else f"record:{r}" for p, r in zip(part.patient_id.fillna(""), part.path)]
            out[readable] = group_split(groups, part.label.fillna(""), seed=0)
        return out

    def read(self, row: pd.Series, *, start_s: float = 0.0, end_s: float | None = None) -> Record:
        problem = row.get("problem")
        if isinstance(problem, str) and problem:
            raise BadInputError(None, problem)
        fs = row.get("fs_given")
        fs = None if fs is None or pd.isna(fs) else float(fs)
        label = row.get("label")
        label = None if label is None or pd.isna(label) or label == "" else str(label)
        try:
            record = io.read(self.root / row["path"], fs=fs, modality=row["modality"], start_s=start_s, end_s=end_s)
        except AnnotationError as exc:
            if exc.record is None or label is None:
                raise
            record = exc.record.replace(meta={**exc.record.meta, "annotation_error": str(exc)})
        patient = row.get("patient_id")
        return record.replace(
            record_id=str(row["record_id"]),
            patient_id=None if patient is None or pd.isna(patient) else str(patient),
            label=label if not record.rhythms else record.label,
        )


def _has_problem(description: pd.DataFrame) -> np.ndarray:
    if "problem" not in description:
        return np.zeros(len(description), dtype=bool)
    return description.problem.fillna("").astype(str).str.len().to_numpy() > 0


def _file_problem(path: Path) -> str:
    """Why the file a manifest row names cannot be opened, in the user's terms ("" when it can)."""
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop: the path never reaches a file"
        if path.is_symlink():
            return "broken symbolic link: its target does not exist"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "file not found"
        return f"file cannot be opened ({os.strerror(exc.errno or 0).lower()})"
    if path.is_dir():
        return "a folder, not a recording file"
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        return f"file cannot be read ({os.strerror(exc.errno or 0).lower()})"
    return ""


def _mark_duplicates(table: pd.DataFrame, keys: list[str | None], manifest: Path) -> None:
    """The same recording listed more than once: identical rows → ``duplicate_of`` the first; rows that
    disagree (label, modality, patient, fs) → every one of them gets a ``problem``."""
    columns = [c for c in _SAME_RECORDING if c in table.columns]
    by_key: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        if key is not None:
            by_key.setdefault(key, []).append(i)
    for key, members in by_key.items():
        if len(members) < 2:
            continue
        values = table.iloc[members][columns]
        differ = [c for c in columns if values[c].nunique() > 1]
        if not differ:
            for i in members[1:]:
                table.iat[i, table.columns.get_loc("duplicate_of")] = int(table.row.iat[members[0]])
            continue
        rows = [int(table.row.iat[i]) for i in members]
        for i in members:
            what = ", ".join(f"{c} {' vs '.join(repr(v) for v in values[c].unique())}" for c in differ)
            others = ", ".join(str(r) for r in rows if r != table.row.iat[i])
            text = f"row {table.row.iat[i]} ({table.path.iat[i]!r}): the same recording as row {others} with a different {what}: fix the manifest"
            table.iat[i, table.columns.get_loc("problem")] = str(BadInputError(manifest, text))


def _record_ids(table: pd.DataFrame) -> list[str]:
    """Path relative to the folder without its extension (with it, for files that differ only by extension);
    ``manifest row N`` for a row whose path cannot be used."""
    stems, full = [], []
    for row in table.itertuples(index=False):
        if row.problem:
            stems.append(f"manifest row {row.row}")
            full.append(stems[-1])
            continue
        path = PurePosixPath(Path(os.path.normpath(row.path)).as_posix())
        full.append(str(path))
        stems.append(str(path.with_suffix("")))
    clash = {s for s in stems if stems.count(s) > 1}
    return [f if s in clash else s for s, f in zip(stems, full)]
