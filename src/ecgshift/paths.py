"""Where data and caches live: an explicit argument, else an environment variable, else a default."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_root", "cache_root"]


def data_root(path: str | Path | None = None) -> Path:
    """``path``, else ``$ECGSHIFT_DATA``, else ``./data``."""
    return Path(path or os.environ.get("ECGSHIFT_DATA") or "data")


def cache_root(path: str | Path | None = None) -> Path:
    """``path``, else ``$ECGSHIFT_CACHE``, else ``$XDG_CACHE_HOME/ecgshift`` (``~/.cache/ecgshift``)."""
    if path or os.environ.get("ECGSHIFT_CACHE"):
        return Path(path or os.environ["ECGSHIFT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ecgshift"
