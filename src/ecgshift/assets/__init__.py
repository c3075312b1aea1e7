"""Files shipped inside the package: sample recordings and the default model."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["sample_folder", "asset_path"]


def asset_path(*parts: str) -> Path:
    """Path of a packaged asset (the package is installed as files, not zipped)."""
    return Path(str(resources.files("ecgshift.assets").joinpath(*parts)))


def sample_folder() -> Path:
    """The bundled real recordings (a few per modality, from the public test splits) with their manifest.csv."""
    return asset_path("samples")
