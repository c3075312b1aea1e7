"""One status vocabulary for every batch command (predict, holter, data prepare, sweep).

Each input ends ``done``, ``rejected: <reason>`` (bad input, in the user's terms) or ``error: <reason>``
(an unexpected failure: reported, and the batch goes on); a window that was not analysed is
``excluded: <reason>``. Problems that did not stop an input are joined by :data:`PROBLEM_SEPARATOR`.
"""

from __future__ import annotations

__all__ = ["DONE", "REJECTED", "ERROR", "EXCLUDED", "PROBLEM_SEPARATOR", "status", "status_kind", "join_problems"]

DONE, REJECTED, ERROR, EXCLUDED = "done", "rejected", "error", "excluded"
PROBLEM_SEPARATOR = "; "


def status(kind: str, reason: str = "") -> str:
    """``"done"``, or ``"<kind>: <reason>"`` for the other kinds."""
    if kind not in (DONE, REJECTED, ERROR, EXCLUDED):
        raise ValueError(f"unknown status {kind!r}")
    if kind == DONE:
        return DONE
    return f"{kind}: {' '.join(str(reason).split())}"


def status_kind(text: str) -> str:
    """The kind of a status written by :func:`status` (``done``, ``rejected``, ``error``, ``excluded``)."""
    return str(text).split(":", 1)[0]


def join_problems(problems) -> str:
    return PROBLEM_SEPARATOR.join(problems)
