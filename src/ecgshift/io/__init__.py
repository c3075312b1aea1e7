"""Readers: one format per module, each returning a :class:`~ecgshift.record.Record`.

``read(path)`` picks the reader by file extension (exact match in
:data:`READERS`); where formats share an extension (``.csv``: plain CSV or an
Apple Health ECG export; ``.xml``: HL7 aECG or GE MUSE; ``.ecg``: ISHNE Holter
or a WFDB annotation file), the first bytes decide (:mod:`ecgshift.io.sniff`).
``info(path)`` reads only the header, for chunked reading of long recordings
with ``read(path, start_s=..., end_s=...)``. ``channel="II"`` reads one channel
by name instead of every ECG channel (:mod:`ecgshift.io.channels`). Supported
formats and devices: ``docs/formats.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from ecgshift.errors import NO_ECG_SIGNAL, NO_SIGNAL, BadInputError
from ecgshift.io import sniff
from ecgshift.io.info import RecordInfo
from ecgshift.record import Record, RhythmInterval

__all__ = [
    "READERS", "Reader", "RecordInfo", "read", "info", "reader_for", "is_readable", "stands_for_recording", "stores_fs",
    "read_annotations",
]


@dataclass(frozen=True)
class Reader:
    """A format: its file extensions, the module implementing it, and its functions' names there.

    ``sniff``: the name of a function in :mod:`ecgshift.io.sniff` telling from a file's first bytes
    whether it is in this format; needed where readers share an extension (the one without is the
    extension's default).
    """

    name: str
    extensions: tuple[str, ...]
    module: str
    read_fn: str
    info_fn: str
    needs_fs: bool = False
    sniff: str | None = None

    def load(self, which: str):
        return getattr(import_module(self.module), which)


READERS: dict[str, Reader] = {
    reader.name: reader
    for reader in (
        Reader("wfdb", (".hea", ".dat", ".mat", ".atr", ""), "ecgshift.io.wfdb", "read_wfdb", "wfdb_info"),
        Reader("edf", (".edf",), "ecgshift.io.edf", "read_edf", "edf_info"),
        Reader("apple_csv", (".csv",), "ecgshift.io.apple", "read_apple", "apple_info", sniff="is_apple_csv"),
        Reader("csv", (".csv",), "ecgshift.io.csv", "read_csv", "csv_info", needs_fs=True),
        Reader("polar_txt", (".txt",), "ecgshift.io.polar", "read_polar", "polar_info", sniff="is_polar_txt"),
        Reader("dicom", (".dcm",), "ecgshift.io.dicom", "read_dicom", "dicom_info"),
        Reader("aecg", (".xml",), "ecgshift.io.aecg", "read_aecg", "aecg_info", sniff="is_aecg_xml"),
        Reader("muse", (".xml",), "ecgshift.io.muse", "read_muse", "muse_info", sniff="is_muse_xml"),
        Reader("ishne", (".ecg",), "ecgshift.io.ishne", "read_ishne", "ishne_info"),
    )
}
_BY_EXTENSION: dict[str, list[Reader]] = {}
for _reader in READERS.values():
    for _ext in _reader.extensions:
        _BY_EXTENSION.setdefault(_ext, []).append(_reader)
del _reader, _ext


def reader_for(path: str | Path) -> Reader:
    """The reader of a path, by its extension (and, where formats share one, the file's first bytes:
    :mod:`ecgshift.io.sniff`); a record name without extension is WFDB when ``name.hea`` exists."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".ecg" and path.with_suffix(".hea").exists() and not sniff.is_ishne(path):
        return READERS["wfdb"]  # a WFDB beat-annotation file (NSR2DB's .ecg), not an ISHNE Holter
    if ext == "" or ext not in _BY_EXTENSION:
        if path.with_name(path.name + ".hea").exists() or Path(f"{path}.hea").exists():
            return READERS["wfdb"]
        if ext == "":
            raise BadInputError(path, "no file extension and no WFDB header beside it")
        known = ", ".join(sorted(e for e in _BY_EXTENSION if e))
        raise BadInputError(path, f"unknown file type {ext!r} (readable: {known})")
    candidates = _BY_EXTENSION[ext]
    reader = candidates[0] if len(candidates) == 1 and candidates[0].sniff is None else _sniffed(path, ext, candidates)
    if reader.name == "wfdb" and not path.with_suffix(".hea").exists():
        if ext == ".hea" or not path.exists():
            raise BadInputError(path, "file not found")
        raise BadInputError(path, f"a {ext} file needs its WFDB header {path.with_suffix('.hea').name} beside it")
    return reader


def _sniffed(path: Path, ext: str, candidates: list[Reader]) -> Reader:
    """Among readers sharing an extension: the one whose sniffer claims the file, else the default."""
    for reader in candidates:
        if reader.sniff is not None and getattr(sniff, reader.sniff)(path):
            return reader
    defaults = [r for r in candidates if r.sniff is None]
    if defaults:
        return defaults[0]
    raise BadInputError(path, f"unknown file type {ext!r}: {sniff.what_it_is_not(path, [r.name for r in candidates])}")


def stores_fs(path: str | Path) -> bool:
    """Whether the file's format records its sampling rate (WFDB, EDF, DICOM … headers; an Apple export's
    'Sample Rate'; Polar's timestamps), rather than taking it from the caller (plain CSV's ``fs``); False for a
    path no reader takes."""
    try:
        return not reader_for(path).needs_fs
    except BadInputError:
        return False


def is_readable(path: str | Path) -> bool:
    """Whether ``read`` would try this path (by extension, and the first bytes where formats share one),
    without reading it."""
    try:
        reader_for(path)
    except BadInputError:
        return False
    return True


def stands_for_recording(path: str | Path) -> bool:
    """Whether a file found in a folder stands for one recording: a WFDB header (not its .dat/.mat/.atr, nor a
    WFDB annotation file named .ecg), or a file another reader takes by extension and content (an .xml that is
    aECG or MUSE, a .txt that is a Polar export, a .ecg that is ISHNE …). For folder searches."""
    path = Path(path)
    if path.suffix.lower() == ".hea":
        return True
    try:
        reader = reader_for(path)
    except BadInputError:
        return False
    return reader.name != "wfdb" and path.is_file()


def read(
    path: str | Path,
    *,
    fs: float | None = None,
    modality: str = "unknown",
    start_s: float = 0.0,
    end_s: float | None = None,
    allow_nan: bool = False,
    channel: str | None = None,
    annotations: bool = True,
) -> Record:
    """Read the ECG channels of any supported recording (or ``[start_s, end_s)`` of them).

    ``fs`` (Hz) is required for formats that do not store it (plain CSV) and ignored otherwise.
    ``channel``: read only the channel of this exact name (or canonical lead name) instead of every
    ECG channel; an absent name is a :class:`BadInputError` listing the names. ``annotations=False``
    skips a WFDB record's annotation file (beats, rhythms): e.g. for the chunks of a long recording, whose
    annotations are read once (:func:`read_annotations`).
    """
    path = Path(path)
    reader = reader_for(path)
    if not path.exists() and reader.name != "wfdb":
        raise BadInputError(path, "file not found")
    kwargs = dict(start_s=start_s, end_s=end_s, modality=modality, allow_nan=allow_nan, channel=channel)
    if reader.name == "wfdb" and not annotations:
        kwargs["annotation"] = None
    if reader.needs_fs:
        if fs is None:
            raise BadInputError(path, f"{reader.name} files do not store the sampling rate: give fs")
        kwargs["fs"] = fs
    return reader.load(reader.read_fn)(path, **kwargs)


def info(
    path: str | Path, *, fs: float | None = None, require_signal: bool = False, channel: str | None = None
) -> RecordInfo:
    """Header facts (fs, length, the ECG leads ``read`` returns with the same ``channel``) without reading
    the samples; with ``require_signal``, a record that lists no signal (beat annotations only) is a
    :class:`BadInputError`."""
    path = Path(path)
    reader = reader_for(path)
    if not path.exists() and reader.name != "wfdb":
        raise BadInputError(path, "file not found")
    if reader.needs_fs:
        if fs is None:
            raise BadInputError(path, f"{reader.name} files do not store the sampling rate: give fs")
        meta = reader.load(reader.info_fn)(path, fs=fs, channel=channel)
    else:
        meta = reader.load(reader.info_fn)(path, channel=channel)
    if require_signal and not meta.leads:
        raise BadInputError(path, NO_ECG_SIGNAL, code=NO_SIGNAL)
    return meta


def read_annotations(path: str | Path, *, extension: str = "auto", fs: float, duration_s: float) -> tuple[RhythmInterval, ...]:
    """The rhythm intervals of a recording's annotation file: a WFDB record's ``<record>.<extension>`` (``"auto"``:
    the first of atr, ecg, qrs that exists; none → no intervals). Only WFDB records have annotation files; EDF+
    rhythm annotations come with :func:`read`."""
    path = Path(path)
    reader = reader_for(path)
    if reader.name != "wfdb":
        if extension != "auto":
            raise BadInputError(path, f"reference annotations ({extension}) need a WFDB record")
        return ()
    from ecgshift.io.annotations import read_annotations as read_wfdb_annotations
    from ecgshift.io.wfdb import annotation_extension, record_base

    base = record_base(path)
    ext = annotation_extension(base, extension)
    if ext is None:
        return ()
    return read_wfdb_annotations(base, ext, fs=fs, end_s=duration_s)[1]
