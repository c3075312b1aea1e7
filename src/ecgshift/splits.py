"""Deterministic, group-aware splits: no group (patient, or record when patients are unknown) in two splits."""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["SPLITS", "group_split", "fold_split", "group_kfold"]

SPLITS = ("train", "val", "test")


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Largest-remainder allocation of ``n`` groups; every split with a positive fraction gets ≥ 1 when n allows."""
    raw = np.asarray(fractions, float) / sum(fractions) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: n - counts.sum()]:
        counts[i] += 1
    for i in range(len(counts)):  # starved split: take one from the largest
        if counts[i] == 0 and fractions[i] > 0 and n >= len(counts):
            counts[np.argmax(counts)] -= 1
            counts[i] += 1
    return counts.tolist()


def group_split(
    groups: Sequence[str],
    strata: Sequence[str],
    *,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> np.ndarray:
    """Assign 'train' / 'val' / 'test' to each item so that a group never spans two splits.

    Groups are stratified by their stratum (the first item's stratum; e.g. the
    record label, or "has AF" for a patient), shuffled with ``seed`` in a fixed
    order, and allocated in the given fractions per stratum.
    """
    groups = np.asarray([str(g) for g in groups])
    strata = np.asarray([str(s) for s in strata])
    unique, first = np.unique(groups, return_index=True)
    group_stratum = dict(zip(unique, strata[first]))
    rng = np.random.default_rng(seed)
    assignment: dict[str, str] = {}
    for stratum in sorted(set(group_stratum.values())):
        members = np.array(sorted(g for g, s in group_stratum.items() if s == stratum))
        members = members[rng.permutation(members.size)]
        start = 0
        for split, count in zip(SPLITS, _allocate(members.size, fractions)):
            for g in members[start : start + count]:
                assignment[g] = split
            start += count
    return np.array([assignment[g] for g in groups])


def fold_split(folds: Sequence[int], *, val_folds: Sequence[int] = (9,), test_folds: Sequence[int] = (10,)) -> np.ndarray:
    """Split by given folds (PTB-XL's ``strat_fold``: 9 = validation, 10 = test, as its authors recommend)."""
    folds = np.asarray(folds)
    out = np.full(folds.shape, "train", dtype="<U5")
    out[np.isin(folds, val_folds)] = "val"
    out[np.isin(folds, test_folds)] = "test"
    return out


def group_kfold(groups: Sequence[str], strata: Sequence[str], *, k: int, seed: int = 0) -> np.ndarray:
    """Fold index 0..k-1 per item; a group never spans two folds, and each stratum's groups are dealt
    round-robin over the folds in a seeded order (so every fold gets its share of, e.g., AF patients)."""
    if k < 2:
        raise ValueError("k-fold needs k >= 2")
    groups = np.asarray([str(g) for g in groups])
    strata = np.asarray([str(s) for s in strata])
    unique, first = np.unique(groups, return_index=True)
    if unique.size < k:
        raise ValueError(f"{unique.size} groups cannot fill {k} folds")
    group_stratum = dict(zip(unique, strata[first]))
    rng = np.random.default_rng(seed)
    fold: dict[str, int] = {}
    offset = 0
    for stratum in sorted(set(group_stratum.values())):
        members = np.array(sorted(g for g, s in group_stratum.items() if s == stratum))
        for i, g in enumerate(members[rng.permutation(members.size)]):
            fold[g] = (offset + i) % k
        offset += members.size  # the next stratum continues where this one stopped: fold sizes stay even
    return np.array([fold[g] for g in groups])
