"""Wall-clock times of a recording's moments: ``start_time`` (the clock time of its first sample, as the file states
it; :attr:`ecgshift.record.Record.start_time`) plus seconds from the start.

Every output keeps elapsed seconds; a recording with a start time also gets clock times (ISO 8601, to the second,
with the file's UTC offset when it gives one). Without a start time the clock fields are empty (``""`` / None).
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["clock_time", "clock_text", "clock_texts"]


def clock_time(start_time: datetime | None, offset_s: float) -> datetime | None:
    """The clock time ``offset_s`` seconds after ``start_time`` (None without a start time or offset)."""
    if start_time is None or offset_s is None or offset_s != offset_s:
        return None
    return start_time + timedelta(seconds=float(offset_s))


def clock_text(start_time: datetime | None, offset_s: float = 0.0) -> str:
    """``clock_time`` as ISO 8601 text (``2026-12-01T10:30:05``; milliseconds when the time has a fraction), '' without
    a start time.

    >>> clock_text(datetime(2026, 12, 1, 23, 59, 50), 15)
    '2026-12-02T00:00:05'
    >>> clock_text(None, 15)
    ''
    """
    t = clock_time(start_time, offset_s)
    if t is None:
        return ""
    return t.isoformat(timespec="milliseconds" if t.microsecond else "seconds")


def clock_texts(start_time: datetime | None, offsets_s) -> list[str]:
    """:func:`clock_text` of every offset."""
    return [clock_text(start_time, s) for s in offsets_s]
