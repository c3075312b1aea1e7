"""Group-aware splits (synthetic and on the real datasets) and the prepared-window cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgshift.cache import dataset_key, prepare
from ecgshift.datasets import CinC2017, Folder, MITDB, PTBXL
from ecgshift.datasets.cinc2017 import CINC_LABELS
from ecgshift.preprocess import HarmonizeConfig
from ecgshift.splits import SPLITS, fold_split, group_kfold, group_split

try:  # a property test with shrinking when hypothesis is installed; the seeded loop below runs always
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None


def random_groups(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Items of random size in random groups; a group's items share its stratum (e.g. a patient's label)."""
    n_groups = int(rng.integers(1, 60))
    stratum_of = {f"g{i}": str(rng.choice(["AF", "SR", "other", "noisy"])) for i in range(n_groups)}
    groups = [g for g in stratum_of for _ in range(int(rng.integers(1, 5)))]
    order = rng.permutation(len(groups))
    groups = [groups[i] for i in order]
    return groups, [stratum_of[g] for g in groups]


def splits_of_each_group(groups, assignment) -> pd.Series:
    return pd.DataFrame({"group": groups, "split": assignment}).groupby("group").split.nunique()


# --- synthetic -------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_split_and_another_seed_a_different_one() -> None:
    groups = [f"patient{i // 2}" for i in range(200)]
    strata = ["AF" if i % 7 == 0 else "SR" for i in range(200)]
    first = group_split(groups, strata, seed=3)
    assert np.array_equal(first, group_split(groups, strata, seed=3))
    assert not np.array_equal(first, group_split(groups, strata, seed=4))


def test_split_follows_the_group_not_the_item_order() -> None:
    groups = [f"p{i % 40}" for i in range(120)]
    strata = ["AF" if i % 40 < 10 else "SR" for i in range(120)]
    forward = dict(zip(groups, group_split(groups, strata, seed=0)))
    backward = dict(zip(groups[::-1], group_split(groups[::-1], strata[::-1], seed=0)))
    assert forward == backward


def test_no_group_is_in_two_splits_for_many_random_groupings() -> None:
    rng = np.random.default_rng(20240601)
    for _ in range(300):
        groups, strata = random_groups(rng)
        assignment = group_split(groups, strata, seed=int(rng.integers(1000)))
        assert set(assignment) <= set(SPLITS)
        assert (splits_of_each_group(groups, assignment) == 1).all()


if given is not None:

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["AF", "SR", "other"])), min_size=1, max_size=150), st.integers(0, 2**16))
    def test_no_group_is_in_two_splits_property(items, seed) -> None:
        stratum = {}
        groups = [str(g) for g, _ in items]
        strata = [stratum.setdefault(str(g), s) for g, s in items]  # a group has one stratum
        assert (splits_of_each_group(groups, group_split(groups, strata, seed=seed)) == 1).all()


def test_every_label_with_at_least_three_groups_is_in_every_split() -> None:
    rng = np.random.default_rng(7)
    for _ in range(100):
        groups, strata = random_groups(rng)
        assignment = group_split(groups, strata, seed=int(rng.integers(1000)))
        table = pd.DataFrame({"group": groups, "stratum": strata, "split": assignment})
        for stratum, part in table.groupby("stratum"):
            if part.group.nunique() >= 3:
                assert set(part.split) == set(SPLITS), stratum


def test_each_stratum_is_split_in_the_given_fractions() -> None:
    groups = [f"g{i}" for i in range(1000)]
    strata = ["AF"] * 100 + ["SR"] * 900
    table = pd.DataFrame({"stratum": strata, "split": group_split(groups, strata, fractions=(0.6, 0.2, 0.2), seed=1)})
    counts = table.groupby(["stratum", "split"]).size()
    assert counts["AF"].to_dict() == {"train": 60, "val": 20, "test": 20}
    assert counts["SR"].to_dict() == {"train": 540, "val": 180, "test": 180}


def test_fold_split_puts_fold_9_in_val_and_fold_10_in_test() -> None:
    assert fold_split([1, 8, 9, 10, 3]).tolist() == ["train", "train", "val", "test", "train"]


# --- real datasets ---------------------------------------------------------------------------------


@pytest.mark.integration
def test_no_ptbxl_patient_is_in_two_splits_and_folds_9_10_are_val_test(shared_data: Path) -> None:
    description = PTBXL(shared_data / "recg" / "ptbxl").description()
    assert len(description) == 861 and description.patient_id.nunique() == 802  # README
    assert (splits_of_each_group(description.patient_id, description.split) == 1).all()
    assert set(description.split[description.strat_fold == 9]) == {"val"}
    assert set(description.split[description.strat_fold == 10]) == {"test"}
    for split in SPLITS:
        assert (description.label[description.split == split] == "AF").any()


