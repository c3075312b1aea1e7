"""Counts per dataset and modality: what ``ecgshift data summary`` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from ecgshift.errors import BadInputError
from ecgshift.preprocess import HarmonizeConfig
from ecgshift.record import LABELS

__all__ = ["DatasetSummary", "SummaryFailure", "summarize", "summarize_datasets", "expected_windows"]


@dataclass(frozen=True)
class DatasetSummary:
    """One dataset's counts. ``label_records`` counts records by label; ``label_windows`` windows by label
    (only when windows were prepared); annotated datasets also give hours per rhythm label."""

    dataset: str
    modality: str
    records: int
    patients: int | None
    windows: int | None
    hours: float
    label_records: dict[str, int]
    label_windows: dict[str, int] | None = None
    rhythm_hours: dict[str, float] = field(default_factory=dict)
    af_episodes: int | None = None
    rejected: int | None = None


def expected_windows(duration_s: np.ndarray, config: HarmonizeConfig) -> np.ndarray:
    """Windows per record by the windowing rule (shorter than ``min_s`` → 0; shorter than a window → 1)."""
    samples = np.ceil(np.nan_to_num(np.asarray(duration_s, float), nan=0.0) * config.fs - 1e-6)  # after resampling
    window, step = config.window_samples, round(config.stride * config.fs)
    full = np.floor((samples - window) / step) + 1
    out = np.where(samples >= window, full, 0)
    return np.where((samples >= round(config.min_s * config.fs)) & (samples < window), 1, out).astype(int)


def summarize(
    name: str,
    description: pd.DataFrame,
    *,
    config: HarmonizeConfig,
    has_waveforms: bool,
    window_table: pd.DataFrame | None = None,
    rejected: int | None = None,
) -> DatasetSummary:
    """Counts of one dataset from its description (and its prepared window table, when given)."""
    patients = description.patient_id.dropna()
    patients = patients[patients.astype(str) != ""]
    labels = description.label.fillna("")
    rhythm_hours = {}
    if "af_s" in description:
        rhythm_hours = {"AF": description.af_s.sum() / 3600, "SR": description.sr_s.sum() / 3600, "other": description.other_s.sum() / 3600}
    if window_table is not None:
        windows = len(window_table)
        label_windows = {label: int((window_table.label == label).sum()) for label in LABELS}
    else:
        windows = int(expected_windows(description.duration_s, config).sum()) if has_waveforms else None
        label_windows = None
    return DatasetSummary(
        dataset=name,
        modality=str(description.modality.iloc[0]) if len(description) else "unknown",
        records=len(description),
        patients=int(patients.nunique()) if len(patients) else None,
        windows=windows,
        hours=float(np.nansum(description.duration_s)) / 3600,
        label_records={label: int((labels == label).sum()) for label in LABELS},
        label_windows=label_windows,
        rhythm_hours=rhythm_hours,
        af_episodes=int(description.af_episodes.sum()) if "af_episodes" in description else None,
        rejected=rejected,
    )


@dataclass(frozen=True)
class SummaryFailure:
    """A dataset that could not be summarized, and why (one line naming the file)."""

    dataset: str
    error: str


def summarize_datasets(
    datasets: Iterable,
    *,
    cache_dir: str | Path,
    config: HarmonizeConfig = HarmonizeConfig(),
    windows: bool = False,
    on_record: Callable[[str, int, int], None] | None = None,
) -> tuple[list[DatasetSummary], list[SummaryFailure]]:
    """Summaries of every dataset that can be described (one per dataset and modality), and a
    :class:`SummaryFailure` for each that cannot (e.g. a missing or malformed label file): one broken
    dataset folder does not hide the others. With ``windows``, waveform datasets are prepared (and cached)
    so that windows are counted by label; ``on_record(dataset, i, n)`` reports that progress."""
    from ecgshift.cache import cached_description, prepare

    summaries, failures = [], []
    for dataset in datasets:
        try:
            description = cached_description(dataset, cache_dir=Path(cache_dir))
            window_table, rejected = None, None
            if windows and dataset.has_waveforms:
                progress = (lambda i, n, name=dataset.name: on_record(name, i, n)) if on_record else None
                result = prepare(dataset, config=config, cache_dir=Path(cache_dir), on_record=progress)
                window_table, rejected = result.windows.table, len(result.rejected)
        except BadInputError as exc:
            failures.append(SummaryFailure(dataset.name, str(exc)))
            continue
        for modality, part in description.groupby("modality", sort=False):  # a user folder may mix modalities
            windows_part = None if window_table is None else window_table[window_table.modality == modality]
            summaries.append(summarize(dataset.name, part, config=config, has_waveforms=dataset.has_waveforms,
                                       window_table=windows_part, rejected=rejected))
    return summaries, failures
