"""Errors that reach users: one line, naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

__all__ = ["EcgShiftError", "BadInputError", "AnnotationError", "ModelFileError", "NO_ECG_SIGNAL"]

#: The problem of a record that lists no signal (e.g. an NSR2DB header: beat annotations only).
NO_ECG_SIGNAL = "no ECG signal in the record (annotations only?)"


class EcgShiftError(Exception):
    """Base class of every error ecgshift raises on purpose."""


class BadInputError(EcgShiftError):
    """An input file that cannot be read or used; ``str()`` is ``"<path>: <problem>"``."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(self.problem if self.path is None else f"{self.path}: {self.problem}")


class AnnotationError(BadInputError):
    """A recording whose signal is fine but whose annotation file is not (truncated, corrupt).

    ``record`` is the recording read without annotations (no beats, no rhythm intervals), so a caller that
    can do without them catches this error and goes on with ``exc.record``, saying why in its notes; ``None``
    when there is no signal to fall back to.
    """

    def __init__(self, path: str | Path | None, problem: str, *, record=None) -> None:
        super().__init__(path, problem)
        self.record = record


class ModelFileError(BadInputError):
    """A model file that is missing, corrupted or not an ecgshift model."""
