"""Tiny real WindowSets from the recordings bundled with ecgshift, and a tiny training config.

Shared by test_training_predict.py and test_cli_predict.py (not a test module itself).
Every modality gets AF and SR windows in both the ``train`` and the ``val`` split:

- tECG (CinC 2017) and rECG (PTB-XL): record-level labels from the samples' manifest.csv,
  one AF and one SR record per split;
- hECG (MIT-BIH 5-min excerpts): window labels from the .atr rhythm annotations; the AF
  windows of record 221 train and those of 219 validate; the SR windows of 116 are split
  by time (first two thirds train, last third validate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift import io
from ecgshift.assets import sample_folder
from ecgshift.cache import WindowSet
from ecgshift.preprocess import HarmonizeConfig
from ecgshift.training import TrainConfig
from ecgshift.windows import window_record

SAMPLES = sample_folder()
CONFIG = HarmonizeConfig()

#: (manifest path, split) of the records with a record-level label.
LABELLED_SPLITS = {
    "tecg/A00005.hea": "train",  # AF
    "tecg/A00002.hea": "train",  # SR
    "tecg/A00087.hea": "val",  # AF
    "tecg/A00011.hea": "val",  # SR
    "recg/00318_lr.hea": "train",  # AF
    "recg/00009_lr.hea": "train",  # SR
    "recg/00452_lr.hea": "val",  # AF
    "recg/00038_lr.hea": "val",  # SR
}
HOLTER_SPLITS = {"hecg/mitdb219_330s.hea": "train", "hecg/mitdb202_1000s.hea": "val", "hecg/mitdb116_0s.hea": "by_time"}


def manifest() -> pd.DataFrame:
    return pd.read_csv(SAMPLES / "manifest.csv", dtype=str, keep_default_na=False)


def sample_window_sets(config: HarmonizeConfig = CONFIG) -> dict[str, WindowSet]:
    """AF and SR windows per modality, with the columns training uses (label, split, record_id, modality)."""
    table = manifest()
    labels = dict(zip(table.path, table.label))
    parts: dict[str, list[tuple[np.ndarray, pd.DataFrame]]] = {}
    for path, split in {**LABELLED_SPLITS, **HOLTER_SPLITS}.items():
        modality = path.split("/")[0]
        record = io.read(SAMPLES / path, modality=modality)
        windows = window_record(record, config=config)
        label = windows.label if modality == "hecg" else np.full(len(windows), labels[path])
        if split == "by_time":
            split_of = np.where(np.arange(len(windows)) < 2 * len(windows) // 3, "train", "val")
        else:
            split_of = np.full(len(windows), split)
        table = pd.DataFrame({
            "dataset": "samples",
            "record_id": record.record_id,
            "patient_id": "",
            "modality": modality,
            "split": split_of,
            "label": label,
            "start_s": windows.start_s,
        })
        keep = np.isin(label, ["AF", "SR"])
        parts.setdefault(modality, []).append((windows.x[keep], table[keep]))
    return {
        m: WindowSet(x=np.concatenate([x for x, _ in p]), table=pd.concat([t for _, t in p], ignore_index=True), config=config)
        for m, p in parts.items()
    }


TINY_KWARGS = {"dropout": 0.3, "dropout_placement": "head", "width": 8}


def tiny_config(**changes) -> TrainConfig:
    """A few seconds of training: 64 windows, 2 epochs, batches of 16."""
    base = dict(mix={"tecg": 0.5, "recg": 0.2, "hecg": 0.3}, budget=64, epochs=2, patience=2, batch_size=16, seed=0, model_kwargs=dict(TINY_KWARGS))
    return TrainConfig(**{**base, **changes})


def train_tiny(run_dir: Path, sets: dict[str, WindowSet] | None = None, **changes) -> Path:
    from ecgshift.training import fit

    fit(tiny_config(**changes), sets if sets is not None else sample_window_sets(), run_dir=run_dir)
    return run_dir
