"""What a reader can tell about a recording without reading its samples."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["RecordInfo"]


@dataclass(frozen=True)
class RecordInfo:
    """Header facts of one recording: enough to plan a chunked read.

    ``leads`` are the ECG leads a read returns (non-ECG channels are left out and named in
    ``notes``); ``start_time`` as in :class:`~ecgshift.record.Record`.
    """

    path: str
    record_id: str
    fs: float
    n_samples: int
    leads: tuple[str, ...]
    reader: str
    notes: tuple[str, ...] = ()
    start_time: datetime | None = None

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs
