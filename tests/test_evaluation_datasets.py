"""The Holter sets added for generalization checks: aftdb and afpdb (waveforms), afdb (RR only).

Expected counts come from the shared data README and each folder's SOURCE.txt; label-file errors are
checked on copies of the real folders with one file broken.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ecgshift.cache import cached_description, prepare
from ecgshift.datasets import (
    AFDB,
    AFPDB,
    AFTDB,
    DATASETS,
    EVALUATION_DATASETS,
    PUBLIC_DATASETS,
    TRAINING_DATASETS,
    find_root,
    load_dataset,
)
from ecgshift.datasets.afpdb import afpdb_pair
from ecgshift.errors import BadInputError
from ecgshift.mixing import MODALITY_DATASETS
from ecgshift.splits import SPLITS
from ecgshift.summary import summarize_datasets

pytestmark = pytest.mark.integration


def link_folder(source: Path, target: Path, *, skip: tuple[str, ...] = ()) -> Path:
    """``target`` holding links to every file of ``source`` except those named in ``skip`` (copied label files can then be broken)."""
    target.mkdir(parents=True)
    for f in source.iterdir():
        if f.name in skip:
            continue
        if f.suffix == ".csv":
            (target / f.name).write_bytes(f.read_bytes())
        else:
            (target / f.name).symlink_to(f)
    return target


def splits_per_group(groups, splits) -> pd.Series:
    return pd.DataFrame({"group": list(groups), "split": list(splits)}).groupby("group").split.nunique()


# --- registry --------------------------------------------------------------------------------------


def test_new_datasets_are_registered_by_exact_name_and_are_evaluation_only() -> None:
    assert {DATASETS[n] for n in ("aftdb", "afpdb", "afdb")} == {AFTDB, AFPDB, AFDB}
    assert {AFTDB.modality, AFPDB.modality, AFDB.modality} == {"hecg"}
    assert AFTDB.has_waveforms and AFPDB.has_waveforms and not AFDB.has_waveforms
    assert set(PUBLIC_DATASETS) == set(TRAINING_DATASETS) | set(EVALUATION_DATASETS)
    # the shipped recipe's pool (mixing) is exactly the training datasets: the new sets never enter it silently
    assert set(MODALITY_DATASETS.values()) == set(TRAINING_DATASETS)
    assert not set(EVALUATION_DATASETS) & set(MODALITY_DATASETS.values())


def test_each_new_dataset_is_found_in_its_own_folder_and_not_in_the_others(shared_data: Path) -> None:
    folders = {"aftdb": "hecg/aftdb", "afpdb": "hecg/afpdb", "afdb": "hecg-rr/afdb"}
    for name, folder in folders.items():
        assert find_root(shared_data, name) == shared_data / folder
        for other, other_folder in folders.items():
            assert DATASETS[name].looks_like(shared_data / other_folder) == (other == name), (name, other)


# --- aftdb -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aftdb(shared_data: Path) -> pd.DataFrame:
    return AFTDB(shared_data / "hecg" / "aftdb").description()


def test_aftdb_description_has_the_readme_counts(aftdb: pd.DataFrame) -> None:
    assert len(aftdb) == 60 and aftdb.record_id.is_unique  # learning set 30 + test set A 30
    assert (aftdb.label == "AF").all() and (aftdb.af_s == aftdb.duration_s).all()
    assert aftdb.af_s.sum() == pytest.approx(60 * 60)  # 60 one-minute records, all AF
    assert set(aftdb.fs) == {128.0} and set(aftdb.n_leads) == {2}
    assert aftdb.subset.value_counts().to_dict() == {"learning-set": 30, "test-set-a": 30}
    learning = aftdb[aftdb.subset == "learning-set"]
    assert learning.termination_group.value_counts().to_dict() == {"n": 10, "s": 10, "t": 10}
    assert learning.record_id.str[0].tolist() == learning.termination_group.tolist()


def test_aftdb_split_follows_the_challenge_subsets(aftdb: pd.DataFrame) -> None:
    assert (splits_per_group(aftdb.group, aftdb.split) == 1).all()
    assert set(aftdb.split[aftdb.subset == "learning-set"]) == {"train"}
    assert set(aftdb.split[aftdb.subset == "test-set-a"]) == {"test"}
    assert aftdb.patient_id.isna().all()  # subjects are not documented


def test_aftdb_prepares_six_af_windows_per_record(shared_data: Path, tmp_path: Path) -> None:
    dataset = AFTDB(shared_data / "hecg" / "aftdb")
    result = prepare(dataset, cache_dir=tmp_path, workers=1)
    table = result.windows.table
    assert result.rejected == [] and result.n_records == 60
    assert table.groupby("record_id").size().eq(6).all()  # 60 s / 10-s windows
    assert set(table.label) == {"AF"} and set(table.modality) == {"hecg"}


# --- afpdb -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def afpdb(shared_data: Path) -> pd.DataFrame:
    return AFPDB(shared_data / "hecg" / "afpdb").description()


def test_afpdb_description_has_the_readme_counts(afpdb: pd.DataFrame) -> None:
    assert len(afpdb) == 100 and afpdb.record_id.is_unique
    assert afpdb.duration_s.sum() / 3600 == pytest.approx(50.0)  # 100 × 30 min
    assert (afpdb.af_s == 0).all() and (afpdb.label == "SR").all()  # no AF by the database's definition
    assert afpdb.group.value_counts().to_dict() == {"n": 50, "p": 50}
    assert set(afpdb.fs) == {128.0} and set(afpdb.n_leads) == {2}
    assert afpdb.rr_irregularity.between(0, 1).all()


def test_afpdb_pairs_are_the_groups_and_stay_together(afpdb: pd.DataFrame) -> None:
    assert afpdb.patient_id.nunique() == 50 and afpdb.groupby("patient_id").size().eq(2).all()
    split = dict(zip(afpdb.record_id, afpdb.split))
    for odd in range(1, 50, 2):
        for prefix in "np":
            first, second = f"{prefix}{odd:02d}", f"{prefix}{odd + 1:02d}"
            assert split[first] == split[second], (first, second)
            assert afpdb_pair(first) == afpdb_pair(second) == f"{first}-{second}"
    assert (splits_per_group(afpdb.patient_id, afpdb.split) == 1).all()
    pairs = afpdb.drop_duplicates("patient_id")
    counts = pd.crosstab(pairs.group, pairs.split)
    assert counts.loc[["n", "p"], list(SPLITS)].to_numpy().min() >= 1  # every split holds pairs of both groups


def test_afpdb_split_does_not_depend_on_the_row_order(shared_data: Path, afpdb: pd.DataFrame) -> None:
    shuffled = afpdb.sample(frac=1.0, random_state=1)
    again = AFPDB(shared_data / "hecg" / "afpdb").splits(shuffled)
    assert dict(zip(shuffled.record_id, again)) == dict(zip(afpdb.record_id, afpdb.split))


# --- afdb (RR only) --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def afdb(shared_data: Path) -> pd.DataFrame:
    return AFDB(shared_data / "hecg-rr" / "afdb").description()


def test_afdb_description_has_the_readme_counts_and_agrees_with_labels_csv(afdb: pd.DataFrame) -> None:
    assert len(afdb) == 25 and (afdb.label == "AF").all()
    assert afdb.duration_s.sum() / 3600 == pytest.approx(254.3, abs=0.05)
    assert afdb.af_s.sum() / 3600 == pytest.approx(95.1, abs=0.05)
    np.testing.assert_allclose(afdb.af_s, afdb.af_s_labels, atol=1e-3)  # .atr summed here vs the collection's labels.csv
    whole = afdb.set_index("record_id")
    for record in ("07162", "07859"):  # AF for the whole record (SOURCE.txt)
        assert whole.af_s[record] / whole.duration_s[record] > 0.999
    assert (afdb.n_beats > 30_000).all()  # ~10 h of .qrs beats each (the .atr holds none)
    assert (splits_per_group(afdb.patient_id, afdb.split) == 1).all()


def test_afdb_record_has_qrs_beats_and_atr_rhythms_but_no_waveform(shared_data: Path, afdb: pd.DataFrame) -> None:
    dataset = AFDB(shared_data / "hecg-rr" / "afdb")
    row = afdb.set_index("record_id", drop=False).loc["04015"]
    record = dataset.read(row)
    assert record.signal.shape[0] == 0  # annotations only
    assert record.beats.sample.size == row.n_beats and set(record.beats.symbol) == {"N"}
    af = sum(r.duration_s for r in record.rhythms if r.label == "AF")
    assert af == pytest.approx(row.af_s, abs=1e-3) and af > 0
    with pytest.raises(BadInputError, match="beat annotations only"):
        prepare(dataset, cache_dir=Path("/nonexistent-unused"))


# --- label files: one-line errors naming the file ----------------------------------------------------


@pytest.mark.parametrize("name, folder", [("aftdb", "hecg/aftdb"), ("afpdb", "hecg/afpdb"), ("afdb", "hecg-rr/afdb")])
def test_missing_labels_csv_is_a_one_line_error_naming_it(name: str, folder: str, shared_data: Path, tmp_path: Path) -> None:
    root = link_folder(shared_data / folder, tmp_path / name, skip=("labels.csv",))
    with pytest.raises(BadInputError) as error:
        DATASETS[name](root).description()
    assert str(error.value) == f"{root / 'labels.csv'}: label file not found"


@pytest.mark.parametrize("edit, problem", [
    (lambda text: text.replace("af_seconds", "af_secs"), "missing columns ['af_seconds'] (found ['record', 'duration_s', 'af_secs'])"),
    (lambda text: text.replace("60.0,60.0", "60.0,sixty", 1), "row 2: af_seconds 'sixty' is not a number >= 0"),
    (lambda text: text + text.splitlines()[1] + "\n", "records listed more than once: ['a01']"),
    (lambda text: text.replace("60.0,60.0", "60.0,90.0", 1), "row 2: af_seconds exceeds duration_s"),
])
def test_malformed_aftdb_labels_csv_is_a_one_line_error_naming_it(edit, problem: str, shared_data: Path, tmp_path: Path) -> None:
    root = link_folder(shared_data / "hecg" / "aftdb", tmp_path / "aftdb")
    labels = root / "labels.csv"
    labels.write_text(edit(labels.read_text()))
    with pytest.raises(BadInputError) as error:
        AFTDB(root).description()
    assert str(error.value) == f"{labels}: {problem}" and "\n" not in str(error.value)


def test_afpdb_label_details_missing_a_record_is_an_error_naming_it(shared_data: Path, tmp_path: Path) -> None:
    root = link_folder(shared_data / "hecg" / "afpdb", tmp_path / "afpdb")
    details = root / "label_details.csv"
    details.write_text("".join(line for line in details.read_text().splitlines(keepends=True) if not line.startswith("p50,")))
    with pytest.raises(BadInputError) as error:
        AFPDB(root).description()
    assert str(error.value) == f"{details}: no row for records ['p50'] of labels.csv"


def data_root_with_a_broken_aftdb(shared_data: Path, root: Path) -> Path:
    """A data root holding two MIT-BIH records (one with AF) and aftdb whose labels.csv is not a CSV of labels."""
    mitdb = root / "hecg" / "mitdb"
    mitdb.mkdir(parents=True)
    for record in ("100", "201"):
        for ext in (".hea", ".dat", ".atr"):
            (mitdb / f"{record}{ext}").symlink_to(shared_data / "hecg" / "mitdb" / f"{record}{ext}")
    aftdb = link_folder(shared_data / "hecg" / "aftdb", root / "hecg" / "aftdb")
    (aftdb / "labels.csv").write_text("this is not\na label file\n")
    return root


def test_summary_lists_the_other_datasets_and_names_the_broken_label_file(shared_data: Path, tmp_path: Path) -> None:
    root = data_root_with_a_broken_aftdb(shared_data, tmp_path / "data")
    datasets = [load_dataset(name, data_root=root) for name in ("mitdb", "aftdb")]
    summaries, failures = summarize_datasets(datasets, cache_dir=tmp_path / "cache")

    assert [(s.dataset, s.records, s.label_records["AF"]) for s in summaries] == [("mitdb", 2, 1)]
    assert [f.dataset for f in failures] == ["aftdb"]
    labels = root / "hecg" / "aftdb" / "labels.csv"
    assert failures[0].error == f"{labels}: missing columns ['record', 'duration_s', 'af_seconds'] (found ['this is not'])"


def test_data_summary_command_lists_the_other_datasets_beside_a_broken_one(shared_data: Path, tmp_path: Path) -> None:
    from ecgshift.cli import app

    root = data_root_with_a_broken_aftdb(shared_data, tmp_path / "data")
    result = CliRunner().invoke(app, ["data", "summary", "--data-root", str(root), "-d", "mitdb", "-d", "aftdb",
                                      "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1 and "mitdb" in result.stdout and "labels.csv" in result.stdout  # 1: one dataset failed


def test_description_cache_serves_the_new_datasets_with_their_splits(shared_data: Path, tmp_path: Path) -> None:
    for cls, folder in ((AFTDB, "hecg/aftdb"), (AFPDB, "hecg/afpdb")):
        first = cached_description(cls(shared_data / folder), cache_dir=tmp_path)
        second = cached_description(cls(shared_data / folder), cache_dir=tmp_path)
        for column in ("record_id", "patient_id", "split", "label"):
            assert first[column].fillna("").astype(str).tolist() == second[column].fillna("").astype(str).tolist(), column
        assert len(list(tmp_path.glob(f"{cls.name}-desc-*"))) == 1
