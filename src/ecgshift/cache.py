"""Prepared windows on disk, keyed by a hash of the dataset's files and the harmonization config.

Layout of one entry, ``<cache>/<dataset>-<key>/``: ``x.npy`` (windows × 1 ×
samples, float32, memory-mapped on load), ``windows.csv`` (one row per window:
dataset, record_id, patient_id, modality, split, label, af_fraction, start_s,
valid_fraction), ``rejected.csv`` (path, reason: every record that gave no
windows, and why) and ``meta.json`` (with ``notes``: records used without
their unreadable annotation files). Descriptions are cached the same way
(``<cache>/<dataset>-desc-<key>/description.csv``) because annotation parsing
of long Holter records is slow. The key hashes the content of every file the
dataset depends on, so an edited label file or record rebuilds the entry.

Splits are not cached: on a hit, each window takes the split its
``record_id`` has in the (re)computed description, so record ids must be
unique within a dataset; :func:`prepare` refuses a description where they are
not (one id for two records would move windows between splits).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ecgshift.datasets.base import Dataset
from ecgshift.errors import BadInputError
from ecgshift.preprocess import HarmonizeConfig
from ecgshift.windows import Windows, concat_windows, window_record

__all__ = ["WindowSet", "Rejection", "PrepareResult", "dataset_key", "cached_description", "prepare", "load_windows"]

CACHE_VERSION = 1
WINDOW_COLUMNS = ("dataset", "record_id", "patient_id", "modality", "split", "label", "af_fraction", "start_s", "valid_fraction")


@dataclass(frozen=True)
class Rejection:
    """A record that gave no windows, and why (one line)."""

    path: str
    reason: str


@dataclass(frozen=True, eq=False)
class WindowSet:
    """Windows of many records: ``x`` (n × 1 × samples) and one table row per window."""

    x: np.ndarray
    table: pd.DataFrame
    config: HarmonizeConfig

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, mask: np.ndarray | pd.Series) -> "WindowSet":
        index = np.flatnonzero(np.asarray(mask))
        return WindowSet(x=self.x[index], table=self.table.iloc[index].reset_index(drop=True), config=self.config)

    def split(self, name: str) -> "WindowSet":
        return self.subset(self.table.split.to_numpy() == name)

    @staticmethod
    def concat(parts: list["WindowSet"]) -> "WindowSet":
        return WindowSet(
            x=np.concatenate([np.asarray(p.x) for p in parts]),
            table=pd.concat([p.table for p in parts], ignore_index=True),
            config=parts[0].config,
        )


@dataclass(frozen=True, eq=False)
class PrepareResult:
    windows: WindowSet
    rejected: list[Rejection]
    n_records: int
    built: bool  # False when loaded from the cache
    seconds: float
    path: Path
    notes: list[str] = field(default_factory=list)


def _file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes; a file that cannot be read (permissions) hashes as such, so the key still
    exists and the reader names the problem when the record is prepared."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        return f"unreadable:{exc.errno}"


def _code_digest() -> str:
    """Hash of the code that turns files into descriptions and windows: changing it rebuilds the cache."""
    package = Path(__file__).resolve().parent
    files = sorted([*package.glob("io/*.py"), *package.glob("datasets/*.py"), *(package / n for n in ("record.py", "preprocess.py", "windows.py", "leads.py"))])
    h = hashlib.sha256()
    for path in files:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def dataset_key(dataset: Dataset, config: HarmonizeConfig | None = None) -> str:
    """Hash of the content of every file the dataset depends on, its options, the reading code, and the config."""
    h = hashlib.sha256(f"v{CACHE_VERSION}|{_code_digest()}|{dataset.name}|{json.dumps(_options(dataset), sort_keys=True)}".encode())
    for path in dataset.files():
        h.update(f"{path.relative_to(dataset.root)}|{_file_digest(path)}\n".encode())
    if config is not None:
        h.update(config.digest().encode())
    return h.hexdigest()[:16]


def _options(dataset: Dataset) -> dict:
    return {k: str(v) for k, v in vars(dataset).items() if k != "root"}


def cached_description(dataset: Dataset, *, cache_dir: Path, key: str | None = None) -> pd.DataFrame:
    """``dataset.describe()``, computed once per content hash, with splits (always recomputed: they are cheap)."""
    key = key or dataset_key(dataset)
    path = Path(cache_dir) / f"{dataset.name}-desc-{key}" / "description.csv"
    if path.exists():
        dtypes = {"record_id": str, "patient_id": str, "path": str, "leads": str, "label": str, "problem": str}
        description = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
    else:
        description = dataset.describe()
        _atomic_write(path.parent, lambda tmp: description.to_csv(tmp / "description.csv", index=False))
    description["split"] = dataset.splits(description)
    return description


def _atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _window_one(args: tuple[Dataset, dict, HarmonizeConfig]) -> tuple[Windows | None, str | None, str | None]:
    """(windows, rejection reason, note) of one description row."""
    dataset, row, config = args
    try:
        record = dataset.read(pd.Series(row))
        note = record.meta.get("annotation_error")
        return window_record(record, config=config), None, (f"{note}: used without its annotations" if note else None)
    except BadInputError as exc:
        return None, str(exc), None
    except Exception as exc:  # a reader bug must not end a batch: report it as a rejection
        return None, f"{dataset.root / str(row.get('path'))}: unexpected {type(exc).__name__}: {exc}", None


def _check_unique_ids(dataset: Dataset, description: pd.DataFrame) -> None:
    """Windows find their split by ``record_id`` on a cache hit: two records with one id would merge."""
    repeated = description.record_id.astype(str)[description.record_id.astype(str).duplicated()].unique()
    if len(repeated):
        shown = ", ".join(repr(r) for r in repeated[:3]) + (" …" if len(repeated) > 3 else "")
        raise BadInputError(dataset.root, f"{len(repeated)} record ids are shared by several records ({shown}): their splits would mix")


def prepare(
    dataset: Dataset,
    *,
    config: HarmonizeConfig = HarmonizeConfig(),
    cache_dir: str | Path,
    on_record: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    rebuild: bool = False,
) -> PrepareResult:
    """Windows of every record of a dataset, from the cache when the key matches, else built and cached.

    Every record is accounted for: it gives windows or a :class:`Rejection` with its reason.
    """
    start = time.perf_counter()
    cache_dir = Path(cache_dir)
    if not dataset.has_waveforms:
        raise BadInputError(dataset.root, f"{dataset.name} has beat annotations only: no waveform windows to prepare")
    desc_key = dataset_key(dataset)
    key = hashlib.sha256(f"{desc_key}|{config.digest()}".encode()).hexdigest()[:16]
    entry = cache_dir / f"{dataset.name}-{key}"
    description = cached_description(dataset, cache_dir=cache_dir, key=desc_key)
    _check_unique_ids(dataset, description)
    notes = dataset.notes()
    if entry.exists() and not rebuild:
        windows, rejected = load_windows(entry)
        split_of = dict(zip(description.record_id.astype(str), description.split))
        windows.table["split"] = windows.table.record_id.astype(str).map(split_of)  # splits follow the code, not the cache
        record_notes = json.loads((entry / "meta.json").read_text()).get("notes", [])
        return PrepareResult(windows, rejected, len(description), False, time.perf_counter() - start, entry, [*notes, *record_notes])

    rows = description.to_dict("records")
    jobs = [(dataset, row, config) for row in rows]
    parts, tables, rejected, record_notes = [], [], [], []
    workers = workers or os.cpu_count() or 1
    results = _map(jobs, workers)
    for i, (row, (windows, error, note)) in enumerate(zip(rows, results)):
        if on_record:
            on_record(i + 1, len(rows))
        if error is not None:
            rejected.append(Rejection(path=str(dataset.root / str(row["path"])), reason=error))
            continue
        if note:
            record_notes.append(note)
        parts.append(windows)
        tables.append(_window_table(dataset, row, windows))
    all_windows = concat_windows(parts, config=config)
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=WINDOW_COLUMNS)
    window_set = WindowSet(x=all_windows.x, table=table, config=config)

    def write(tmp: Path) -> None:
        np.save(tmp / "x.npy", all_windows.x)
        table.to_csv(tmp / "windows.csv", index=False)
        pd.DataFrame([r.__dict__ for r in rejected], columns=["path", "reason"]).to_csv(tmp / "rejected.csv", index=False)
        meta = {"dataset": dataset.name, "key": key, "config": config.to_dict(), "n_records": len(rows), "n_windows": len(table),
                "notes": record_notes}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))

    _atomic_write(entry, write)
    return PrepareResult(window_set, rejected, len(rows), True, time.perf_counter() - start, entry, [*notes, *record_notes])


def _map(jobs: list, workers: int):
    if workers <= 1 or len(jobs) < 32:
        return [_window_one(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_window_one, jobs, chunksize=64))


def _window_table(dataset: Dataset, row: dict, windows: Windows) -> pd.DataFrame:
    n = len(windows)
    return pd.DataFrame({
        "dataset": dataset.name,
        "record_id": str(row["record_id"]),
        "patient_id": row.get("patient_id") if isinstance(row.get("patient_id"), str) else "",
        "modality": row.get("modality", dataset.modality),
        "split": row["split"],
        "label": windows.label,
        "af_fraction": windows.af_fraction,
        "start_s": windows.start_s,
        "valid_fraction": windows.valid_fraction,
    }, index=range(n))


def load_windows(entry: str | Path) -> tuple[WindowSet, list[Rejection]]:
    """A cache entry written by :func:`prepare` (``x`` memory-mapped, no pickle)."""
    entry = Path(entry)
    meta = json.loads((entry / "meta.json").read_text())
    x = np.load(entry / "x.npy", mmap_mode="r", allow_pickle=False)
    table = pd.read_csv(entry / "windows.csv", dtype={"record_id": str, "patient_id": str, "label": str}, keep_default_na=False, na_values=[""])
    table["label"] = table["label"].fillna("")
    table["patient_id"] = table["patient_id"].fillna("")
    rejected_table = pd.read_csv(entry / "rejected.csv", dtype=str, keep_default_na=False)
    rejected = [Rejection(r.path, r.reason) for r in rejected_table.itertuples(index=False)]
    return WindowSet(x=x, table=table, config=HarmonizeConfig.from_dict(meta["config"])), rejected