@pytest.mark.integration
def test_no_mitdb_patient_is_in_two_splits_and_201_202_stay_together(shared_data: Path) -> None:
    description = MITDB(shared_data / "hecg" / "mitdb").description()
    split = dict(zip(description.record_id, description.split))

    assert len(description) == 48
    assert split["201"] == split["202"]
    assert (splits_of_each_group(description.patient_id, description.split) == 1).all()
    af_records = {"201", "202", "203", "210", "217", "219", "221", "222"}  # README
    assert set(description.record_id[description.label == "AF"]) == af_records
    af_patients = description[description.label == "AF"].groupby("split").patient_id.nunique()
    assert af_patients.get("test", 0) >= 2 and af_patients.get("val", 0) >= 1 and af_patients.get("train", 0) >= 1


@pytest.mark.integration
def test_cinc2017_splits_are_by_record_and_every_split_has_all_four_labels(shared_data: Path) -> None:
    dataset = CinC2017(shared_data / "tecg" / "cinc2017")
    table = dataset.references()  # the label file alone: describe() would also read 8,148 headers
    description = pd.DataFrame({"record_id": table.record_id, "label": table.raw_label.map(CINC_LABELS)})
    split = dataset.splits(description)

    assert description.record_id.is_unique and len(description) == 8148  # README
    shuffled = description.sample(frac=1.0, random_state=0)
    assert dict(zip(shuffled.record_id, dataset.splits(shuffled))) == dict(zip(description.record_id, split))
    counts = pd.crosstab(description.label, split)
    assert counts.loc[["AF", "SR", "other", "noisy"], ["train", "val", "test"]].to_numpy().min() > 0
    assert counts.loc["AF"].to_dict() == pytest.approx({"train": 0.7 * 608, "val": 0.15 * 608, "test": 0.15 * 608}, abs=1)


# --- cache -----------------------------------------------------------------------------------------


def window_counts(result) -> dict[str, int]:
    return result.windows.table.groupby("record_id").size().to_dict()


