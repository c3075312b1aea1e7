"""Checks of a WFDB header's text before ``wfdb`` parses it, so a malformed header gets a reason in the user's terms.

``wfdb.rdheader`` reads headers as ASCII and drops every other byte (``récord.dat``
becomes ``rcord.dat``), substitutes 250 Hz for a sampling rate it cannot parse
(``-1``, ``nan``, ``abc``, or none at all), and fails with ``IndexError``,
``KeyError`` or ``TypeError`` on other malformed lines. :func:`check_header_text`
finds those cases first, from the record line and the signal lines as the WFDB
header format defines them (https://physionet.org/physiotools/wag/header-5.htm).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from ecgshift.errors import BadInputError

__all__ = ["WFDB_FORMATS", "check_header_text"]

#: Signal file formats WFDB defines (``wfdb.io._signal.DAT_FMTS``).
WFDB_FORMATS = ("8", "16", "24", "32", "61", "80", "160", "212", "310", "311", "508", "516", "524")
_FORMAT_FIELD = re.compile(r"(\d+)(x\d+)?(:\d+)?(\+\d+)?$")
def _lines(hea: Path) -> list[str]:
    try:
        data = hea.read_bytes()
    except OSError as exc:
        raise BadInputError(hea, f"header file cannot be read ({exc.strerror or 'input/output error'})") from None
    if b"\x00" in data or sum(b < 9 or 13 < b < 32 for b in data[:4096]) > 4:
        raise BadInputError(hea, "not a WFDB header: the file holds binary data, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def check_header_text(hea: Path) -> None:
    """Raise a one-line :class:`BadInputError` for a header that ``wfdb`` would misread or fail on."""
    lines = _lines(hea)
    if not lines:
        raise BadInputError(hea, "empty WFDB header: no record line")
    fields = lines[0].split()
    name = fields[0]
    if len(fields) < 2 or not fields[1].isdigit():
        raise BadInputError(
            hea, f"unreadable WFDB header: the first line {lines[0][:40]!r} is not a record line (record name, number of signals, sampling rate …)"
        )
    n_sig = int(fields[1])
    if len(fields) < 3:
        raise BadInputError(hea, "header gives no sampling rate (WFDB would assume 250 Hz): add it to the record line")
    rate = fields[2].split("/")[0]
    try:
        fs = float(rate)
    except ValueError:
        raise BadInputError(hea, f"header gives sampling rate {rate[:20]!r}: must be a positive number") from None
    if not math.isfinite(fs) or fs <= 0:
        raise BadInputError(hea, f"header gives sampling rate {rate[:20]} Hz: must be a positive number")
    if not re.fullmatch(r"\d*\.?\d*", rate):
        raise BadInputError(hea, f"header gives sampling rate {rate[:20]!r}: WFDB reads it only as a plain decimal number (e.g. 360)")
    length = fields[3] if len(fields) > 3 and ":" not in fields[3] else None
    if length is not None and not length.isdigit():
        raise BadInputError(hea, f"header gives {length[:20]!r} samples per signal: must be a whole number")
    if "/" in name:
        return  # a multi-segment record: its lines name segments, not signals
    if n_sig and length is None:
        raise BadInputError(hea, "header gives no number of samples per signal (the record line's fourth field)")
    if n_sig and int(length) == 0:
        raise BadInputError(hea, "zero-length record (the header gives 0 samples)")
    signal_lines = lines[1:]
    if len(signal_lines) != n_sig:
        raise BadInputError(hea, f"header declares {n_sig} signal{'s' * (n_sig != 1)} but describes {len(signal_lines)}")
    for i, line in enumerate(signal_lines, 1):
        fields = line.split()
        file_name = fields[0]
        if not file_name.isascii():
            raise BadInputError(
                hea, f"signal file name {file_name!r} has characters a WFDB header cannot hold (ASCII only): rename the files"
            )
        if len(fields) < 2:
            raise BadInputError(hea, f"signal {i} gives no format (the signal line's second field)")
        match = _FORMAT_FIELD.match(fields[1])
        if not match:
            raise BadInputError(hea, f"signal {i} has format {fields[1][:20]!r}, which is not a WFDB format")
        if match.group(1) not in WFDB_FORMATS:
            raise BadInputError(hea, f"signal {i} has format {match.group(1)}, which WFDB does not define (known: {', '.join(WFDB_FORMATS)})")
