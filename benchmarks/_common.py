"""Shared set-up for benchmark scripts: data root, cache, test windows per modality."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from ecgshift.mixing import load_modality_windows
from ecgshift.paths import cache_root
from ecgshift.predictor import OVERLAP_BELOW_S, prediction_windowing
from ecgshift.preprocess import HarmonizeConfig

REPO = Path(__file__).resolve().parents[1]


def default_data_root() -> Path:
    env = os.environ.get("ECGSHIFT_SHARED_DATA") or os.environ.get("ECGSHIFT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data-root", type=Path, default=default_data_root())
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--model", type=Path, default=None, help="run folder (default: the shipped model)")
    return p


def modality_windows(args, modalities=("tecg", "recg", "hecg"), labels=("SR", "AF"), config: HarmonizeConfig | None = None):
    """Windows of each modality's dataset with the given labels ('other': non-AF, non-sinus rhythms)."""
    return load_modality_windows(data_root=args.data_root, cache_dir=cache_root(args.cache_dir), modalities=modalities, labels=labels,
                                 config=config or HarmonizeConfig())


def predicted_windows(args, labels=("SR", "AF"), *, config: HarmonizeConfig | None = None, tecg_overlap: bool = True):
    """:func:`modality_windows` of all three modalities as the product predicts them: tECG records (all under 5 min)
    from half-overlapping windows (``ecgshift.predictor.prediction_windowing``), unless ``tecg_overlap`` is off."""
    config = config or HarmonizeConfig()
    tecg_config = prediction_windowing(config, duration_s=OVERLAP_BELOW_S / 2) if tecg_overlap else config
    return {**modality_windows(args, modalities=("tecg",), labels=labels, config=tecg_config),
            **modality_windows(args, modalities=("recg", "hecg"), labels=labels, config=config)}


def other_rhythm_specificity(p_af, table, modality: str) -> tuple[float, int]:
    """Share of 'other'-rhythm units called non-AF (tECG: records, by mean window p(AF); else windows), and their count."""
    other = table.label.to_numpy() == "other"
    if not other.any():
        return float("nan"), 0
    p = np.asarray(p_af)[other]
    if modality == "tecg":
        p, _ = record_mean(p, table.record_id.to_numpy()[other])
    return float(np.mean(p < 0.5)), int(p.size)


def record_mean(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` per group, and the group keys, in first-seen order."""
    keys, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    sums = np.bincount(inverse, weights=values)
    counts = np.bincount(inverse)
    order = np.argsort(first)
    return (sums / counts)[order], keys[order]
