"""Datasets: one public dataset per module, each a registered :class:`Dataset`.

``load_dataset(name, data_root=...)`` finds the dataset's folder under a data
root and returns the Dataset; ``describe()`` gives one row per record.
"""

from __future__ import annotations

from pathlib import Path

from ecgshift.datasets import afdb, afpdb, aftdb, cinc2017, folder, mitdb, ptbxl, rr_only  # noqa: F401  (registers)
from ecgshift.datasets.base import DATASETS, DESCRIPTION_COLUMNS, Dataset, dataset_class, find_root, register_dataset
from ecgshift.datasets.afdb import AFDB
from ecgshift.datasets.afpdb import AFPDB
from ecgshift.datasets.aftdb import AFTDB
from ecgshift.datasets.cinc2017 import CinC2017
from ecgshift.datasets.folder import Folder
from ecgshift.datasets.mitdb import MITDB
from ecgshift.datasets.ptbxl import PTBXL
from ecgshift.datasets.rr_only import LTAFDB, NSR2DB
from ecgshift.paths import data_root as _data_root

__all__ = [
    "DATASETS",
    "DESCRIPTION_COLUMNS",
    "PUBLIC_DATASETS",
    "TRAINING_DATASETS",
    "EVALUATION_DATASETS",
    "Dataset",
    "CinC2017",
    "PTBXL",
    "MITDB",
    "LTAFDB",
    "NSR2DB",
    "AFTDB",
    "AFPDB",
    "AFDB",
    "Folder",
    "dataset_class",
    "find_root",
    "load_dataset",
    "register_dataset",
]

#: The datasets the shipped training recipe draws from (one per modality: ``ecgshift.mixing.MODALITY_DATASETS``).
TRAINING_DATASETS = ("cinc2017", "ptbxl", "mitdb")
#: Public datasets that no default recipe trains on: annotation-only RR sets (the RR detector's) and the
#: Holter sets added for generalization checks (aftdb, afpdb), unseen by the shipped model. A training run
#: includes one only when asked by name (``benchmarks/generalization.py --train-lodo``).
EVALUATION_DATASETS = ("ltafdb", "nsr2db", "aftdb", "afpdb", "afdb")
#: The public datasets found under a data root by ``data summary`` and ``data prepare`` (``folder`` takes an explicit path).
PUBLIC_DATASETS = TRAINING_DATASETS + EVALUATION_DATASETS


def load_dataset(name: str, *, data_root: str | Path | None = None, **options) -> Dataset:
    """The dataset ``name`` under ``data_root`` (``--data-root``, ``$ECGSHIFT_DATA``, ``./data``)."""
    cls = dataset_class(name)
    root = _data_root(data_root)
    if name == "folder":
        return cls(root, **options)
    return cls(find_root(root, name), **options)
