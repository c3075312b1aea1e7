"""Draw a training set with a given modality mix at a fixed budget of windows.

A mix gives each modality a share of the budget (``tecg=0.6,recg=0.2,hecg=0.2``);
within a modality the draw is class-balanced (half AF, half SR). Where a
modality-class pool holds fewer windows than its share asks for, every window
is taken once and the rest is drawn **with replacement** (the training loop
augments every draw, so repeats are not identical); the real counts are
recorded in :class:`MixDraw` so a results table can say how often that happened.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift.cache import WindowSet, prepare
from ecgshift.datasets import load_dataset
from ecgshift.preprocess import HarmonizeConfig

__all__ = ["MODALITY_DATASETS", "CLASSES", "parse_mix", "format_mix", "DrawCount", "MixDraw", "draw_mix", "load_modality_windows",
           "load_folder_windows", "folder_mix"]

#: The public dataset standing for each modality.
MODALITY_DATASETS = {"tecg": "cinc2017", "recg": "ptbxl", "hecg": "mitdb"}
#: Classifier outputs, in order: index 0 = SR, index 1 = AF.
CLASSES = ("SR", "AF")


def parse_mix(text: str | dict) -> dict[str, float]:
    """``"tecg=0.6,recg=0.2,hecg=0.2"`` → shares summing to 1 (given as weights; zero shares kept)."""
    if isinstance(text, dict):
        items = list(text.items())
    else:
        items = []
        for part in str(text).split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ValueError(f"mix entry {part!r} is not modality=share")
            key, value = part.split("=", 1)
            try:
                items.append((key.strip(), float(value)))
            except ValueError:
                raise ValueError(f"mix share {value.strip()!r} of {key.strip()} is not a number") from None
    if not items:
        raise ValueError("mix is empty: give modality=share entries, e.g. tecg=0.6,recg=0.2,hecg=0.2")
    mix = {}
    for key, value in items:
        if key not in MODALITY_DATASETS:
            raise ValueError(f"unknown modality {key!r} in mix; known: {', '.join(MODALITY_DATASETS)}")
        if not np.isfinite(value):
            raise ValueError(f"mix share of {key} is not a finite number")
        if value < 0:
            raise ValueError(f"mix share of {key} is negative")
        mix[key] = float(value)
    total = sum(mix.values())
    if total <= 0:
        raise ValueError("mix shares sum to zero")
    return {key: value / total for key, value in mix.items()}


def format_mix(mix: dict[str, float]) -> str:
    return ",".join(f"{k}={v:.3g}" for k, v in mix.items())


@dataclass(frozen=True)
class DrawCount:
    """How one modality-class pool was drawn from."""

    modality: str
    label: str
    requested: int
    available: int
    drawn_unique: int
    with_replacement: bool


@dataclass(frozen=True, eq=False)
class MixDraw:
    """Indices drawn per modality (into that modality's pool) and the counts behind them."""

    indices: dict[str, np.ndarray]
    counts: list[DrawCount]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(c) for c in self.counts])


def _allocate(budget: int, mix: dict[str, float]) -> dict[str, int]:
    """Whole window counts per modality proportional to ``mix`` and summing to ``budget`` (largest remainder)."""
    total = sum(mix.values())
    exact = {k: budget * v / total for k, v in mix.items()} if total > 0 else {k: 0.0 for k in mix}
    counts = {k: int(np.floor(v)) for k, v in exact.items()}
    short = budget - sum(counts.values()) if total > 0 else 0
    for key in sorted(exact, key=lambda k: counts[k] - exact[k])[:short]:  # largest remainders first (stable)
        counts[key] += 1
    return counts


