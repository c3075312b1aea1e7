"""What a reader can tell about a recording without reading its samples."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RecordInfo"]


@dataclass(frozen=True)
class RecordInfo:
    """Header facts of one recording: enough to plan a chunked read."""

    path: str
    record_id: str
    fs: float
    n_samples: int
    leads: tuple[str, ...]
    reader: str

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs
