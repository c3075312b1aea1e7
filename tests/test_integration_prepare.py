"""Prepare windows of all three waveform modalities from the shared data with the real dataset classes.

To stay near a minute cold on two cores, CinC 2017 and MIT-BIH are prepared from
subset folders (links to 300 CinC records with their REFERENCE-v3.csv rows,
75 per label, and to 6 MIT-BIH records including the AF records 201 and 203);
PTB-XL is prepared whole. Expected counts come from the README and the headers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgshift import io
from ecgshift.cache import PrepareResult, prepare
from ecgshift.datasets import MITDB, PTBXL, CinC2017
from ecgshift.datasets.cinc2017 import CINC_LABELS
from ecgshift.preprocess import HarmonizeConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = HarmonizeConfig()
CINC_PER_LABEL = 75
MITDB_RECORDS = ("100", "102", "201", "203", "219", "232")
MITDB_AF = {"201", "203", "219"}  # README: AF in 201, 202, 203, 210, 217, 219, 221, 222


def link(src: Path, dst: Path) -> None:
    try:
        dst.symlink_to(src)
    except OSError:  # no symlinks here: copy
        dst.write_bytes(src.read_bytes())


@pytest.fixture(scope="module")
def cinc_subset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = shared_data / "tecg" / "cinc2017"
    root = tmp_path_factory.mktemp("cinc2017")
    reference = pd.read_csv(source / "REFERENCE-v3.csv", header=None, names=["record", "label"], dtype=str)
    subset = reference.groupby("label", sort=True).head(CINC_PER_LABEL)
    subset.to_csv(root / "REFERENCE-v3.csv", header=False, index=False)
    for record in subset.record:
        for ext in (".hea", ".dat"):
            link(source / f"{record}{ext}", root / f"{record}{ext}")
    return root


@pytest.fixture(scope="module")
def mitdb_subset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mitdb")
    for record in MITDB_RECORDS:
        for ext in (".hea", ".dat", ".atr"):
            link(shared_data / "hecg" / "mitdb" / f"{record}{ext}", root / f"{record}{ext}")
    return root


@pytest.fixture(scope="module")
def prepared(cinc_subset: Path, mitdb_subset: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, PrepareResult]:
    cache = tmp_path_factory.mktemp("cache")
    datasets = {
        "cinc2017": CinC2017(cinc_subset),
        "ptbxl": PTBXL(shared_data / "recg" / "ptbxl"),
        "mitdb": MITDB(mitdb_subset),
    }
    return {name: prepare(ds, config=CONFIG, cache_dir=cache, workers=os.cpu_count()) for name, ds in datasets.items()}


def assert_nothing_dropped(result: PrepareResult) -> None:
    assert result.built
    assert result.windows.table.record_id.nunique() + len(result.rejected) == result.n_records
    assert all(r.reason and "\n" not in r.reason for r in result.rejected)


def assert_windows_are_normalized(x: np.ndarray, n_valid: np.ndarray | None = None) -> None:
    """Every window finite with mean 0 and std 1 over its signal part (a zero-padded tail excluded)."""
    x = np.asarray(x)[:, 0, :].astype(np.float64)
    assert np.isfinite(x).all()
    n_valid = np.full(len(x), x.shape[1]) if n_valid is None else n_valid
    for window, n in zip(x, n_valid):
        assert abs(window[:n].mean()) < 1e-3 and abs(window[:n].std() - 1.0) < 1e-3
        assert np.all(window[n:] == 0.0)


def test_ptbxl_gives_one_window_per_record_with_the_readme_labels(prepared) -> None:
    result = prepared["ptbxl"]
    assert_nothing_dropped(result)
    table = result.windows.table
    assert result.n_records == 861 and result.rejected == []
    assert len(table) == 861 and table.record_id.is_unique
    assert table.label.value_counts().to_dict() == {"SR": 574, "other": 187, "AF": 100}  # README
    assert set(table.modality) == {"recg"}
    assert (table.groupby("patient_id").split.nunique() == 1).all()
    assert result.windows.x.shape == (861, 1, 1000)
    assert_windows_are_normalized(result.windows.x)


def test_mitdb_gives_180_windows_per_record_and_af_windows_only_in_af_records(prepared, mitdb_subset: Path) -> None:
    result = prepared["mitdb"]
    assert_nothing_dropped(result)
    table = result.windows.table
    assert result.rejected == [] and set(table.modality) == {"hecg"}
    durations = {r: io.info(mitdb_subset / f"{r}.hea").duration_s for r in MITDB_RECORDS}
    assert table.groupby("record_id").size().to_dict() == {r: int(d // CONFIG.window_s) for r, d in durations.items()}

    af_windows = table[table.label == "AF"].groupby("record_id").size()
    assert set(af_windows.index) == MITDB_AF
    description = MITDB(mitdb_subset).describe().set_index("record_id")
    for record, n in af_windows.items():  # an AF window holds at least 9 s of annotated AF
        assert n * CONFIG.af_threshold * CONFIG.window_s <= description.af_s[record] + 1e-6
    assert table.af_fraction.between(0, 1).all()
    assert (table.af_fraction[table.label == "AF"] >= CONFIG.af_threshold).all()
    assert_windows_are_normalized(result.windows.x)


def test_cinc2017_windows_follow_the_record_lengths_and_reference_labels(prepared, cinc_subset: Path) -> None:
    result = prepared["cinc2017"]
    assert_nothing_dropped(result)
    table = result.windows.table
    assert result.n_records == 4 * CINC_PER_LABEL and set(table.modality) == {"tecg"}

    reference = pd.read_csv(cinc_subset / "REFERENCE-v3.csv", header=None, names=["record", "label"], dtype=str)
    expected_label = dict(zip(reference.record, reference.label.map(CINC_LABELS)))
    assert (table.label == table.record_id.map(expected_label)).all()

    headers = {r: io.info(cinc_subset / f"{r}.hea") for r in table.record_id.unique()}
    expected = {r: int(h.duration_s // CONFIG.window_s) if h.duration_s >= CONFIG.window_s else 1 for r, h in headers.items()}
    assert table.groupby("record_id").size().to_dict() == expected
    for split in ("train", "val", "test"):
        assert set(table.label[table.split == split]) == {"AF", "SR", "other", "noisy"}

    resampled = {r: int(np.ceil(h.n_samples * CONFIG.fs / h.fs)) for r, h in headers.items()}  # 300 → 100 Hz
    n_valid = np.array([min(resampled[r], CONFIG.window_samples) for r in table.record_id])
    assert (n_valid < CONFIG.window_samples).any()  # the subset holds records shorter than one window
    assert_windows_are_normalized(result.windows.x, n_valid)


def test_prepared_windows_of_the_three_modalities_concatenate_into_one_training_table(prepared) -> None:
    from ecgshift.cache import WindowSet

    combined = WindowSet.concat([prepared[name].windows for name in ("cinc2017", "ptbxl", "mitdb")])
    assert len(combined) == sum(len(prepared[name].windows) for name in prepared)
    assert set(combined.table.modality) == {"tecg", "recg", "hecg"}
    assert combined.x.shape[1:] == (1, CONFIG.window_samples) and combined.x.dtype == np.float32
