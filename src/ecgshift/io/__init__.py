"""Readers: one format per module, each returning a :class:`~ecgshift.record.Record`.

``read(path)`` picks the reader by file extension (exact match in
:data:`READERS`); ``info(path)`` reads only the header, for chunked reading of
long recordings with ``read(path, start_s=..., end_s=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from ecgshift.errors import NO_ECG_SIGNAL, BadInputError
from ecgshift.io.info import RecordInfo
from ecgshift.record import Record

__all__ = ["READERS", "Reader", "RecordInfo", "read", "info", "reader_for", "is_readable", "stores_fs"]


@dataclass(frozen=True)
class Reader:
    """A format: its file extensions, the module implementing it, and its functions' names there."""

    name: str
    extensions: tuple[str, ...]
    module: str
    read_fn: str
    info_fn: str
    needs_fs: bool = False

    def load(self, which: str):
        return getattr(import_module(self.module), which)


READERS: dict[str, Reader] = {
    reader.name: reader
    for reader in (
        Reader("wfdb", (".hea", ".dat", ".mat", ".atr", ""), "ecgshift.io.wfdb", "read_wfdb", "wfdb_info"),
        Reader("edf", (".edf",), "ecgshift.io.edf", "read_edf", "edf_info"),
        Reader("csv", (".csv",), "ecgshift.io.csv", "read_csv", "csv_info", needs_fs=True),
    )
}
_BY_EXTENSION = {ext: reader for reader in READERS.values() for ext in reader.extensions}


def reader_for(path: str | Path) -> Reader:
    """The reader of a path, by its extension; a record name without extension is WFDB when ``name.hea`` exists."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == "" or ext not in _BY_EXTENSION:
        if path.with_name(path.name + ".hea").exists() or Path(f"{path}.hea").exists():
            return READERS["wfdb"]
        if ext == "":
            raise BadInputError(path, "no file extension and no WFDB header beside it")
        known = ", ".join(sorted(e for e in _BY_EXTENSION if e))
        raise BadInputError(path, f"unknown file type {ext!r} (readable: {known})")
    reader = _BY_EXTENSION[ext]
    if reader.name == "wfdb" and not path.with_suffix(".hea").exists():
        if ext == ".hea" or not path.exists():
            raise BadInputError(path, "file not found")
        raise BadInputError(path, f"a {ext} file needs its WFDB header {path.with_suffix('.hea').name} beside it")
    return reader


def stores_fs(path: str | Path) -> bool:
    """Whether the file's format records its sampling rate (WFDB, EDF headers), rather than taking it from
    the caller (CSV's ``fs``); False for a path no reader takes."""
    try:
        return not reader_for(path).needs_fs
    except BadInputError:
        return False


def is_readable(path: str | Path) -> bool:
    """Whether ``read`` would try this path (by extension), without reading it."""
    try:
        reader_for(path)
    except BadInputError:
        return False
    return True


def read(
    path: str | Path,
    *,
    fs: float | None = None,
    modality: str = "unknown",
    start_s: float = 0.0,
    end_s: float | None = None,
    allow_nan: bool = False,
) -> Record:
    """Read any supported recording (or ``[start_s, end_s)`` of it).

    ``fs`` (Hz) is required for formats that do not store it (CSV) and ignored otherwise.
    """
    path = Path(path)
    reader = reader_for(path)
    if not path.exists() and reader.name != "wfdb":
        raise BadInputError(path, "file not found")
    kwargs = dict(start_s=start_s, end_s=end_s, modality=modality, allow_nan=allow_nan)
    if reader.needs_fs:
        if fs is None:
            raise BadInputError(path, f"{reader.name} files do not store the sampling rate: give fs")
        kwargs["fs"] = fs
    return reader.load(reader.read_fn)(path, **kwargs)


def info(path: str | Path, *, fs: float | None = None, require_signal: bool = False) -> RecordInfo:
    """Header facts (fs, length, leads) without reading the samples; with ``require_signal``, a record
    that lists no signal (beat annotations only) is a :class:`BadInputError`."""
    path = Path(path)
    reader = reader_for(path)
    if reader.needs_fs:
        if fs is None:
            raise BadInputError(path, f"{reader.name} files do not store the sampling rate: give fs")
        meta = reader.load(reader.info_fn)(path, fs=fs)
    else:
        meta = reader.load(reader.info_fn)(path)
    if require_signal and not meta.leads:
        raise BadInputError(path, NO_ECG_SIGNAL)
    return meta