def draw_mix(
    labels: dict[str, np.ndarray], mix: dict[str, float], *, budget: int, seed: int, class_shares: dict[str, float] | None = None
) -> MixDraw:
    """Class-balanced draw of ``budget`` windows split by ``mix`` from per-modality label arrays.

    Within a modality, windows are drawn by ``class_shares`` (default: half AF, half SR). A share
    for 'other' adds non-AF rhythms (ectopy, other arrhythmias) to the negative class; a modality
    without 'other' windows gives that share to SR. Shares are turned into whole numbers of windows
    by largest remainder, so they sum to ``budget``.
    """
    class_shares = class_shares or {"SR": 0.5, "AF": 0.5}
    per_modality = _allocate(budget, mix)
    rng = np.random.default_rng(seed)
    indices, counts = {}, []
    for modality, share in mix.items():
        n_modality = per_modality[modality]
        shares = dict(class_shares)
        if shares.get("other", 0) > 0 and not np.any(labels[modality] == "other"):
            shares["SR"] = shares.get("SR", 0) + shares.pop("other")
        per_class = _allocate(n_modality, {k: v for k, v in shares.items() if v > 0})
        chosen = []
        for label, need in per_class.items():
            pool = np.flatnonzero(labels[modality] == label)
            if need == 0:
                continue
            if pool.size == 0:
                raise ValueError(f"no {label} windows for {modality} in this split: the mix cannot be drawn")
            if pool.size >= need:
                take = rng.choice(pool, size=need, replace=False)
            else:
                take = np.concatenate([pool, rng.choice(pool, size=need - pool.size, replace=True)])
            chosen.append(take)
            counts.append(DrawCount(modality, label, need, int(pool.size), int(np.unique(take).size), bool(pool.size < need)))
        indices[modality] = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=int)
    return MixDraw(indices=indices, counts=counts)


def load_modality_windows(
    *, data_root: str | Path | None, cache_dir: str | Path, config: HarmonizeConfig = HarmonizeConfig(), modalities=tuple(MODALITY_DATASETS), on_record=None,
    labels: tuple[str, ...] = CLASSES,
) -> dict[str, WindowSet]:
    """Windows with the given labels (default AF and SR) of each modality's public dataset (from the cache), all splits.

    'other' windows of annotated records keep only those with no AF at all (a window straddling an
    AF onset is neither a clean positive nor a clean negative)."""
    out = {}
    for modality in modalities:
        dataset = load_dataset(MODALITY_DATASETS[modality], data_root=data_root)
        result = prepare(dataset, config=config, cache_dir=cache_dir, on_record=on_record)
        out[modality] = _labelled(result.windows, labels)
    return out


def _labelled(windows: WindowSet, labels: tuple[str, ...]) -> WindowSet:
    """The windows with one of ``labels``; 'other' only without any AF (see :func:`load_modality_windows`)."""
    table = windows.table
    keep = (table.label.isin(labels) & ~((table.label == "other") & (table.af_fraction.fillna(0) > 0))).to_numpy()
    subset = windows.subset(keep)
    return WindowSet(x=np.ascontiguousarray(subset.x), table=subset.table, config=subset.config)


def load_folder_windows(
    folder: str | Path, *, cache_dir: str | Path, config: HarmonizeConfig = HarmonizeConfig(), labels: tuple[str, ...] = CLASSES,
    on_record=None,
) -> dict[str, WindowSet]:
    """Windows with the given labels of a user's folder (:class:`ecgshift.datasets.Folder`: recordings + manifest.csv),
    prepared into the cache and grouped by the manifest's modality, with the folder's own splits (70/15/15 by patient):
    training data for fine-tuning (``ecgshift train --folder``). Rows of modality ``unknown`` cannot train a network
    that knows three modalities and are left out; rows the folder rejects are left out as ``prepare`` says."""
    from ecgshift.datasets import Folder

    result = prepare(Folder(folder), config=config, cache_dir=cache_dir, on_record=on_record)
    windows = _labelled(result.windows, labels)
    modalities = windows.table.modality.to_numpy()
    return {m: windows.subset(modalities == m) for m in MODALITY_DATASETS if np.any(modalities == m)}


def folder_mix(sets: dict[str, WindowSet]) -> dict[str, float]:
    """A folder's own mix: each modality's share of the training windows (split ``train``) that are AF or SR."""
    counts = {m: int((s.table.split.isin(["train"]) & s.table.label.isin(CLASSES)).sum()) for m, s in sets.items()}
    counts = {m: c for m, c in counts.items() if c > 0}
    if not counts:
        raise ValueError("no AF or SR training windows: the manifest needs labelled recordings (AF, SR) of recg, tecg or hecg")
    return parse_mix(counts)