@pytest.mark.integration
def test_second_prepare_loads_identical_windows_from_the_cache(real_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = prepare(Folder(real_folder), cache_dir=cache, workers=1)
    second = prepare(Folder(real_folder), cache_dir=cache, workers=1)

    assert first.built and not second.built and second.path == first.path
    assert first.n_records == second.n_records == 6 and first.rejected == second.rejected == []
    assert np.array_equal(np.asarray(second.windows.x), first.windows.x)
    pd.testing.assert_frame_equal(second.windows.table, first.windows.table, check_dtype=False)
    assert second.windows.config == first.windows.config


@pytest.mark.integration
def test_editing_a_label_in_the_manifest_changes_the_key_and_rebuilds(real_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = prepare(Folder(real_folder), cache_dir=cache, workers=1)
    key = dataset_key(Folder(real_folder))
    manifest = real_folder / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("tecg/A00008.hea,tecg,other", "tecg/A00008.hea,tecg,noisy"))

    after = prepare(Folder(real_folder), cache_dir=cache, workers=1)
    assert dataset_key(Folder(real_folder)) != key
    assert after.built and after.path != before.path
    labels = after.windows.table.groupby("record_id").label.unique()
    assert labels["tecg/A00008"].tolist() == ["noisy"]


@pytest.mark.integration
def test_changing_a_record_s_samples_rebuilds_but_touching_its_mtime_does_not(real_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = prepare(Folder(real_folder), cache_dir=cache, workers=1)
    dat = real_folder / "recg" / "00001_lr.dat"

    os.utime(dat, (1e9, 1e9))  # a new mtime, the same bytes
    assert not prepare(Folder(real_folder), cache_dir=cache, workers=1).built

    data = bytearray(dat.read_bytes())
    data[2400:4800] = bytes(2400)  # 0.5 s of all 12 leads set to 0 (format 16: still a valid record)
    dat.write_bytes(bytes(data))
    after = prepare(Folder(real_folder), cache_dir=cache, workers=1)
    assert after.built and after.path != before.path
    changed = after.windows.table.record_id.to_numpy() == "recg/00001_lr"
    same = before.windows.table.record_id.to_numpy() == "recg/00001_lr"
    assert not np.allclose(np.asarray(after.windows.x)[changed], before.windows.x[same])
    assert np.array_equal(np.asarray(after.windows.x)[~changed], before.windows.x[~same])


@pytest.mark.integration
def test_a_different_harmonize_config_gets_its_own_cache_entry(real_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    default = prepare(Folder(real_folder), cache_dir=cache, workers=1)
    short = prepare(Folder(real_folder), config=HarmonizeConfig(window_s=5.0), cache_dir=cache, workers=1)

    assert short.built and short.path != default.path
    assert short.windows.x.shape[-1] == 500 and default.windows.x.shape[-1] == 1000
    assert len(short.windows) > len(default.windows)
    assert not prepare(Folder(real_folder), cache_dir=cache, workers=1).built  # the first entry is still there


@pytest.mark.integration
def test_corrupt_record_is_rejected_with_its_reason_while_the_others_prepare(
    real_folder: Path, tmp_path: Path, shared_data: Path, copy_record
) -> None:
    broken = copy_record(shared_data / "formats" / "mitdb" / "201.hea", real_folder / "broken")
    dat = broken.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:1000])
    with open(real_folder / "manifest.csv", "a") as manifest:
        manifest.write("broken/201.hea,hecg,,\n")

    result = prepare(Folder(real_folder), cache_dir=tmp_path / "cache", workers=1)

    assert result.n_records == 7
    assert len(result.rejected) == 1
    rejection = result.rejected[0]
    assert Path(rejection.path) == real_folder / "broken" / "201.hea"
    assert "201.dat" in rejection.reason and "truncated" in rejection.reason and "\n" not in rejection.reason
    prepared = set(result.windows.table.record_id)
    assert len(prepared) + len(result.rejected) == result.n_records  # nothing silently dropped
    assert "broken/201" not in prepared and len(prepared) == 6


def test_group_kfold_keeps_groups_whole_and_deals_each_stratum_over_the_folds():
    groups = [f"p{i // 2}" for i in range(40)]  # 20 patients with 2 records each
    strata = ["AF" if i < 14 else "SR" for i in range(40)]  # 7 AF patients
    folds = group_kfold(groups, strata, k=5, seed=1)
    assert np.array_equal(folds, group_kfold(groups, strata, k=5, seed=1))
    for g in set(groups):
        assert len({folds[i] for i in range(40) if groups[i] == g}) == 1
    af_per_fold = np.bincount([folds[i] for i in range(0, 14, 2)], minlength=5)
    assert af_per_fold.min() >= 1 and af_per_fold.max() <= 2
    assert np.bincount(folds[::2], minlength=5).tolist() == [4, 4, 4, 4, 4]


def test_group_kfold_rejects_more_folds_than_groups():
    with pytest.raises(ValueError, match="3 groups cannot fill 5 folds"):
        group_kfold(["a", "b", "c"], ["x", "x", "x"], k=5)


def _same_name_in_40_subfolders(shared_data: Path, root: Path) -> Path:
    """40 CinC 2017 records saved as ``s00/rec.hea … s39/rec.hea`` (format 16), labels from REFERENCE-v3.csv."""
    wfdb = pytest.importorskip("wfdb")
    source = shared_data / "tecg" / "cinc2017"
    reference = pd.read_csv(source / "REFERENCE-v3.csv", header=None, names=["record", "code"])
    rows = ["path,modality,label"]
    for i, (name, code) in enumerate(reference.sort_values("record").head(40).itertuples(index=False)):
        folder = root / f"s{i:02d}"
        folder.mkdir(parents=True)
        rec = wfdb.rdrecord(str(source / name))
        wfdb.wrsamp("rec", fs=rec.fs, units=rec.units, sig_name=rec.sig_name, p_signal=rec.p_signal, fmt=["16"], write_dir=str(folder))
        rows.append(f"s{i:02d}/rec.hea,tecg,{CINC_LABELS[code]}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.integration
def test_records_with_one_file_name_in_40_subfolders_keep_their_splits_on_a_cache_hit(shared_data: Path, tmp_path: Path) -> None:
    root = _same_name_in_40_subfolders(shared_data, tmp_path / "folder")
    cache = tmp_path / "cache"

    first = prepare(Folder(root), cache_dir=cache, workers=1)
    second = prepare(Folder(root), cache_dir=cache, workers=1)

    assert first.built and not second.built
    counts = first.windows.table.split.value_counts().to_dict()
    assert set(counts) == {"train", "val", "test"}
    assert second.windows.table.split.value_counts().to_dict() == counts
    assert first.windows.table.record_id.nunique() == 40  # one id per recording: its path in the folder
    assert sorted(first.windows.table.record_id.unique())[:2] == ["s00/rec", "s01/rec"]
    pd.testing.assert_frame_equal(second.windows.table, first.windows.table, check_dtype=False)
