"""Which format a file is in, from its first bytes, where formats share an extension.

Each function reads at most :data:`HEAD_BYTES` and never raises: a file that
cannot be opened is claimed by no sniffer (its reader then names the problem).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = [
    "HEAD_BYTES", "ISHNE_MAGIC", "APPLE_KEYS", "POLAR_HEADER", "head", "xml_root", "is_apple_csv", "is_polar_txt",
    "is_aecg_xml", "is_muse_xml", "is_ishne", "what_it_is_not",
]

HEAD_BYTES = 4096
ISHNE_MAGIC = b"ISHNE1.0"
#: The header line of a Polar Sensor Logger ECG export (semicolon-separated).
POLAR_HEADER = "Phone timestamp;sensor timestamp [ns];timestamp [ms];ecg [uV]"
_TAG = re.compile(rb"\s*<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")
_SKIP = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(\[.*?\])?\s*>)", re.DOTALL)


def head(path: str | Path, size: int = HEAD_BYTES) -> bytes:
    """The file's first ``size`` bytes (empty when it cannot be read)."""
    try:
        with Path(path).open("rb") as f:
            return f.read(size)
    except OSError:
        return b""


def _lines(path: str | Path, count: int) -> list[str]:
    text = head(path).decode("utf-8-sig", errors="replace")
    return [line.strip() for line in text.splitlines()[:count]]


def xml_root(path: str | Path) -> str | None:
    """The local name of the first element (after the declaration, comments and DOCTYPE), or None."""
    data = head(path)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    position = 0
    while True:
        skipped = _SKIP.match(data, position)
        if not skipped:
            break
        position = skipped.end()
    match = _TAG.match(data, position)
    return match.group(2).decode("ascii", errors="replace") if match else None


def is_aecg_xml(path: str | Path) -> bool:
    """An HL7 v3 annotated ECG: root element ``AnnotatedECG``."""
    return xml_root(path) == "AnnotatedECG"


def is_muse_xml(path: str | Path) -> bool:
    """A GE MUSE export: root element ``RestingECG``."""
    return xml_root(path) == "RestingECG"


#: The metadata keys of an Apple Health ECG export (English), two of which mark the file as one.
APPLE_KEYS = frozenset({"name", "date of birth", "recorded date", "classification", "symptoms", "software version",
                        "device", "sample rate", "lead", "unit"})


def is_apple_csv(path: str | Path) -> bool:
    """An Apple Health ECG export: metadata lines (``Name,…``, ``Recorded Date,…``, ``Sample Rate,…``) before the
    samples; two of the known keys among the first 15 non-blank lines suffice (the reader then checks the rest)."""
    lines = [line for line in _lines(path, 40) if line]
    keys = {line.split(",", 1)[0].strip().strip('"').lower() for line in lines[:15]}
    return len(keys & APPLE_KEYS) >= 2


def is_polar_txt(path: str | Path) -> bool:
    """A Polar H10 ECG export: a semicolon header with a timestamp column and an ``ecg [uV]`` column."""
    lines = _lines(path, 1)
    if not lines:
        return False
    cells = [c.strip().lower() for c in lines[0].split(";")]
    return any(c.startswith("ecg") for c in cells) and any("timestamp" in c for c in cells)


def is_ishne(path: str | Path) -> bool:
    """An ISHNE Holter ECG file: the magic ``ISHNE1.0``."""
    return head(path, len(ISHNE_MAGIC)) == ISHNE_MAGIC


def what_it_is_not(path: str | Path, readers: list[str]) -> str:
    """One clause saying which of the sharing formats a file is not (for the 'unknown file type' error)."""
    if set(readers) >= {"aecg", "muse"}:
        root = xml_root(path)
        found = f"root element <{root}>" if root else "no XML element found"
        return f"neither HL7 aECG (<AnnotatedECG>) nor GE MUSE (<RestingECG>) XML ({found})"
    if "polar_txt" in readers:
        return f"not a Polar H10 ECG export (first line {POLAR_HEADER!r})"
    return "no reader recognises its content (" + ", ".join(readers) + ")"
