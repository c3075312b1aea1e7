"""Errors that reach users: one line, naming the file and the problem, with a reason code callers branch on.

Callers decide by :attr:`BadInputError.code` (one of :data:`REASON_CODES`), never by the message text.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EcgShiftError", "BadInputError", "AnnotationError", "ModelFileError", "UnknownNameError", "NO_ECG_SIGNAL",
           "REASON_CODES", "UNREADABLE", "FLAT", "GAP", "NO_SIGNAL"]

#: The problem of a record that lists no signal (e.g. an NSR2DB header: beat annotations only).
NO_ECG_SIGNAL = "no ECG signal in the record (annotations only?)"

#: Reason codes of :class:`BadInputError`: what kind of problem, for callers that treat kinds differently
#: (e.g. a Holter chunk that is flat or all-NaN is unanalysable time, an unreadable one is a read failure).
UNREADABLE, FLAT, GAP, NO_SIGNAL = "unreadable", "flat", "gap", "no_signal"
REASON_CODES = (UNREADABLE, FLAT, GAP, NO_SIGNAL)


class EcgShiftError(Exception):
    """Base class of every error ecgshift raises on purpose."""


class BadInputError(EcgShiftError):
    """An input file that cannot be read or used; ``str()`` is ``"<path>: <problem>"``; ``code`` says what kind."""

    def __init__(self, path: str | Path | None, problem: str, *, code: str = UNREADABLE) -> None:
        if code not in REASON_CODES:
            raise ValueError(f"unknown reason code {code!r}; known: {', '.join(REASON_CODES)}")
        self.path = None if path is None else str(path)
        self.problem = " ".join(str(problem).split())  # always one line
        self.code = code
        super().__init__(self.problem if self.path is None else f"{self.path}: {self.problem}")

    def reason_for(self, path: str | Path) -> str:
        """The problem as a status reason for ``path``: without the path when it names that file, else whole."""
        return self.problem if self.path in (None, str(path)) else str(self)


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


class UnknownNameError(EcgShiftError, KeyError):
    """A name that no registry holds (model, preset, dataset, reader …); the message lists what exists.

    Both a ``KeyError`` (it is a failed lookup) and an :class:`EcgShiftError` (the CLI shows it as one line)."""

    def __init__(self, kind: str, name: str, known) -> None:
        self.kind, self.name, self.known = kind, name, tuple(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError.__str__ would quote the message
        return str(self.args[0])
